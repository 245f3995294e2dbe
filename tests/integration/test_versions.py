"""Versioning on each backend: partial deploys, history with changes and running counts, access, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.actors import Actor
from engine.errors import InvalidInput, InvalidProcess, NotAllowed
from engine.services import processes, rmas, tasks, versions
from engine.store.model import AuditEvent, Bundle, ProcessDeploy
from tests.bpmn_edit import add_plain_centre, insert_user_task, simple_form
from tests.driver import only_task
from tests.helpers import INTAKE, actor, rma_payload

INTAKE_STAGE = "stages/rma_intake.bpmn"
PHOTO_FORM = simple_form("Photograph unit", "photo_reference", "Photo reference")


@pytest.fixture
def nl(orc):
    add_plain_centre(orc, "NL")
    return orc


def _base(orc) -> dict:
    with orc.uow() as uow:
        return dict(processes.latest_bundle(uow.session, None).files)


def _photo_stage(orc) -> str:
    return insert_user_task(
        _base(orc)[INTAKE_STAGE],
        after="record_condition",
        task_id="photograph_unit",
        name="Photograph unit",
        form="photograph_unit.json",
        status="received",
    )


def _photo_uploads(orc) -> list:
    return [("rma_intake.bpmn", _photo_stage(orc).encode()), ("photograph_unit.json", PHOTO_FORM.encode())]


def _deploy_photo_step(orc, username="owner", centre=None, uploads=None):
    return processes.deploy_upload(
        orc, actor(orc, username), uploads or _photo_uploads(orc), centre, note="photos at intake"
    )


def test_partial_upload_becomes_a_new_version_new_rmas_take_it_running_ones_stay(nl):
    orc = nl
    old = rmas.open_rma(orc, actor(orc, "nl.reception"), rma_payload(centre="NL"))
    result = _deploy_photo_step(orc)
    assert result["created"] and result["centre"] is None and result["version"] == old["process"]["version"] + 1
    new = rmas.open_rma(orc, actor(orc, "nl.reception"), rma_payload(centre="NL", serial="SN-2"))
    assert new["process"]["version"] == result["version"]
    for rma, expected in ((old, "diagnose"), (new, "photograph_unit")):
        task = only_task(orc, "nl.reception", rma["id"])
        tasks.complete_task(orc, actor(orc, "nl.reception"), task["id"], INTAKE)
        after = rmas.get_rma(orc, actor(orc, "manager"), rma["id"])
        assert [t["name"] for t in after["open_tasks"]] == [expected]
    assert rmas.get_rma(orc, actor(orc, "manager"), old["id"])["process"]["version"] == old["process"]["version"]


def test_version_history_lists_who_when_note_changes_and_running_rmas(nl):
    orc = nl
    rmas.open_rma(orc, actor(orc, "nl.reception"), rma_payload(centre="NL"))
    deployed = _deploy_photo_step(orc)
    history = versions.list_versions(orc, actor(orc, "manager"))
    base = history["centres"][0]
    assert base["centre"] is None and [c["centre"] for c in history["centres"]][1:] == ["DE", "NL", "SG"]
    latest, first = base["versions"][0], base["versions"][-1]
    assert (latest["version"], latest["deployed_by"], latest["note"], latest["current"]) == (
        deployed["version"],
        "owner",
        "photos at intake",
        True,
    )
    assert latest["uploaded"] == ["forms/photograph_unit.json", INTAKE_STAGE]
    [stage] = latest["changes"]["stages"]
    assert stage["process"] == "rma_intake" and stage["status"] == "changed"
    assert {e["id"] for e in stage["added"]} == {"photograph_unit", "flow_photograph_unit_out"}
    assert latest["changes"]["files"] == [{"file": "forms/photograph_unit.json", "status": "added"}]
    assert latest["running"] == 0 and first["running"] >= 1 and first["current"] is False


def test_redeploying_the_current_files_stores_nothing(nl):
    uploads = _photo_uploads(nl)
    first = _deploy_photo_step(nl, uploads=uploads)
    again = _deploy_photo_step(nl, uploads=uploads)
    assert first["created"] and not again["created"] and again["version"] == first["version"]


def test_refused_deploy_lists_every_error_and_stores_nothing(nl):
    orc = nl
    broken = _photo_stage(orc).replace('targetRef="photograph_unit"', 'targetRef="photo_unit"')
    with orc.uow() as uow:
        count = uow.session.scalar(select(func.count()).select_from(Bundle))
    with pytest.raises(InvalidProcess) as info:
        processes.deploy_upload(orc, actor(orc, "owner"), [("rma_intake.bpmn", broken), ("photograph_unit.json", "{")])
    errors = info.value.errors
    assert {e["file"] for e in errors} == {INTAKE_STAGE, "forms/photograph_unit.json"}
    assert any("dangling sequence flow" in e["message"] and e["line"] for e in errors)
    with orc.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Bundle)) == count


def test_centre_owner_deploys_only_its_own_variant(nl):
    orc = nl
    with pytest.raises(NotAllowed):
        _deploy_photo_step(orc, "nl.owner", None)
    with pytest.raises(NotAllowed):
        _deploy_photo_step(orc, "nl.owner", "SG")
    with pytest.raises(NotAllowed):
        _deploy_photo_step(orc, "manager", "NL")
    variant = _deploy_photo_step(orc, "nl.owner", "NL")
    assert variant["created"] and (variant["centre"], variant["version"]) == ("NL", 1)
    rma = rmas.open_rma(orc, actor(orc, "nl.reception"), rma_payload(centre="NL"))
    assert (rma["process"]["centre"], rma["process"]["version"]) == ("NL", 1)
    other = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(centre="SG"))
    assert other["process"]["centre"] != "NL"


def test_unknown_centre_is_refused(nl):
    with pytest.raises(InvalidInput):
        _deploy_photo_step(nl, "owner", "XX")


def test_deploys_are_audited_and_recorded(nl):
    orc = nl
    deployed = _deploy_photo_step(orc)
    with orc.uow() as uow:
        s = uow.session
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.kind == "process_deployed").order_by(AuditEvent.id.desc())
        ).first()
        record = s.scalar(select(ProcessDeploy).where(ProcessDeploy.bundle_id == deployed["id"]))
        assert event.rma_id is None and event.actor == "owner" and event.data["version"] == deployed["version"]
        assert "rma_intake" in event.detail
        assert record.previous_bundle_id is not None
        assert record.uploaded == ["forms/photograph_unit.json", INTAKE_STAGE]


def test_files_of_any_version_can_be_read_back(nl):
    orc = nl
    deployed = _deploy_photo_step(orc)
    found = versions.bundle_file(orc, actor(orc, "owner"), deployed["version"], None, "forms/photograph_unit.json")
    assert found["text"] == PHOTO_FORM and found["media_type"] == "application/json"
    detail = versions.get_version(orc, actor(orc, "owner"), deployed["version"], None)
    intake = next(p for p in detail["processes"] if p["process"] == "rma_intake")
    assert intake["file"] == INTAKE_STAGE and "photograph_unit" in intake["human_tasks"]
    assert detail["processes"][0]["skeleton"] is True
    with pytest.raises(NotAllowed):
        versions.bundle_file(orc, actor(orc, "nl.owner"), 1, "SG", "rma.bpmn")
    with pytest.raises(NotAllowed):
        versions.list_versions(orc, actor(orc, "nl.tech"))


def test_validation_without_deploy_reports_changes_and_stores_nothing(nl):
    orc = nl
    result = processes.validate_bundle(
        orc, actor(orc, "owner"), {INTAKE_STAGE: _photo_stage(orc), "forms/photograph_unit.json": PHOTO_FORM}
    )
    assert result["valid"] and result["changes"]["stages"][0]["process"] == "rma_intake"
    bad = processes.validate_bundle(orc, actor(orc, "owner"), {INTAKE_STAGE: _photo_stage(orc)})
    assert not bad["valid"] and "photograph_unit.json" in bad["errors"][0]["message"]
    assert versions.list_versions(orc, actor(orc, "owner"))["centres"][0]["versions"][0]["version"] == 1


def test_system_actor_deploys_the_processes_folder_idempotently(nl):
    results = processes.deploy_directory(nl, Actor.system(), ["DE", "SG", "NL"])
    assert not any(r["created"] for r in results)
