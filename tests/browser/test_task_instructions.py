"""Issue 15.8 in real Chromium: a task's instructions (spiffworkflow:instructionsForEndUser) on the staff task page,
Markdown filled in with the task data; HTML in the text or in the customer's words shows as text and runs nothing,
and the page keeps its Content-Security-Policy (the page fixture fails on any violation)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from engine.services import processes, rmas
from tests.bpmn_edit import simple_form
from tests.driver import complete_open_task, find_task
from tests.helpers import INTAKE, actor, rma_payload
from tests.web.test_feel_decisions import FEEL_BAND, diagnosis_variant, triage_dmn

from .pages import log_in

pytestmark = pytest.mark.browser
SCREENSHOTS = os.environ.get("RMA_TEST_SCREENSHOTS")
INSTRUCTIONS = (
    "## Check the classification\n\n"
    "The decision put this unit in band **{{ band }}** ({{ matched|join(', ') }}).\n\n"
    "- The customer wrote: *{{ fault_description }}*\n"
    "- Call the workshop if the band is `high`\n\n"
    '<script>window.injected = "text"</script>'
)
HOSTILE = '<img src=x onerror="window.injected=\'data\'"><script>window.injected="data"</script>'


def test_the_task_page_shows_the_instructions_and_runs_nothing_they_carry(page: Page, live_server):
    orc = live_server.orc
    files = {
        "stages/rma_diagnosis.bpmn": diagnosis_variant(INSTRUCTIONS),
        "decisions/feel_triage.dmn": triage_dmn(),
        "decisions/feel_band.dmn": FEEL_BAND,
        "forms/review_classification.json": simple_form("Review", "reviewed_by", "Reviewed by"),
    }
    processes.deploy_bundle(orc, actor(orc, "owner"), files, centre="DE", merge=True)
    opened = rmas.open_rma(orc, actor(orc, "de.reception"), {**rma_payload(centre="DE"), "fault_description": HOSTILE})
    complete_open_task(orc, "de.reception", opened["id"], "record_condition", INTAKE)
    complete_open_task(
        orc,
        "de.tech",
        opened["id"],
        "diagnose",
        {"diagnosis": "Dead board", "fault_category": "electronic", "parts_cost": 5, "labour_hours": 3},
    )
    task = find_task(orc, "de.tech", opened["id"], "review_classification")

    log_in(page, "de.tech")
    page.goto(f"/tasks/{task['id']}")
    box = page.get_by_test_id("task-instructions")
    expect(box.get_by_role("heading", name="Check the classification")).to_be_visible()
    expect(box).to_contain_text("band low (list, not, closed_range")
    expect(box.locator("strong")).to_have_text("low")
    expect(box.locator("code")).to_have_text("high")
    expect(box.locator("li")).to_have_count(2)
    # the customer's words and the text's own HTML are shown as text: no element, nothing run
    expect(box.locator("em")).to_have_text(HOSTILE)
    expect(box).to_contain_text('<script>window.injected = "text"</script>')
    assert box.locator("img, script").count() == 0
    assert page.evaluate("window.injected === undefined")
    expect(page.get_by_test_id("instructions-error")).to_have_count(0)
    assert page.console_errors == []
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / "task-instructions.png"), full_page=True)
