"""A timer whose branch runs away (a loop without a wait state) inside the due-timers sweep: its command is rolled
back, the RMA waits in an incident naming the element at its last committed state, the sweep logs one line (no
traceback: it is an expected outcome, not a bug) and goes on with the other RMAs. On SQLite and PostgreSQL.

The looping version is stored unchecked, as one deployed before the deploy-time checks (tests/security/
test_command_budget.py): the command budget is what stops it at run time."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from engine.services import operations, rmas
from engine.services.scheduler import fire_due_timers
from engine.store.model import AuditEvent, HumanTask, Instance
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload
from tests.security.test_command_budget import (  # noqa: F401 - script_clock_stopped is a fixture
    APPROVAL,
    DIAGNOSIS,
    _budgeted,
    _store_unchecked,
    script_clock_stopped,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LOOP = "remind_again"
TO_REMINDER_SENT = (
    '<bpmn:sequenceFlow id="flow_to_reminder_sent" sourceRef="approval_reminder" targetRef="reminder_sent" />'
)


def _reminder_loops(files: dict) -> dict:
    """The approval reminder's branch: approval_reminder -> a gateway that always takes itself again."""
    xml = files[APPROVAL]
    assert xml.count(TO_REMINDER_SENT) == 1 and xml.count("<bpmn:incoming>flow_to_reminder_sent</bpmn:incoming>") == 1
    xml = xml.replace(
        "<bpmn:incoming>flow_to_reminder_sent</bpmn:incoming>", "<bpmn:incoming>flow_remind_done</bpmn:incoming>"
    )
    xml = xml.replace(
        TO_REMINDER_SENT,
        f'<bpmn:sequenceFlow id="flow_to_reminder_sent" sourceRef="approval_reminder" targetRef="{LOOP}" />'
        f'<bpmn:exclusiveGateway id="{LOOP}" name="Remind again?" default="flow_remind_done">'
        "<bpmn:incoming>flow_to_reminder_sent</bpmn:incoming><bpmn:incoming>flow_remind_back</bpmn:incoming>"
        "<bpmn:outgoing>flow_remind_loop</bpmn:outgoing><bpmn:outgoing>flow_remind_done</bpmn:outgoing>"
        "</bpmn:exclusiveGateway>"
        f'<bpmn:sequenceFlow id="flow_remind_loop" sourceRef="{LOOP}" targetRef="note_reminder">'
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">True</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>"
        '<bpmn:scriptTask id="note_reminder" name="Note the reminder">'
        "<bpmn:incoming>flow_remind_loop</bpmn:incoming><bpmn:outgoing>flow_remind_back</bpmn:outgoing>"
        "<bpmn:script>reminders = 1</bpmn:script></bpmn:scriptTask>"
        f'<bpmn:sequenceFlow id="flow_remind_back" sourceRef="note_reminder" targetRef="{LOOP}" />'
        f'<bpmn:sequenceFlow id="flow_remind_done" sourceRef="{LOOP}" targetRef="reminder_sent" />',
    )
    return {**files, APPROVAL: xml}


def _quoted(orc, serial: str) -> int:
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=40, serial=serial))
    complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
    complete_open_task(orc, "sg.tech", rma["id"], "diagnose", DIAGNOSIS)
    return rma["id"]


def _committed(orc, rma_id: int) -> tuple:
    with orc.uow() as uow:
        s = uow.session
        instance = s.get(Instance, rma_id)
        open_tasks = s.scalars(select(HumanTask.name).where(HumanTask.rma_id == rma_id, HumanTask.status == "open"))
        return instance.state, instance.version, sorted(open_tasks)


def _kinds(orc, rma_id: int) -> list[str]:
    with orc.uow() as uow:
        return list(uow.session.scalars(select(AuditEvent.kind).where(AuditEvent.rma_id == rma_id)))


@pytest.fixture
def few_steps(orc):
    """The same database with a budget of 400 engine steps (SpiffWorkflow stops looking for ready tasks in a
    task tree deeper than 1000, so a loop under the default 2000 steps would just stop, not run away)."""
    budgeted = _budgeted(orc, command_max_steps=400, command_max_script_seconds=60, command_max_tasks=2000)
    yield budgeted
    budgeted.dispose()


def test_a_runaway_timer_branch_becomes_an_incident_logged_in_one_line_and_the_sweep_goes_on(
    orc, few_steps, script_clock_stopped, caplog
):
    with time_machine.travel(T0, tick=False) as clock:
        before = _store_unchecked(orc, _reminder_loops)
        runaway = _quoted(orc, "SN-LOOP")  # on the looping version; its reminder is due first
        _store_unchecked(orc, lambda files: before)  # the next version is sound again
        clock.move_to(T0 + timedelta(hours=1))
        sound = _quoted(orc, "SN-OK")
        committed = _committed(orc, runaway)
        assert committed[2] == ["customer_approval"]
        clock.move_to(T0 + timedelta(days=3, hours=2))
        with caplog.at_level(logging.INFO, logger="rma.scheduler"):
            assert fire_due_timers(few_steps) == 2
        assert fire_due_timers(few_steps) == 0  # the runaway's timers are paused: no sweep runs it again in a loop
    # one line for the runaway, no traceback
    records = [r for r in caplog.records if r.name == "rma.scheduler"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    assert records[0].exc_info is None and f"RMA {runaway}" in records[0].getMessage()
    assert "rolled back" in records[0].getMessage()
    # the runaway: rolled back to its last committed state (quote open, same instance version), in incident
    state, version, open_tasks = _committed(orc, runaway)
    assert (state, open_tasks) == (committed[0], committed[2])
    assert version == committed[1] + 1  # one write: the incident pausing its timers, nothing the timer did
    assert "timer_fired" not in _kinds(orc, runaway)
    [incident] = operations.list_incidents(orc, actor(orc, "manager"))["items"]
    assert incident["rma_id"] == runaway and "rolled back" in incident["error"]
    assert incident["task"] in (LOOP, "note_reminder")  # the element running when the budget ran out
    assert rmas.get_rma(orc, actor(orc, "manager"), runaway)["status"] == "incident"
    # the other RMA's reminder fired in the same sweep
    assert "timer_fired" in _kinds(orc, sound)
    assert rmas.get_rma(orc, actor(orc, "manager"), sound)["status"] == "awaiting_approval"
