"""The whole repair journey as the people involved click through it, in real Chromium."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from .pages import choose, complete, go, log_in, log_out, open_task

pytestmark = pytest.mark.browser


def open_camera_rma(page: Page) -> str:
    """Reception registers an out-of-warranty camera; returns its RMA number."""
    go(page, "New RMA")
    expect(page.get_by_label("Service centre")).to_have_value("SG")
    page.get_by_label("Customer name").fill("Kim Tan")
    page.get_by_label("Email").fill("kim@example.com")
    page.get_by_label("Phone").fill("+65 9000 0000")
    page.get_by_label("Product model").fill("Vista X100 Camera")
    page.get_by_label("Serial number").fill("VX100-90001")
    page.get_by_label("Purchase date").fill((date.today() - timedelta(days=3 * 365)).isoformat())
    page.get_by_label("Category").select_option("camera")
    page.get_by_label("Fault description").fill("Does not power on")
    page.get_by_role("button", name="Open RMA").click()
    opened = page.get_by_role("status").filter(has_text="opened")
    expect(opened).to_be_visible()
    expect(page.get_by_role("heading", level=1, name="Record condition")).to_be_visible()  # reception's next step
    number = re.search(r"RMA-SG-\d{6}", opened.inner_text()).group(0)
    assert re.fullmatch(r"RMA-SG-\d{6}", number)
    return number


def record_condition_with_one_mistake(page: Page, number: str) -> None:
    open_task(page, number, "Record condition")
    page.get_by_label("Condition grade").select_option("B")
    page.get_by_role("button", name="Complete task").click()  # notes missing, acknowledgement unticked
    expect(page.get_by_role("alert").filter(has_text="Please correct the highlighted fields")).to_be_visible()
    notes = page.get_by_label("Condition notes")
    expect(notes).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#condition_notes-errors")).to_have_text("This field is required.")
    expect(page.locator("#customer_acknowledged-errors")).to_have_text("Must be checked.")
    expect(page.get_by_label("Condition grade")).to_have_value("B")  # what was entered is kept
    notes.fill("Light scuffs on the grip")
    page.get_by_label("Accessories received").fill("Battery, strap")
    page.get_by_label("Customer acknowledged the recorded condition").check()
    complete(page, "Diagnosing")


def diagnose(page: Page, number: str) -> None:
    open_task(page, number, "Diagnose fault", claim=True)
    page.get_by_label("Diagnosis").fill("Main board shorted")
    page.get_by_label("Fault category").select_option("electronic")
    page.get_by_label("Estimated parts cost").fill("100")
    page.get_by_label("Estimated labour (hours)").fill("2")
    complete(page, "Awaiting approval")
    expect(page.get_by_test_id("rma-quote")).to_have_text("220.00 SGD")


def expect_diagram_highlights(page: Page, element_id: str) -> None:
    diagram = page.locator("#rma-diagram")
    expect(diagram).to_have_attribute("data-ready", "true")
    expect(diagram.locator("svg").first).to_be_visible()
    expect(diagram.locator(f'[data-highlighted~="{element_id}"] svg').first).to_be_visible()
    expect(diagram.locator(f'.djs-element.rma-current[data-element-id="{element_id}"]')).to_have_count(1)


def customer_approves(page: Page, track_url: str) -> None:
    page.goto(track_url)
    expect(page.get_by_test_id("portal-status")).to_have_text("Waiting for your approval of the quote")
    expect(page.get_by_test_id("quote-total")).to_have_text("220.00 SGD")
    page.get_by_role("button", name="Approve the repair").click()
    expect(page.get_by_role("status").filter(has_text="you approved the quote")).to_be_visible()
    expect(page.get_by_test_id("portal-status")).to_have_text("Being repaired")
    expect(page.get_by_role("button", name="Approve the repair")).to_have_count(0)
    expect(page.get_by_test_id("milestones")).to_contain_text("You approved the quote")


def repair(page: Page, number: str, notes: str) -> None:
    open_task(page, number, "Repair unit")
    page.get_by_label("Repair notes").fill(notes)
    complete(page, "Quality check")


def quality_check(page: Page, number: str, passed: bool) -> None:
    open_task(page, number, "Quality check")
    if not passed:  # submitting without an answer must not count as a pass or a fail
        page.get_by_role("button", name="Complete task").click()
        expect(page.locator("#qa_passed-errors")).to_have_text("This field is required.")
    choose(page, "QA passed", "Passed" if passed else "Failed")
    page.get_by_label("QA notes").fill("All functions OK" if passed else "Power button intermittent")
    complete(page, "Returning" if passed else "Repairing")


def test_out_of_warranty_camera_is_repaired_after_a_failed_qa(page: Page, browser, live_server):
    page.goto("/")
    log_in(page, "sg.reception")
    number = open_camera_rma(page)
    # reception sends the customer the tracking link; technicians and QA never see it (issue 20.10)
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=number).click()
    track_url = page.get_by_test_id("tracking-link").get_attribute("href")
    record_condition_with_one_mistake(page, number)
    log_out(page)

    log_in(page, "sg.tech")
    diagnose(page, number)
    expect_diagram_highlights(page, "customer_approval")
    expect_diagram_highlights(page, "stage_approval")
    expect(page.get_by_test_id("tracking-link")).to_have_count(0)

    customer = browser.new_context(base_url=live_server.url)
    try:
        customer_approves(customer.new_page(), track_url)
    finally:
        customer.close()

    repair(page, number, "Replaced the main board")
    log_out(page)
    log_in(page, "sg.qa")
    quality_check(page, number, passed=False)
    log_out(page)
    log_in(page, "sg.tech")
    repair(page, number, "Replaced the power button")
    log_out(page)
    log_in(page, "sg.qa")
    quality_check(page, number, passed=True)
    log_out(page)

    log_in(page, "sg.reception")
    open_task(page, number, "Ship unit back")
    page.get_by_label("Carrier").fill("SingPost")
    page.get_by_label("Tracking number").fill("SP123456789SG")
    complete(page, "Closed")

    expect(page.get_by_test_id("rma-outcome")).to_have_text("Repaired")
    expect(page.get_by_text("This RMA is closed.")).to_be_visible()
    history = page.get_by_test_id("history")
    for text in (
        "opened for Vista X100 Camera",
        "Record condition completed",
        "quote approved",
        "Quality check completed",
        "closed: repaired",
    ):
        expect(history).to_contain_text(text)
    expect(history.locator("li").filter(has_text="quote approved")).to_contain_text("by the customer")
    diagram = page.locator("#rma-diagram")
    expect(diagram).to_have_attribute("data-ready", "true")
    expect(diagram.locator("svg").first).to_be_visible()
    expect(diagram.get_by_text("Whole process")).to_be_visible()
    assert page.console_errors == []

    go(page, "RMAs")
    page.get_by_role("searchbox", name="Search").fill("VX100-90001")
    page.get_by_role("button", name="Search").click()
    row = page.get_by_test_id("rma-list").get_by_role("row").filter(has_text=number)
    expect(row).to_contain_text("Closed")
    expect(row).to_contain_text("Repaired")
