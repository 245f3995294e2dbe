"""Staff pages beyond the happy path: read-only views for managers, and a task someone else took."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from engine.services import rmas, tasks, users
from tests.helpers import actor, rma_payload

from .pages import go, log_in

pytestmark = pytest.mark.browser


def test_manager_sees_open_tasks_read_only(page: Page, live_server):
    orc = live_server.orc
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    log_in(page, "manager")
    row = page.get_by_role("row").filter(has_text=rma["number"])
    expect(row).to_contain_text("Record condition")
    expect(row.get_by_role("button", name="Claim")).to_have_count(0)
    row.get_by_role("link", name=f"Open Record condition of {rma['number']}").click()
    expect(page.get_by_text("you can view it but not complete it")).to_be_visible()
    expect(page.get_by_role("button", name="Complete task")).to_have_count(0)
    expect(page.get_by_label("Condition notes")).to_be_disabled()


def test_completing_a_task_someone_else_claimed_meanwhile_says_so(page: Page, live_server):
    orc = live_server.orc
    users.add_user(orc, "sg.reception2", "reception", "SG", "demo")
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    log_in(page, "sg.reception")
    page.get_by_role("link", name=f"Open Record condition of {rma['number']}").click()
    other = actor(orc, "sg.reception2")
    tasks.claim_task(orc, other, tasks.list_tasks(orc, other, rma_id=rma["id"])["items"][0]["id"])

    page.get_by_label("Condition grade").select_option("A")
    page.get_by_label("Condition notes").fill("Clean")
    page.get_by_label("Customer acknowledged the recorded condition").check()
    page.get_by_role("button", name="Complete task").click()
    expect(page.get_by_role("alert")).to_contain_text("claimed by sg.reception2")
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=rma["number"])
    expect(row).to_contain_text("sg.reception2")
    expect(row.get_by_role("button", name="Claim")).to_have_count(0)


def test_new_rma_is_refused_a_future_purchase_date_and_keeps_what_was_typed(page: Page, live_server):
    log_in(page, "sg.reception")
    go(page, "New RMA")
    page.get_by_label("Customer name").fill("Kim Tan")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Purchase date").fill("2999-01-01")
    page.get_by_role("button", name="Open RMA").click()
    expect(page.locator("#customer_email-errors")).to_contain_text("Enter an email address")
    expect(page.locator("#purchase_date-errors")).to_have_text("Must not be in the future.")
    expect(page.locator("#product_model-errors")).to_have_text("This field is required.")
    expect(page.get_by_label("Customer name")).to_have_value("Kim Tan")
    assert rmas.list_rmas(live_server.orc, actor(live_server.orc, "manager"))["total"] == 0
