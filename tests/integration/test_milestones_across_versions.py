"""A milestone reached before an RMA moves to a newer process version is sent once, not again after the move.

Every way an RMA changes version is covered: the owners' bulk move (engine.services.migration, which re-plans the
open task when its way on changed) and an operator's retry on the current version (engine.services.operations)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from engine import Actor
from engine.process.definitions import read_bundle_dir
from engine.services import goodwill, migration, operations, processes, rmas
from engine.services.scheduler import fire_due_timers
from engine.store.model import OutboxMessage, utcnow
from tests.bpmn_edit import add_plain_centre, insert_user_task, simple_form
from tests.conftest import PROCESSES_DIR
from tests.driver import complete_open_task, decide
from tests.helpers import INTAKE, actor, rma_payload

DIAGNOSE = {"diagnosis": "Board", "fault_category": "electronic", "parts_cost": 10, "labour_hours": 1}
LABEL_FORM = ("label_unit.json", simple_form("Label", "label", "Label"))


@pytest.fixture
def nl(orc):
    add_plain_centre(orc, "NL")
    return orc


def _open(orc, months_old=6):
    return rmas.open_rma(orc, actor(orc, "nl.reception"), rma_payload(centre="NL", months_old=months_old))


def _deploy_label_step(orc, stage: str, after: str) -> dict:
    """A new base version with a step right after `after` (the RMA's open task: its way on changes)."""
    with orc.uow() as uow:
        xml = processes.latest_bundle(uow.session, None).files[f"stages/{stage}"]
    xml = insert_user_task(xml, after=after, task_id="label_unit", name="Label unit", form="label_unit.json")
    return processes.deploy_upload(orc, actor(orc, "owner"), [(stage, xml), LABEL_FORM], note="labels")


def _move(orc, version: int, rma_id: int) -> None:
    result = migration.migrate_rmas(orc, actor(orc, "owner"), version, None, dry_run=False, rma_ids=[rma_id])
    assert [m["rma_id"] for m in result["moved"]] == [rma_id]


def _emails(orc, rma_id) -> Counter:
    """How many emails the outbox holds for the RMA, per message."""
    with orc.uow() as uow:
        keys = uow.session.scalars(
            select(OutboxMessage.idempotency_key).where(
                OutboxMessage.rma_id == rma_id, OutboxMessage.channel == "email"
            )
        )
        return Counter(key.split(".")[1] for key in keys)


def test_the_intake_receipt_is_not_sent_again_after_a_move_and_the_next_milestone_is_sent_once(nl):
    orc = nl
    rma = _open(orc)
    complete_open_task(orc, "nl.reception", rma["id"], data=INTAKE)
    assert _emails(orc, rma["id"]) == {"intake_receipt": 1}
    target = _deploy_label_step(orc, "rma_diagnosis.bpmn", after="diagnose")
    _move(orc, target["version"], rma["id"])
    assert _emails(orc, rma["id"]) == {"intake_receipt": 1}
    complete_open_task(orc, "nl.tech", rma["id"], "diagnose", DIAGNOSE)
    complete_open_task(orc, "nl.tech", rma["id"], "label_unit", {"label": "L-1"})  # the new version's step
    assert _emails(orc, rma["id"]) == {"intake_receipt": 1, "diagnosis_complete": 1}


def test_a_reminder_sent_before_a_move_is_not_sent_again_but_a_new_occurrence_after_it_is(nl):
    orc = nl
    with time_machine.travel(utcnow(), tick=False) as clock:
        start = utcnow()
        rma = _open(orc, months_old=40)  # out of warranty: a quote
        complete_open_task(orc, "nl.reception", rma["id"], data=INTAKE)
        complete_open_task(orc, "nl.tech", rma["id"], "diagnose", DIAGNOSE)
        clock.move_to(start + timedelta(days=3, minutes=1))
        assert fire_due_timers(orc) == 1
        sent = {"intake_receipt": 1, "quote_ready": 1, "approval_reminder": 1}
        assert _emails(orc, rma["id"]) == sent
        target = _deploy_label_step(orc, "rma_approval.bpmn", after="customer_approval")
        _move(orc, target["version"], rma["id"])
        clock.move_to(start + timedelta(days=4))
        fire_due_timers(orc)
        assert _emails(orc, rma["id"]) == sent
        # goodwill lowers the quote: the customer is asked again, and reminded again 3 days later (a new occurrence)
        goodwill.propose_goodwill(orc, actor(orc, "nl.tech"), rma["id"], "fee_waiver", "loyal customer")
        complete_open_task(orc, "manager", rma["id"], "approve_goodwill", {"goodwill_approved": True})
        clock.move_to(start + timedelta(days=7, minutes=2))
        assert fire_due_timers(orc) == 1
        assert _emails(orc, rma["id"]) == {**sent, "approval_reminder": 2}
        decide(orc, rma)
        assert _emails(orc, rma["id"]) == {**sent, "approval_reminder": 2}


def test_milestones_before_an_incident_are_not_sent_again_by_a_retry_on_the_current_version(orc):
    files = read_bundle_dir(PROCESSES_DIR)
    good = files["stages/rma_approval.bpmn"]
    files["stages/rma_approval.bpmn"] = good.replace("labour_hours * labour_rate", "labour_hours / 0")
    processes.deploy_bundle(orc, Actor("owner", "process_owner"), files, note="broken quote")
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=40))
    complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
    complete_open_task(orc, "sg.tech", rma["id"], "diagnose", DIAGNOSE)
    assert rmas.get_rma(orc, actor(orc, "manager"), rma["id"])["status"] == "incident"
    assert _emails(orc, rma["id"]) == {"intake_receipt": 1}
    processes.deploy_bundle(orc, Actor("owner", "process_owner"), read_bundle_dir(PROCESSES_DIR), note="fixed")
    result = operations.retry_incident(orc, actor(orc, "owner"), rma["id"], on_current_version=True)
    assert result["rma"]["status"] == "awaiting_approval"
    assert _emails(orc, rma["id"]) == {"intake_receipt": 1, "quote_ready": 1}
