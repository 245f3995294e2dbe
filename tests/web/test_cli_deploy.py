"""`rma deploy` does what the processes page's upload does (issue 15.11): files are laid over the centre's current
version by the same service function (deploy_upload), a folder is the whole bundle, and an unknown centre is a
one-line error, never a traceback."""

from __future__ import annotations

import io

from click.testing import CliRunner

from engine.services import processes
from tests.bpmn_edit import insert_user_task, simple_form
from web import cli

INTAKE = "stages/rma_intake.bpmn"
DE_REPAIR = "stages/rma_repair.bpmn"


def rma(orc, monkeypatch, *args):
    monkeypatch.setattr(cli, "_orchestrator", lambda: orc)
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def _latest(orc, centre):
    with orc.reading() as s:
        bundle = processes.latest_bundle(s, centre)
        return bundle.version, bundle.hash, dict(bundle.files)


def _photo_intake(files: dict) -> str:
    return insert_user_task(
        files[INTAKE], after="record_condition", task_id="photograph_unit", name="Photograph unit",
        form="photograph_unit.json", status="received",
    )  # fmt: skip


def _write(tmp_path, files: dict) -> list:
    paths = []
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def test_a_file_deployed_for_a_centre_is_laid_over_that_centre_s_current_version(orc, monkeypatch, tmp_path, api):
    version, _hash, de_files = _latest(orc, "DE")
    edited = {"rma_intake.bpmn": _photo_intake(de_files), "photograph_unit.json": simple_form("Photos", "p", "Photo")}
    # what the API's dry run (the upload page's Validate) says this upload becomes
    answer = api.client.post(
        "/api/processes/validate",
        data={"files": [(io.BytesIO(t.encode()), n) for n, t in edited.items()], "centre": "DE"},
        headers=api.headers("owner"),
        content_type="multipart/form-data",
    ).get_json()
    assert answer["valid"] is True, answer

    result = rma(orc, monkeypatch, "deploy", *_write(tmp_path, edited), "--centre", "DE", "--note", "photos")
    assert result.exit_code == 0, result.output
    new_version, new_hash, files = _latest(orc, "DE")
    assert new_version == version + 1 and f"v{new_version} {new_hash[:12]} (deployed)" in result.output
    assert new_hash == answer["hash"]  # the same bundle the upload page would deploy
    assert files[DE_REPAIR] == de_files[DE_REPAIR]  # the centre's own variant of repair is kept
    assert "photograph_unit" in files[INTAKE] and "forms/photograph_unit.json" in files
    assert set(files) == set(de_files) | {"forms/photograph_unit.json"}


def test_an_unknown_centre_is_one_line_and_nothing_is_deployed(orc, monkeypatch, tmp_path):
    _version, _hash, base = _latest(orc, None)
    paths = _write(tmp_path, {"rma_intake.bpmn": base[INTAKE]})
    result = rma(orc, monkeypatch, "deploy", *paths, "--centre", "XX")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: unknown centre XX"
    assert isinstance(result.exception, SystemExit)  # click's exit, not an uncaught error
    assert _latest(orc, None)[0] == _version


def test_a_refused_file_lists_file_line_element_and_reason(orc, monkeypatch, tmp_path):
    _version, _hash, base = _latest(orc, None)
    broken = base[INTAKE].replace('targetRef="record_condition"', 'targetRef="no_such_task"', 1)
    assert broken != base[INTAKE]
    result = rma(orc, monkeypatch, "deploy", *_write(tmp_path, {"rma_intake.bpmn": broken}))
    assert result.exit_code == 1
    assert f"{INTAKE}:" in result.output and "dangling sequence flow" in result.output
    assert _latest(orc, None)[0] == _version


def test_a_folder_is_the_whole_bundle_and_mixing_is_refused(orc, monkeypatch, tmp_path):
    version, _hash, _files = _latest(orc, "DE")
    result = rma(orc, monkeypatch, "deploy", orc.settings.processes_dir, "--centre", "DE")
    assert result.exit_code == 0, result.output
    assert f"bundle DE v{version}" in result.output and "(unchanged)" in result.output
    stray = _write(tmp_path, {"x.bpmn": "<x/>"})
    mixed = rma(orc, monkeypatch, "deploy", orc.settings.processes_dir, *stray)
    assert mixed.exit_code == 2 and "not both" in mixed.output
