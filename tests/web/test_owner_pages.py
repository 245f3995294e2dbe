"""Process owners' pages: history, files, upload-to-deploy, modeler validate/deploy, form preview, diff, migration."""

from __future__ import annotations

import io
import re

import pytest

from engine.services import processes, rmas
from tests.bpmn_edit import add_plain_centre, insert_user_task, simple_form
from tests.helpers import actor, rma_payload, staff_session
from tests.web.access_world import add_matrix_users

INTAKE_STAGE = "stages/rma_intake.bpmn"


def _world(orc):
    from web import create_app

    add_matrix_users(orc)
    app = create_app({"RMA_ORCHESTRATOR": orc, "TESTING": True, "WTF_CSRF_ENABLED": False})
    return app, orc


@pytest.fixture
def world(sqlite_orc):
    return _world(sqlite_orc)


@pytest.fixture
def any_db_world(orc):
    """The same world on SQLite and on PostgreSQL (the db_url fixture)."""
    return _world(orc)


def _client(app, username):
    client = app.test_client()
    with client.session_transaction() as sess:
        staff_session(sess, app, username)
    return client


def _ids(orc, centre=None):
    with orc.uow() as uow:
        bundle = processes.latest_bundle(uow.session, centre)
        return bundle.id, bundle.version, dict(bundle.files)


def _new_stage(orc) -> str:
    return insert_user_task(
        _ids(orc)[2][INTAKE_STAGE],
        after="record_condition",
        task_id="photograph_unit",
        name="Photograph unit",
        form="photograph_unit.json",
        status="received",
    )


def test_history_lists_each_centre_with_running_counts_for_owners_and_managers(world):
    app, orc = world
    rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    for username in ("owner", "manager"):
        page = _client(app, username).get("/processes")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert 'data-testid="versions-base"' in html and 'data-testid="versions-DE"' in html
        assert 'href="/processes"' in html  # the nav link
    assert "Deploy files" in _client(app, "owner").get("/processes").get_data(as_text=True)
    assert "Deploy files" not in _client(app, "manager").get("/processes").get_data(as_text=True)
    assert _client(app, "sg.tech").get("/processes").status_code == 403


def test_version_page_links_each_file_to_the_modeler_and_download(world):
    app, orc = world
    bundle_id, _version, files = _ids(orc)
    client = _client(app, "owner")
    html = client.get(f"/processes/{bundle_id}").get_data(as_text=True)
    assert f"/processes/{bundle_id}/edit/{INTAKE_STAGE}" in html
    download = client.get(f"/processes/{bundle_id}/files/{INTAKE_STAGE}")
    assert download.status_code == 200 and download.get_data(as_text=True) == files[INTAKE_STAGE]
    assert "attachment" in download.headers["Content-Disposition"]
    modeler = client.get(f"/processes/{bundle_id}/edit/{INTAKE_STAGE}").get_data(as_text=True)
    assert "bpmn-modeler.production.min.js" in modeler and 'id="validate-button"' in modeler


