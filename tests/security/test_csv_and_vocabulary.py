"""CSV injection and the status vocabulary (issue 20, point 16).

Every CSV export goes through web.csv_export.csv_text, which prefixes a text cell a spreadsheet would read as a
formula (=, +, -, @, tab, CR) with '. Every rmaStatus on any task is a status word, checked at deploy by
check_bundle (file, element, line), and the deploy API answers 422 for one that is not.
"""

from __future__ import annotations

import csv
import io

import pytest

from engine import Actor
from engine.errors import InvalidProcess
from engine.process.definitions import parse_bundle, read_bundle_dir
from engine.services import dashboard as figures
from engine.services import processes
from tests.conftest import PROCESSES_DIR
from tests.helpers import staff_session
from tests.web.conftest import ApiDriver
from web.csv_export import csv_text, safe_cell

OWNER = Actor("owner", "process_owner")
FORMULAS = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "=cmd|' /C calc'!A0"]
STAGE = "stages/rma_diagnosis.bpmn"
GOOD = 'name="rmaStatus" value="diagnosing"'


@pytest.mark.parametrize("value", FORMULAS)
def test_a_formula_cell_is_prefixed(value):
    assert safe_cell(value) == "'" + value
    [row] = list(csv.reader(io.StringIO(csv_text(["h"], [[value]]))))[1:]
    assert row == ["'" + value]


@pytest.mark.parametrize("value", ["plain", "a=b", "", 5, -3, 2.5, None])
def test_other_cells_pass_unchanged(value):
    assert safe_cell(value) == value


def _dashboard_with(hostile: str) -> dict:
    from datetime import datetime

    return {
        "centre": None,
        "generated_at": datetime(2026, 1, 1),
        "by_status": [{"centre": hostile, "status": hostile, "count": 1}],
        "end_to_end": [{"centre": hostile, "period": hostile, "count": 1, "p50_hours": 1, "p90_hours": 2}],
        "stages": [
            {"centre": hostile, "stage": hostile, "period": "2026-01", "count": 1, "p50_hours": 1, "p90_hours": 2}
        ],
        "waiting": [
            {
                "stage": hostile,
                "element": hostile,
                "waiting_now": 1,
                "avg_age_hours": 1,
                "completed": 1,
                "avg_wait_hours": 1,
            }
        ],
        "breaches": {
            "per_month": [{"centre": hostile, "period": "2026-01", "count": 1}],
            "open": [{"centre": hostile, "stage": hostile, "task": hostile, "overdue_hours": 3}],
        },
    }


@pytest.mark.parametrize("value", FORMULAS)
def test_the_dashboard_export_neutralises_every_text_cell(client, monkeypatch, value):
    monkeypatch.setattr(figures, "dashboard", lambda *a, **k: _dashboard_with(value))
    with client.session_transaction() as session:
        staff_session(session, client.application, "manager")
    response = client.get("/manager/dashboard.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    cells = [c for row in rows[1:] for c in row]
    assert value not in cells and "'" + value in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


BAD_STATUSES = ["Diagnosing", "diagnosing now", "=1+1", "closed", "", "status.x", "é", "x" * 65]


def _files(status: str) -> dict:
    files = read_bundle_dir(PROCESSES_DIR)
    assert GOOD in files[STAGE]
    files[STAGE] = files[STAGE].replace(GOOD, f'name="rmaStatus" value="{status}"', 1)
    return files


@pytest.mark.parametrize("status", BAD_STATUSES)
def test_an_rma_status_outside_the_vocabulary_is_refused_naming_file_element_and_line(status):
    with pytest.raises(InvalidProcess) as info:
        parse_bundle(_files(status))
    found = [e for e in info.value.errors if "rmaStatus" in e["message"]]
    assert found, info.value.errors
    assert found[0]["file"] == STAGE and found[0]["element"] and found[0]["line"]


def test_the_shipped_statuses_deploy(orc):
    processes.deploy_bundle(orc, OWNER, read_bundle_dir(PROCESSES_DIR), note="shipped")


def test_the_deploy_api_answers_422_for_an_unknown_status(client):
    api = ApiDriver(client)
    bpmn = _files("Under Repair")[STAGE]
    response = client.post(
        "/api/processes/deploy",
        data={"files": [(io.BytesIO(bpmn.encode()), "rma_diagnosis.bpmn")]},
        headers=api.headers("owner"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 422, response.get_json()
    assert any("Under Repair" in e["message"] and e["line"] for e in response.get_json()["errors"])


def test_the_customer_texts_name_every_status_of_the_vocabulary():
    from engine.customer.customer_text import TEXT
    from engine.process.stages import CUSTOMER_STATUSES, LANGUAGES

    for lang in LANGUAGES:
        named = {k.removeprefix("status.") for k in TEXT[lang] if k.startswith("status.")} - {"closed"}
        assert named == CUSTOMER_STATUSES, lang


@pytest.mark.parametrize("status", ["repaired_fast", "shipping", "x1"])
def test_a_well_formed_status_outside_the_vocabulary_is_refused(status):
    with pytest.raises(InvalidProcess) as info:
        parse_bundle(_files(status))
    [found] = [e for e in info.value.errors if "vocabulary" in e["message"]]
    assert found["file"] == STAGE and found["element"] and found["line"] and status in found["message"]


def test_a_status_a_declared_stage_shows_deploys():
    files = _files("quality_check")  # another stage's portalStatus: in the vocabulary
    parse_bundle(files)
