"""QA fails a repair with a reason, the technician reworks it with that reason in front of them, and the RMA
page's service record shows both visits of repair and QA (issue 16, points 1-3), in real Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from engine.services import portal, rmas
from tests.driver import complete_open_task, find_task
from tests.helpers import INTAKE, actor, rma_payload

from .pages import DESKTOP_AND_PHONE, choose, log_in, log_out, shoot

pytestmark = pytest.mark.browser


def _repaired_once(orc) -> dict:
    """An out-of-warranty camera, diagnosed, quoted, approved and repaired once: QA is next."""
    opened = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=30, serial="VX100-90001"))
    complete_open_task(
        orc, "sg.reception", opened["id"], "record_condition", {**INTAKE, "condition_notes": "Scuffed grip"}
    )
    complete_open_task(
        orc,
        "sg.tech",
        opened["id"],
        "diagnose",
        {"diagnosis": "Main board shorted", "fault_category": "electronic", "parts_cost": 100, "labour_hours": 2},
    )
    portal.record_customer_decision(orc, opened["tracking_token"], True)
    complete_open_task(orc, "sg.tech", opened["id"], "repair", {"repair_notes": "Replaced the main board"})
    return opened


def test_failed_qa_needs_a_reason_the_rework_shows_it_and_the_record_keeps_both_visits(page: Page, live_server):
    orc = live_server.orc
    rma = _repaired_once(orc)

    log_in(page, "sg.qa")
    page.goto(f"/tasks/{find_task(orc, 'sg.qa', rma['id'], 'qa_check')['id']}")
    choose(page, "QA passed", "Failed")
    page.get_by_role("button", name="Complete task").click()  # a fail without a reason is refused
    expect(page.locator("#qa_notes-errors")).to_have_text("This field is required.")
    expect(page.get_by_role("group", name="QA passed").get_by_label("Failed", exact=True)).to_be_checked()
    page.get_by_label("QA notes").fill("Power button intermittent")
    page.get_by_role("button", name="Complete task").click()
    expect(page.get_by_role("status").filter(has_text="completed")).to_be_visible()
    log_out(page)

    log_in(page, "sg.tech")
    page.goto(f"/tasks/{find_task(orc, 'sg.tech', rma['id'], 'repair')['id']}")
    banner = page.get_by_test_id("rework-banner")
    expect(banner).to_contain_text("quality check failed")
    expect(banner).to_contain_text("Power button intermittent")
    context = page.get_by_test_id("task-context")
    expect(context.get_by_test_id("context-fault")).to_have_text("Does not power on")
    expect(context.get_by_test_id("context-intake")).to_contain_text("Scuffed grip")
    expect(context.get_by_test_id("context-warranty")).to_contain_text("Out of warranty: Warranty expired")
    expect(context.get_by_test_id("context-quote")).to_contain_text("220.00 SGD")
    expect(context.get_by_test_id("context-quote")).to_contain_text("The customer's answer: Approve")
    shoot(page, "staff-task-page-with-context", widths=DESKTOP_AND_PHONE)
    page.get_by_label("Repair notes").fill("Replaced the power button")
    page.get_by_role("button", name="Complete task").click()
    expect(page.get_by_role("status").filter(has_text="completed")).to_be_visible()

    page.goto(f"/rmas/{rma['id']}")
    record = page.get_by_test_id("service-record")
    visits = record.get_by_test_id("visit")
    expect(visits).to_have_count(6)  # intake, diagnosis, approval, repair, QA, repair again
    expect(record.locator('[data-stage="repair"][data-visit="2"]')).to_contain_text("Replaced the power button")
    expect(record.locator('[data-stage="repair"][data-visit="1"]')).to_contain_text("Replaced the main board")
    failed = record.locator('[data-stage="qa"][data-visit="1"]')
    expect(failed).to_contain_text("Failed")
    expect(failed).to_contain_text("Power button intermittent")
    expect(failed).to_contain_text("by sg.qa")
    expect(record).to_contain_text("100.00 SGD")
    shoot(page, "staff-rma-service-record", record, widths=DESKTOP_AND_PHONE)

    failed.get_by_role("link", name="Quality check").click()  # the completed task, read-only
    expect(page.get_by_test_id("submitted")).to_contain_text("Power button intermittent")
    expect(page.get_by_role("button", name="Complete task")).to_have_count(0)
