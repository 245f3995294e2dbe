"""Incidents: a failing script or decision keeps the user's work, shows the RMA in `incident`, and waits for
an operator to retry it (after a fix) or cancel the RMA. Nothing is lost, doubled or skipped; on each backend."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import Actor
from engine.errors import NotAllowed, RmaNotFound
from engine.process.definitions import read_bundle_dir
from engine.services import operations, processes, rmas, tasks
from engine.services.scheduler import fire_due_timers
from engine.store.audit import verify_chain
from engine.store.model import HumanTask, Incident, Instance, utcnow
from tests.conftest import PROCESSES_DIR
from tests.driver import complete_open_task, only_task
from tests.helpers import INTAKE, actor, rma_payload

QUOTE = "round(parts_cost + labour_hours * labour_rate, 2)"
APPROVAL = "stages/rma_approval.bpmn"
DIAGNOSIS = {"diagnosis": "Sensor dead", "fault_category": "sensor", "parts_cost": 10, "labour_hours": 1}


def _deploy(orc, **replacements) -> None:
    files = read_bundle_dir(PROCESSES_DIR)
    for name, (old, new) in replacements.items():
        assert old in files[name]
        files[name] = files[name].replace(old, new)
    processes.deploy_bundle(orc, Actor("owner", "process_owner"), files, note="test")


def _at_diagnosis(orc, months_old=40, centre="SG"):
    rma = rmas.open_rma(
        orc, actor(orc, f"{centre.lower()}.reception"), rma_payload(months_old=months_old, centre=centre)
    )
    complete_open_task(orc, f"{centre.lower()}.reception", rma["id"], data=INTAKE)
    return rma


def _broken_quote_incident(orc):
    _deploy(orc, **{APPROVAL: (QUOTE, "round(parts_cost / 0, 2)")})
    rma = _at_diagnosis(orc)
    result = complete_open_task(orc, "sg.tech", rma["id"], data=DIAGNOSIS)
    return rma, result


def _kinds(orc, rma_id):
    return [e["kind"] for e in rmas.get_rma(orc, actor(orc, "manager"), rma_id)["history"]]


def test_failing_script_saves_the_completion_and_opens_an_incident_with_task_error_and_time(orc):
    before = utcnow()
    rma, result = _broken_quote_incident(orc)
    assert result["task"]["status"] == "completed" and result["rma"]["status"] == "incident"
    [incident] = operations.list_incidents(orc, actor(orc, "manager"))["items"]
    assert (incident["rma_number"], incident["task"], incident["stage"]) == (rma["number"], "compute_quote", "approval")
    assert "division by zero" in incident["error"] and incident["opened_at"] >= before
    assert incident["status_before"] == "diagnosing" and incident["attempts"] == 1
    view = rmas.get_rma(orc, actor(orc, "manager"), rma["id"])
    assert view["status"] == "incident" and view["open_tasks"] == []
    assert any(e["kind"] == "task_completed" and e["task"] == "diagnose" for e in view["history"])
    with orc.uow() as uow:
        assert uow.session.get(Instance, rma["id"]).next_timer_at is None  # paused, not retried in a loop


def test_retry_without_a_fix_fails_again_and_counts_the_attempt(orc):
    rma, _ = _broken_quote_incident(orc)
    result = operations.retry_incident(orc, actor(orc, "manager"), rma["id"])
    assert result["rma"]["status"] == "incident"
    assert result["incident"]["attempts"] == 2 and result["incident"]["status"] == "open"
    assert _kinds(orc, rma["id"]).count("incident_retry_failed") == 1


def test_retry_after_deploying_a_fix_moves_the_rma_to_the_fixed_version_and_continues(orc):
    rma, _ = _broken_quote_incident(orc)
    _deploy(orc)  # the corrected files: version 3
    result = operations.retry_incident(orc, actor(orc, "owner"), rma["id"], on_current_version=True)
    assert result["rma"]["status"] == "awaiting_approval"
    assert result["incident"]["status"] == "resolved" and result["incident"]["resolved_by"] == "owner"
    view = rmas.get_rma(orc, actor(orc, "manager"), rma["id"])
    assert view["process"]["version"] == 3 and float(view["quote_total"]) == 70.0
    assert [t["name"] for t in view["open_tasks"]] == ["customer_approval"]
    kinds = _kinds(orc, rma["id"])
    assert kinds.index("incident_opened") < kinds.index("process_version_moved") < kinds.index("incident_resolved")
    # the customer-visible trail shows the real step, not the incident
    changes = [e["data"] for e in view["history"] if e["kind"] == "status_changed"]
    assert changes[-1] == {"from": "diagnosing", "to": "awaiting_approval"}
    assert operations.list_incidents(orc, actor(orc, "manager"))["items"] == []
    with orc.uow() as uow:
        assert verify_chain(uow.session, rma["id"]) == []


def test_a_version_that_removed_a_reached_step_is_refused_for_the_move(orc):
    rma, _ = _broken_quote_incident(orc)
    files = read_bundle_dir(PROCESSES_DIR)
    files["stages/rma_intake.bpmn"] = files["stages/rma_intake.bpmn"].replace(
        'name="Record condition"', 'name="Record the condition"'
    )
    processes.deploy_bundle(orc, Actor("owner", "process_owner"), files, note="renamed a task that has run")
    with pytest.raises(operations.CannotMove) as info:
        operations.retry_incident(orc, actor(orc, "manager"), rma["id"], on_current_version=True)
    assert "record_condition (completed) was changed" in info.value.message
    assert rmas.get_rma(orc, actor(orc, "manager"), rma["id"])["process"]["version"] == 2


def test_decision_table_without_a_matching_rule_is_an_incident_naming_the_inputs(orc):
    _deploy(
        orc,
        **{"decisions/warranty.dmn": ("<text>&gt; warranty_months</text>", "<text>&gt; warranty_months + 12</text>")},
    )
    rma = _at_diagnosis(orc, months_old=30)
    result = tasks.complete_task(
        orc,
        actor(orc, "sg.tech"),
        only_task(orc, "sg.tech", rma["id"])["id"],
        {"diagnosis": "Board", "fault_category": "electronic"},
    )
    assert result["rma"]["status"] == "incident"
    [incident] = operations.list_incidents(orc, actor(orc, "manager"))["items"]
    assert incident["task"] == "check_warranty"
    assert "no rule" in incident["error"] and "fault_category='electronic'" in incident["error"]


def test_cancelling_an_rma_in_incident_closes_it_with_the_reason(orc):
    rma, _ = _broken_quote_incident(orc)
    closed = operations.cancel_rma(orc, actor(orc, "manager"), rma["id"], "Customer withdrew the repair")
    assert (closed["status"], closed["outcome"]) == ("closed", "cancelled") and closed["closed_at"]
    [incident] = operations.list_incidents(orc, actor(orc, "manager"), status="cancelled")["items"]
    assert incident["resolution"] == "Customer withdrew the repair"
    kinds = _kinds(orc, rma["id"])
    assert {"rma_cancelled", "incident_cancelled", "rma_closed"} <= set(kinds)


def test_cancelling_a_running_rma_cancels_its_open_tasks(orc):
    rma = _at_diagnosis(orc)
    diagnose = only_task(orc, "sg.tech", rma["id"])
    operations.cancel_rma(orc, actor(orc, "manager"), rma["id"], "Duplicate of another RMA")
    with orc.uow() as uow:
        assert uow.session.get(HumanTask, diagnose["id"]).status == "cancelled"
        instance = uow.session.get(Instance, rma["id"])
        assert instance.completed and instance.next_timer_at is None  # the SLA timer went with it
    with pytest.raises(Exception):
        operations.cancel_rma(orc, actor(orc, "manager"), rma["id"], "again")


def test_operations_are_for_managers_and_process_owners_of_the_centre(orc):
    rma, _ = _broken_quote_incident(orc)
    with pytest.raises(NotAllowed):
        operations.list_incidents(orc, actor(orc, "sg.tech"))
    with pytest.raises(NotAllowed):
        operations.cancel_rma(orc, actor(orc, "owner"), rma["id"], "no")
    de_manager = Actor("de.manager", "manager", "DE")
    assert operations.list_incidents(orc, de_manager)["items"] == []
    with pytest.raises(RmaNotFound):
        operations.retry_incident(orc, de_manager, rma["id"])
    sg_manager = Actor("sg.manager", "manager", "SG")
    assert len(operations.list_incidents(orc, sg_manager)["items"]) == 1


def test_a_timer_that_cannot_be_fired_becomes_an_incident_and_does_not_block_the_sweep(orc, monkeypatch):
    stuck, other = _at_diagnosis(orc), _at_diagnosis(orc)
    with orc.uow() as uow:
        for rma_id, minutes in ((stuck["id"], 10), (other["id"], 5)):
            uow.session.get(Instance, rma_id).next_timer_at = utcnow() - timedelta(minutes=minutes)
        uow.commit()
    real = orc.runtime.fire_due_timers

    def broken(workflow):
        if workflow.task_tree.data.get("rma_number") == stuck["number"]:
            raise RuntimeError("state cannot be read")
        return real(workflow)

    monkeypatch.setattr(orc.runtime, "fire_due_timers", broken)
    assert fire_due_timers(orc) == 2
    assert fire_due_timers(orc) == 0
    [incident] = operations.list_incidents(orc, actor(orc, "manager"))["items"]
    assert incident["rma_id"] == stuck["id"] and "state cannot be read" in incident["error"]
    assert rmas.get_rma(orc, actor(orc, "manager"), other["id"])["status"] == "diagnosing"
    monkeypatch.undo()
    operations.retry_incident(orc, actor(orc, "manager"), stuck["id"])
    assert rmas.get_rma(orc, actor(orc, "manager"), stuck["id"])["status"] == "diagnosing"
    with orc.uow() as uow:
        assert uow.session.scalar(select(Incident.status).where(Incident.rma_id == stuck["id"])) == "resolved"
