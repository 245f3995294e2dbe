"""The process owners' API contract: deploy (201/200/422/403), list, download, migrate dry-run and apply."""

from __future__ import annotations

import io

import pytest

from engine.services import processes
from tests.bpmn_edit import add_plain_centre, insert_user_task, simple_form
from tests.helpers import INTAKE

INTAKE_STAGE = "stages/rma_intake.bpmn"
NO_CONDITION_RECORD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:t">
  <bpmn:process id="rma_intake" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:scriptTask id="accept_unit"><bpmn:script>accepted = True</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="accept_unit" />
    <bpmn:sequenceFlow id="f2" sourceRef="accept_unit" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def nl(orc):
    add_plain_centre(orc, "NL")
    return orc


def _stage(orc, task_id="photograph_unit", form="photograph_unit.json") -> str:
    with orc.uow() as uow:
        stage = processes.latest_bundle(uow.session, None).files[INTAKE_STAGE]
    return insert_user_task(
        stage, after="record_condition", task_id=task_id, name="Photograph unit", form=form, status="received"
    )


def _upload(api, username, files: dict, **form):
    data = {"files": [(io.BytesIO(text.encode()), name) for name, text in files.items()], **form}
    return api.client.post(
        "/api/processes/deploy", data=data, headers=api.headers(username), content_type="multipart/form-data"
    )


def _photo_files(orc) -> dict:
    return {"rma_intake.bpmn": _stage(orc), "photograph_unit.json": simple_form("Photos", "photo_reference", "Photo")}


def test_deploying_a_stage_and_its_form_answers_201_with_the_version(api, nl):
    response = _upload(api, "owner", _photo_files(nl), note="photos at intake")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["centre"] is None and body["version"] == 2 and len(body["hash"]) == 64
    assert body["changes"]["stages"][0]["process"] == "rma_intake"
    again = _upload(api, "owner", _photo_files(nl) | {"rma_intake.bpmn": _stage_of(api, 2)})
    assert again.status_code == 200 and again.get_json()["created"] is False


def _stage_of(api, version) -> str:
    return api.get("owner", f"/api/processes/{version}/files/{INTAKE_STAGE}").get_data(as_text=True)


def test_refused_deploy_answers_422_listing_every_error_with_file_element_and_line(api, nl):
    broken = _stage(nl).replace('targetRef="photograph_unit"', 'targetRef="photo_unit"', 1)
    response = _upload(api, "owner", {"rma_intake.bpmn": broken, "photograph_unit.json": "{", "notes.txt": "x"})
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "invalid_process" and body["message"]
    assert {e["file"] for e in body["errors"]} == {"notes.txt"}  # files that cannot be placed come first
    response = _upload(api, "owner", {"rma_intake.bpmn": broken, "photograph_unit.json": "{"})
    errors = response.get_json()["errors"]
    assert response.status_code == 422 and len(errors) >= 2
    assert {e["file"] for e in errors} == {INTAKE_STAGE, "forms/photograph_unit.json"}
    for error in errors:
        assert {"file", "element", "line", "message"} <= set(error)
    dangling = next(e for e in errors if "dangling" in e["message"])
    assert dangling["element"] and dangling["line"] > 0
    assert api.get("owner", "/api/processes").get_json()["centres"][0]["versions"][0]["version"] == 1


def test_policy_violation_answers_422_with_the_offending_path(api, nl):
    response = _upload(api, "owner", {"rma_intake.bpmn": NO_CONDITION_RECORD})
    assert response.status_code == 422
    assert any(e.get("rule") == "intake_condition_record" for e in response.get_json()["errors"])


def test_centre_owner_may_deploy_only_its_own_centre(api, nl):
    assert _upload(api, "nl.owner", _photo_files(nl)).status_code == 403
    assert _upload(api, "nl.owner", _photo_files(nl), centre="SG").status_code == 403
    assert _upload(api, "nl.tech", _photo_files(nl), centre="NL").status_code == 403
    response = _upload(api, "nl.owner", _photo_files(nl), centre="NL", note="NL photos")
    assert response.status_code == 201 and response.get_json()["centre"] == "NL"
    assert _upload(api, "owner", _photo_files(nl), centre="XX").status_code == 422
    assert api.client.post("/api/processes/deploy").status_code == 401


