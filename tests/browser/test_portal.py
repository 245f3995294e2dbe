"""The customer's tracking page: what the customer sees, and what staff-only detail it keeps back."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from engine.services import centres, rmas, tasks
from tests.helpers import INTAKE, actor, rma_payload

from .pages import DESKTOP_AND_PHONE, shoot

pytestmark = pytest.mark.browser

STAFF_SECRETS = ("sg.reception", "sg.tech", "Clean unit", "Capacitor C12 blown", "Internal: customer was rude")


def rma_awaiting_approval(orc) -> dict:
    """An out-of-warranty RMA, condition recorded and diagnosed (with internal notes) by named staff."""
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=36, serial="SN-PORTAL"))
    for username, data in (
        ("sg.reception", INTAKE),
        (
            "sg.tech",
            {
                "diagnosis": "Capacitor C12 blown  Internal: customer was rude",
                "fault_category": "electronic",
                "parts_cost": 100,
                "labour_hours": 2,
            },
        ),
    ):
        worker = actor(orc, username)
        task = tasks.list_tasks(orc, worker, rma_id=rma["id"])["items"][0]
        tasks.claim_task(orc, worker, task["id"])
        tasks.complete_task(orc, worker, task["id"], data)
    return rmas.get_rma(orc, actor(orc, "manager"), rma["id"])


def test_tracking_page_shows_progress_and_quote_but_no_staff_names_or_notes(page: Page, live_server):
    rma = rma_awaiting_approval(live_server.orc)
    page.goto(f"/track/{rma['tracking_token']}")

    expect(page.get_by_test_id("portal-number")).to_have_text(rma["number"])
    expect(page.get_by_test_id("portal-status")).to_have_text("Waiting for your approval of the quote")
    expect(page.get_by_test_id("quote-total")).to_have_text("220.00 SGD")
    expect(page.get_by_role("button", name="Approve the repair")).to_be_visible()
    expect(page.get_by_role("button", name="Decline")).to_be_visible()
    expect(page.get_by_test_id("milestones")).to_contain_text("Repair request registered")
    expect(page.locator("[aria-current=step]")).to_contain_text("Your approval")
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    html = page.content()
    for secret in STAFF_SECRETS:
        assert secret not in html, f"the customer page shows staff-only detail: {secret!r}"


def test_declining_asks_for_confirmation_then_repair_and_qa_are_not_ticked(page: Page, live_server):
    centres.seed_demo_locations(live_server.orc)  # the centre's contact is on the page
    rma = rma_awaiting_approval(live_server.orc)
    page.goto(f"/track/{rma['tracking_token']}")
    expect(page.get_by_test_id("quote-diagnosis")).to_have_text("An electronic fault")
    expect(page.get_by_test_id("quote-tax")).to_have_text("Prices do not include tax; tax is added on the invoice.")
    page.get_by_role("button", name="Decline").click()

    confirm = page.get_by_test_id("confirm-decline")  # nothing is recorded yet: the customer is asked first
    expect(confirm).to_contain_text("we send it back to you unrepaired")
    expect(page.get_by_test_id("portal-status")).to_have_text("Waiting for your approval of the quote")
    shoot(page, "customer-decline-confirmation", widths=DESKTOP_AND_PHONE)
    confirm.get_by_role("link", name="No, back to the quote").click()
    expect(page.get_by_test_id("confirm-decline")).to_have_count(0)
    expect(page.get_by_role("button", name="Approve the repair")).to_be_visible()

    page.get_by_role("button", name="Decline").click()
    page.get_by_role("button", name="Yes, decline and send it back").click()
    expect(page.get_by_role("status").filter(has_text="you declined the quote")).to_be_visible()
    expect(page.get_by_test_id("portal-status")).to_have_text("Being packed and sent back to you")
    expect(page.get_by_role("button", name="Decline")).to_have_count(0)
    steps = page.locator(".stepper .step")
    expect(steps.locator(".step-title")).to_have_text(
        ["Received", "Diagnosis", "Your approval", "On its way back", "Completed"]
    )  # repair and QA did not happen and will not: they are not shown, let alone ticked
    expect(page.locator(".step-done .step-title")).to_have_text(["Received", "Diagnosis", "Your approval"])
    expect(page.get_by_test_id("centre-contact")).to_contain_text("+65 6123 4567")
    expect(page.get_by_test_id("contact-email")).to_have_text("service.sg@example.com")
    shoot(page, "customer-tracking-after-decline", widths=DESKTOP_AND_PHONE)


def test_unknown_tracking_link_shows_not_found(page: Page):
    response = page.goto("/track/not-a-real-token")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_text("Please check the link in your message")).to_be_visible()


def test_a_decision_without_the_pages_csrf_token_is_refused(page: Page, live_server):
    rma = rma_awaiting_approval(live_server.orc)
    response = page.request.post(
        f"/track/{rma['tracking_token']}/decision", form={"approve": "true"}, headers={"Accept": "text/html"}
    )
    assert response.status == 400
    page.goto(f"/track/{rma['tracking_token']}")
    expect(page.get_by_test_id("portal-status")).to_have_text("Waiting for your approval of the quote")