def test_upload_deploys_a_new_version_and_refusal_lists_every_error(world):
    app, orc = world
    client = _client(app, "owner")
    _id, version, _files = _ids(orc)
    data = {
        "files": [
            (io.BytesIO(_new_stage(orc).encode()), "rma_intake.bpmn"),
            (io.BytesIO(simple_form("Photo", "photo_notes", "Photo notes").encode()), "photograph_unit.json"),
        ],
        "centre": "",
        "note": "photos at intake",
    }
    response = client.post("/processes/upload", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    new_id, new_version, files = _ids(orc)
    assert new_version == version + 1 and "forms/photograph_unit.json" in files
    broken = {"files": [(io.BytesIO(b"<bpmn:definitions"), "rma_intake.bpmn")], "centre": ""}
    refused = client.post("/processes/upload", data=broken, content_type="multipart/form-data")
    assert refused.status_code == 422 and 'data-testid="validation-errors"' in refused.get_data(as_text=True)
    assert _ids(orc)[1] == new_version


def test_modeler_validate_names_file_element_and_line(world):
    app, orc = world
    stage = _new_stage(orc)  # names a form that is not in the bundle
    response = _client(app, "owner").post("/processes/validate.json", json={"files": {INTAKE_STAGE: stage}})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert any(e["file"] == INTAKE_STAGE and e["element"] == "photograph_unit" and e["line"] for e in errors), errors
    ok = _client(app, "owner").post(
        "/processes/validate.json",
        json={
            "files": {
                INTAKE_STAGE: stage,
                "forms/photograph_unit.json": simple_form("Photo", "photo_notes", "Photo notes"),
            }
        },
    )
    assert ok.status_code == 200 and ok.get_json()["valid"] is True


def test_modeler_deploy_respects_centre_scope(world):
    app, orc = world
    files = {INTAKE_STAGE: _new_stage(orc), "forms/photograph_unit.json": simple_form("P", "photo_notes", "Notes")}
    assert _client(app, "sg.owner").post("/processes/deploy.json", json={"files": files}).status_code == 403
    assert (
        _client(app, "sg.owner").post("/processes/deploy.json", json={"files": files, "centre": "DE"}).status_code
        == 403
    )
    assert _client(app, "manager").post("/processes/deploy.json", json={"files": files}).status_code == 403
    assert _client(app, "manager").post("/processes/upload", data={"centre": ""}).status_code == 403
    assert _client(app, "sg.owner").post("/processes/validate.json", json={"files": files}).status_code == 403
    made = _client(app, "sg.owner").post("/processes/deploy.json", json={"files": files, "centre": "SG", "note": "n"})
    assert made.status_code == 201 and made.get_json()["centre"] == "SG"
    assert _ids(orc, "SG")[2][INTAKE_STAGE] == files[INTAKE_STAGE]


def test_form_preview_renders_fields_as_staff_see_them(world):
    app, _orc = world
    client = _client(app, "owner")
    html = client.post(
        "/processes/form-preview",
        data=simple_form("Photo", "photo_notes", "Photo notes"),
        content_type="application/json",
    ).get_data(as_text=True)
    assert 'id="f-photo_notes"' in html and "Photo notes" in html
    bad = client.post("/processes/form-preview", data="{not json", content_type="application/json")
    assert bad.status_code == 422 and "form-preview-problem" in bad.get_data(as_text=True)


def test_variant_diff_page_shows_both_diagrams_of_changed_stages(world):
    app, orc = world
    de_id = _ids(orc, "DE")[0]
    html = _client(app, "owner").get(f"/processes/{de_id}/diff").get_data(as_text=True)
    assert 'data-stage="rma_repair"' in html and 'data-side="base"' in html and 'data-side="variant"' in html
    assert _client(app, "sg.owner").get(f"/processes/{de_id}/diff").status_code == 403


def test_migration_preview_then_bulk_apply(world):
    app, orc = world
    add_plain_centre(orc, "NL")  # its RMAs run the base processes
    rma = rmas.open_rma(orc, actor(orc, "nl.reception"), rma_payload(centre="NL"))
    processes.deploy_bundle(
        orc,
        actor(orc, "owner"),
        {INTAKE_STAGE: _new_stage(orc), "forms/photograph_unit.json": simple_form("P", "photo_notes", "Notes")},
        merge=True,
        note="photos",
    )
    new_id = _ids(orc)[0]
    client = _client(app, "owner")
    preview = client.get(f"/processes/{new_id}/migrate").get_data(as_text=True)
    assert rma["number"] in preview and 'data-testid="movable"' in preview
    applied = client.post(f"/processes/{new_id}/migrate", data={"rma_ids": [str(rma["id"])]})
    html = applied.get_data(as_text=True)
    assert applied.status_code == 200 and 'data-testid="moved"' in html and rma["number"] in html
    assert re.search(r"Moved \(1\)", html)
    new_version = _ids(orc)[1]
    now_on = re.search(r'data-testid="now-on">([^<]*)<', html)  # the version it is on now, not the one it left
    assert now_on and now_on.group(1) == f"Base processes v{new_version}", html


def test_migration_preview_says_why_an_rma_cannot_move(world):
    app, orc = world
    add_plain_centre(orc, "NL")
    rma = rmas.open_rma(orc, actor(orc, "nl.reception"), rma_payload(centre="NL"))  # waits on record_condition
    renamed = _ids(orc)[2][INTAKE_STAGE].replace('name="Record condition"', 'name="Record the unit condition"')
    processes.deploy_bundle(orc, actor(orc, "owner"), {INTAKE_STAGE: renamed}, merge=True, note="rename")
    client = _client(app, "owner")
    preview = client.get(f"/processes/{_ids(orc)[0]}/migrate").get_data(as_text=True)
    blocked = preview[preview.index('data-testid="blocked"') :]
    assert rma["number"] in blocked and "record_condition" in blocked
    assert 'data-testid="movable"' not in preview


def test_a_centre_owner_is_offered_moves_only_for_its_own_variant(world):
    app, orc = world
    html = _client(app, "sg.owner").get("/processes").get_data(as_text=True)
    assert f"/processes/{_ids(orc)[0]}/migrate" not in html
    everything = _client(app, "owner").get("/processes").get_data(as_text=True)
    assert f"/processes/{_ids(orc)[0]}/migrate" in everything


def test_modeler_validate_answers_what_would_change_for_the_deploy_confirmation(any_db_world):
    app, orc = any_db_world
    renamed = _ids(orc)[2][INTAKE_STAGE].replace('name="Record condition"', 'name="Record the unit condition"')
    answer = _client(app, "owner").post("/processes/validate.json", json={"files": {INTAKE_STAGE: renamed}})
    assert answer.status_code == 200
    [stage] = answer.get_json()["changes"]["stages"]
    assert (stage["process"], stage["file"], stage["status"]) == ("rma_intake", INTAKE_STAGE, "changed")
    assert [(e["id"], e["name"]) for e in stage["changed"]] == [("record_condition", "Record the unit condition")]
    assert _ids(orc)[2][INTAKE_STAGE] != renamed  # a dry run: nothing stored


def test_owner_pages_are_never_served_from_a_cache_after_a_deploy_or_migration(any_db_world):
    app, orc = any_db_world
    client = _client(app, "owner")
    bundle_id = _ids(orc)[0]
    for url in ("/processes", f"/processes/{bundle_id}", f"/processes/{bundle_id}/edit/{INTAKE_STAGE}"):
        assert "no-store" in client.get(url).headers["Cache-Control"], url
    migrated = client.post(f"/processes/{bundle_id}/migrate", data={})
    assert migrated.status_code == 200 and "no-store" in migrated.headers["Cache-Control"]