def test_validate_checks_without_storing(api, nl):
    data = {"files": [(io.BytesIO(t.encode()), n) for n, t in _photo_files(nl).items()]}
    response = api.client.post(
        "/api/processes/validate", data=data, headers=api.headers("owner"), content_type="multipart/form-data"
    )
    assert response.status_code == 200 and response.get_json()["valid"] is True
    data = {"files": [(io.BytesIO(_stage(nl).encode()), "rma_intake.bpmn")]}
    response = api.client.post(
        "/api/processes/validate", data=data, headers=api.headers("owner"), content_type="multipart/form-data"
    )
    assert response.status_code == 422 and "photograph_unit.json" in response.get_json()["errors"][0]["message"]
    assert api.get("owner", "/api/processes").get_json()["centres"][0]["versions"][0]["version"] == 1


def test_list_shows_versions_per_centre_with_running_counts(api, nl):
    api.open_rma("nl.reception", centre="NL")
    _upload(api, "owner", _photo_files(nl), note="photos")
    body = api.get("manager", "/api/processes").get_json()
    base = body["centres"][0]
    assert base["centre"] is None
    v2, v1 = base["versions"][:2]
    assert (v2["version"], v2["note"], v2["deployed_by"], v2["running"], v2["current"]) == (
        2,
        "photos",
        "owner",
        0,
        True,
    )
    assert v1["running"] >= 1 and "deployed_at" in v1
    scoped = api.get("nl.owner", "/api/processes").get_json()
    assert [c["centre"] for c in scoped["centres"]] == [None, "NL"]
    assert api.get("nl.tech", "/api/processes").status_code == 403


def test_download_any_file_of_any_version(api, nl):
    response = api.get("owner", f"/api/processes/1/files/{INTAKE_STAGE}")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert "attachment" in response.headers["Content-Disposition"]
    assert 'id="record_condition"' in response.get_data(as_text=True)
    assert api.get("owner", "/api/processes/1/files/nowhere.bpmn").status_code == 404
    assert api.get("owner", "/api/processes/42/files/rma.bpmn").status_code == 404
    sg = api.get("owner", "/api/processes/1/files/rma.bpmn", query_string={"centre": "SG"})
    assert sg.status_code in (200, 404)
    assert api.get("nl.owner", "/api/processes/1/files/rma.bpmn", query_string={"centre": "SG"}).status_code == 403
    detail = api.get("owner", "/api/processes/1").get_json()
    assert "rma.bpmn" in detail["files"] and detail["processes"][0]["process"] == "rma"


def test_migrate_dry_run_then_apply(api, nl):
    waiting = api.open_rma("nl.reception", centre="NL", serial="SN-W")
    past = api.open_rma("nl.reception", centre="NL", serial="SN-P")
    api.do("nl.reception", past["id"], "record_condition", INTAKE)
    assert _upload(api, "owner", _photo_files(nl)).status_code == 201
    preview = api.post("owner", "/api/processes/2/migrate", {"dry_run": True})
    assert preview.status_code == 200
    body = preview.get_json()
    assert body["dry_run"] and body["target"]["version"] == 2
    assert waiting["number"] in {m["number"] for m in body["movable"]}
    blocked = {b["number"]: b for b in body["blocked"]}
    assert past["number"] in blocked and blocked[past["number"]]["reasons"]
    assert blocked[past["number"]]["from"]["version"] == 1
    assert api.rma("owner", waiting["id"])["process"]["version"] == 1
    applied = api.post("owner", "/api/processes/2/migrate", {"dry_run": False, "rma_ids": [waiting["id"], past["id"]]})
    assert applied.status_code == 200
    result = applied.get_json()
    assert [m["number"] for m in result["moved"]] == [waiting["number"]]
    assert result["moved"][0]["to"]["version"] == 2
    assert api.rma("owner", waiting["id"])["process"]["version"] == 2
    assert api.post("nl.owner", "/api/processes/2/migrate", {"dry_run": True}).status_code == 403
    assert api.post("owner", "/api/processes/9/migrate", {}).status_code == 404
