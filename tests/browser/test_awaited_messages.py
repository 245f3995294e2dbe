"""Issue 15.4 in Chromium: the staff RMA page says which message the process waits for, and how it is delivered,
while it waits; once an integrator delivered it, the page no longer says so."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from engine import Actor
from engine.services import process_messages, processes, rmas
from tests.browser.pages import log_in
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload
from tests.web.test_runtime_incidents_and_messages import AWAIT_CUSTOMS, CUSTOMS_MESSAGE, intake

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "rma_waiting_for_message.png"


def test_the_rma_page_shows_the_message_it_waits_for_until_it_is_delivered(page, live_server):
    orc = live_server.orc
    processes.deploy_bundle(
        orc,
        Actor("owner", "process_owner"),
        {"stages/rma_intake.bpmn": intake(AWAIT_CUSTOMS, CUSTOMS_MESSAGE)},
        centre="DE",
        merge=True,
    )
    rma = rmas.open_rma(orc, actor(orc, "de.reception"), rma_payload(centre="DE", serial="SN-CUSTOMS"))
    complete_open_task(orc, "de.reception", rma["id"], "record_condition", INTAKE)
    log_in(page, "de.reception")
    page.goto(f"/rmas/{rma['id']}")
    waiting = page.locator("[data-awaited-messages]")
    expect(waiting).to_contain_text("Waiting for customs_cleared")
    expect(waiting).to_contain_text(f"POST /api/rmas/{rma['id']}/messages/customs_cleared")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.locator("#tasks-title").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOT))
    process_messages.deliver(orc, actor(orc, "de.tech"), rma["id"], "customs_cleared", {"reference": "C-9"})
    page.reload()
    expect(page.locator("[data-awaited-messages]")).to_have_count(0)
    expect(page.get_by_role("link", name="Diagnose")).to_be_visible()
