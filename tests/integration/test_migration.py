"""Moving running RMAs to a newer version on each backend: preview, refusal reasons, bulk move, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import NotAllowed, NotFound
from engine.services import migration, processes, rmas, tasks
from engine.store.model import AuditEvent, Instance, ProcessMigration
from tests.bpmn_edit import add_plain_centre, insert_user_task, simple_form
from tests.driver import complete_open_task, only_task
from tests.helpers import INTAKE, actor, rma_payload

INTAKE_STAGE = "stages/rma_intake.bpmn"
DIAGNOSE = {"diagnosis": "Board", "fault_category": "electronic", "parts_cost": 10, "labour_hours": 1}


@pytest.fixture
def nl(orc):
    add_plain_centre(orc, "NL")
    return orc


def _open(orc, serial):
    return rmas.open_rma(orc, actor(orc, "nl.reception"), rma_payload(centre="NL", serial=serial))


def _deploy_photo_step(orc) -> dict:
    with orc.uow() as uow:
        stage = processes.latest_bundle(uow.session, None).files[INTAKE_STAGE]
    stage = insert_user_task(
        stage,
        after="record_condition",
        task_id="photograph_unit",
        name="Photograph unit",
        form="photograph_unit.json",
        status="received",
    )
    return processes.deploy_upload(
        orc,
        actor(orc, "owner"),
        [("rma_intake.bpmn", stage), ("photograph_unit.json", simple_form("Photos", "photo_reference", "Photo"))],
        note="photos",
    )


def _running(orc):
    """One RMA still at record_condition (movable), one past intake (the new step would be skipped)."""
    waiting = _open(orc, "SN-W")
    past = _open(orc, "SN-P")
    complete_open_task(orc, "nl.reception", past["id"], data=INTAKE)
    return waiting, past


def test_preview_lists_who_can_move_and_why_the_others_cannot_changing_nothing(nl):
    orc = nl
    waiting, past = _running(orc)
    target = _deploy_photo_step(orc)
    preview = migration.migrate_rmas(orc, actor(orc, "owner"), target["version"], None)
    assert preview["dry_run"] is True and preview["target"]["version"] == target["version"]
    movable = {m["number"] for m in preview["movable"]}
    blocked = {b["number"]: b["reasons"] for b in preview["blocked"]}
    assert waiting["number"] in movable and past["number"] in blocked
    assert any("record_condition" in r and "has already run" in r for r in blocked[past["number"]])
    assert (
        rmas.get_rma(orc, actor(orc, "manager"), waiting["id"])["process"]["version"] == waiting["process"]["version"]
    )


def test_bulk_move_moves_the_movable_audits_each_and_the_moved_rma_meets_the_new_step(nl):
    orc = nl
    waiting, past = _running(orc)
    target = _deploy_photo_step(orc)
    result = migration.migrate_rmas(
        orc, actor(orc, "owner"), target["version"], None, dry_run=False, rma_ids=[waiting["id"], past["id"]]
    )
    assert [m["number"] for m in result["moved"]] == [waiting["number"]]
    assert [b["number"] for b in result["blocked"]] == [past["number"]] and result["failed"] == []
    moved = rmas.get_rma(orc, actor(orc, "manager"), waiting["id"])
    assert moved["process"]["version"] == target["version"]
    event = [h for h in moved["history"] if h["kind"] == "process_migrated"]
    assert len(event) == 1 and event[0]["actor"] == "owner" and f"v{target['version']}" in event[0]["detail"]
    assert rmas.get_rma(orc, actor(orc, "manager"), past["id"])["process"]["version"] == past["process"]["version"]
    task = only_task(orc, "nl.reception", waiting["id"])
    assert task["name"] == "record_condition"  # the open task itself is kept
    tasks.complete_task(orc, actor(orc, "nl.reception"), task["id"], INTAKE)
    assert only_task(orc, "nl.reception", waiting["id"])["name"] == "photograph_unit"
    with orc.uow() as uow:
        record = uow.session.scalars(select(ProcessMigration).order_by(ProcessMigration.id.desc())).first()
        assert (record.moved, record.refused, record.actor) == (1, 1, "owner")
        summary = uow.session.scalars(select(AuditEvent).where(AuditEvent.kind == "process_migration")).all()
        assert summary and summary[-1].rma_id is None


def test_a_moved_rma_runs_to_the_end_on_the_new_version(nl):
    orc = nl
    rma = _open(orc, "SN-E")
    target = _deploy_photo_step(orc)
    migration.migrate_rmas(orc, actor(orc, "owner"), target["version"], None, dry_run=False)
    steps = [("nl.reception", INTAKE), ("nl.reception", {"photo_reference": "IMG-1"}), ("nl.tech", DIAGNOSE)]
    for username, data in steps:
        complete_open_task(orc, username, rma["id"], data=data)
    with orc.uow() as uow:
        instance = uow.session.get(Instance, rma["id"])
        assert instance.version > 1
    assert rmas.get_rma(orc, actor(orc, "manager"), rma["id"])["status"] not in ("received", "closed")


def test_nothing_to_move_when_every_rma_is_on_the_version_already(nl):
    orc = nl
    target = _deploy_photo_step(orc)
    _open(orc, "SN-N")
    preview = migration.migrate_rmas(orc, actor(orc, "owner"), target["version"], None)
    assert all(m["from"]["version"] < target["version"] for m in preview["movable"] + preview["blocked"])
    assert "SN-N" not in {m["number"] for m in preview["movable"]}


def test_only_owners_of_the_target_may_move_rmas(nl):
    orc = nl
    target = _deploy_photo_step(orc)
    for username in ("nl.owner", "manager", "nl.reception"):
        with pytest.raises(NotAllowed):
            migration.migrate_rmas(orc, actor(orc, username), target["version"], None)
    with pytest.raises(NotFound):
        migration.migrate_rmas(orc, actor(orc, "owner"), 99, None)


def test_rmas_move_from_the_base_onto_their_centres_new_variant(nl):
    orc = nl
    waiting = _open(orc, "SN-V")
    with orc.uow() as uow:
        stage = processes.latest_bundle(uow.session, None).files[INTAKE_STAGE]
    stage = insert_user_task(stage, after="record_condition", task_id="check_seal", name="Check seal")
    variant = processes.deploy_upload(orc, actor(orc, "nl.owner"), [("rma_intake.bpmn", stage)], "NL")
    assert variant["centre"] == "NL"
    result = migration.migrate_rmas(orc, actor(orc, "nl.owner"), variant["version"], "NL", dry_run=False)
    assert [m["number"] for m in result["moved"]] == [waiting["number"]]
    moved = rmas.get_rma(orc, actor(orc, "manager"), waiting["id"])
    assert (moved["process"]["centre"], moved["process"]["version"]) == ("NL", variant["version"])
