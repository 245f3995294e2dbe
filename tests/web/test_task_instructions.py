"""Issue 15.8: `spiffworkflow:instructionsForEndUser` (Markdown with Jinja over the task data, as SpiffArena has
it) in `GET /api/tasks/<id>`: filled in, rendered without letting HTML through, and never a 500."""

from __future__ import annotations

import time

from tests.bpmn_edit import line_of
from tests.helpers import INTAKE, rma_payload
from tests.web.test_feel_decisions import deploy, diagnosis_variant, variant

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> {{ 7 * 7 }}'
DIAGNOSIS = {"diagnosis": "Dead board", "fault_category": "electronic", "parts_cost": 5, "labour_hours": 3}


def _review_task(api, fault_description: str = "Does not power on") -> dict:
    payload = {**rma_payload(centre="DE"), "fault_description": fault_description}
    created = api.post("de.reception", "/api/rmas", payload)
    assert created.status_code == 201, created.get_json()
    rma = created.get_json()
    api.do("de.reception", rma["id"], "record_condition", INTAKE)
    api.do("de.tech", rma["id"], "diagnose", DIAGNOSIS)
    task = api.only_task("de.tech", rma["id"])
    shown = api.get("de.tech", f"/api/tasks/{task['id']}")
    assert shown.status_code == 200, shown.get_json()
    return shown.get_json()


def _deployed(api, instructions: str) -> None:
    response = deploy(api, variant(**{"rma_diagnosis.bpmn": diagnosis_variant(instructions)}))
    assert response.status_code == 201, response.get_json()


def test_instructions_are_filled_in_and_rendered_without_html_from_the_text_or_the_data(api):
    _deployed(
        api,
        "## Check {{ product_model }}\n\n"
        "The customer wrote: *{{ fault_description }}*\n\n"
        "Band **{{ band }}**, parts {{ parts_cost }}. <b>raw html</b> [click](javascript:alert(1))",
    )
    task = _review_task(api, fault_description=HOSTILE)
    assert task["instructions_error"] is None
    text, html = task["instructions"], task["instructions_html"]
    assert text.startswith("## Check Vista X100 Camera")
    assert "Band **low**, parts 5." in text
    assert HOSTILE in text  # the data is put in as it is: a value is never run as a template ({{ 7 * 7 }} stays)
    assert "<h2>Check Vista X100 Camera</h2>" in html and "<strong>low</strong>" in html
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; {{ 7 * 7 }}"
    assert f"<em>{escaped}</em>" in html
    assert "&lt;b&gt;raw html&lt;/b&gt;" in html
    for forbidden in ("<script", "<img", "<b>", 'javascript:alert(1)"', 'href="javascript'):
        assert forbidden not in html, forbidden


def test_a_task_without_instructions_has_none(api):
    rma = api.open_rma("de.reception", centre="DE")
    task = api.only_task("de.reception", rma["id"])
    shown = api.get("de.reception", f"/api/tasks/{task['id']}").get_json()
    assert "instructions" not in shown and "instructions_html" not in shown


def test_instructions_that_cannot_be_filled_in_show_as_written_with_the_reason(api):
    _deployed(api, "Call {{ supplier_phone }} about **{{ product_model }}**")
    task = _review_task(api)
    assert task["instructions"] == "Call {{ supplier_phone }} about **{{ product_model }}**"
    assert "'supplier_phone' is undefined" in task["instructions_error"]
    assert "<strong>{{ product_model }}</strong>" in task["instructions_html"]


def test_instructions_that_run_away_are_cut_short_not_a_hang(api):
    _deployed(api, "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}done")
    started = time.monotonic()
    task = _review_task(api)
    assert time.monotonic() - started < 10
    assert "longer than" in task["instructions_error"]
    for huge in (
        "{{ 'x' * 1000000000 }}",
        "{{ 'x'.ljust(1000000000) }}",
        "{{ '{:>1000000000}'.format(1) }}",
        "{{ range(100000)|join('y' * 50000) }}",
    ):
        _deployed(api, huge)
        task = _review_task(api)
        assert task["instructions"] == huge and task["instructions_error"], huge


def test_instructions_with_a_jinja_syntax_error_are_refused_at_deploy(api):
    stage = diagnosis_variant("Fine\n{% if band %}\nno end")
    response = deploy(api, variant(**{"rma_diagnosis.bpmn": stage}))
    assert response.status_code == 422, response.get_json()
    [error] = response.get_json()["errors"]
    assert error["file"] == "stages/rma_diagnosis.bpmn" and error["element"] == "review_classification"
    assert "Jinja syntax error" in error["message"]
    assert error["line"] == line_of(stage, "no end")
