"""What a person does on the staff pages, as small steps the journeys are written in."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

PASSWORD = "demo"  # the demo accounts created by engine.demo


def log_in(page: Page, username: str) -> None:
    page.goto("/inbox")
    expect(page.get_by_role("heading", name="Staff log in")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(page.get_by_test_id("current-user")).to_contain_text(username)


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Staff log in")).to_be_visible()


def go(page: Page, name: str) -> None:
    """Follow a link of the main navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def open_task(page: Page, rma_number: str, title: str, claim: bool = False) -> None:
    """From the inbox: open the task `title` of the RMA (claim: Start work, which claims and opens it)."""
    go(page, "Inbox")
    row = page.get_by_role("row").filter(has_text=rma_number).filter(has_text=title)
    expect(row).to_have_count(1)
    if claim:
        row.get_by_role("button", name=f"Start work on {title} of {rma_number}").click()
    else:
        row.get_by_role("link", name=f"Open {title} of {rma_number}").click()
    expect(page.get_by_role("heading", level=1, name=title, exact=True)).to_be_visible()
    if claim:
        expect(page.get_by_role("button", name=re.compile(f"^Release {re.escape(title)}"))).to_be_visible()


def complete(page: Page, expect_status: str) -> None:
    """Submit the task form: the worker lands on their next task or the inbox with a message (after the intake:
    on the receipt to print); the RMA page then shows the new status."""
    rma_url = page.get_by_role("navigation", name="Breadcrumb").get_by_role("link").nth(1).get_attribute("href")
    page.get_by_role("button", name="Complete task").click()
    landed = page.get_by_role("status").filter(has_text="completed").or_(page.get_by_role("button", name="Print"))
    expect(landed.first).to_be_visible()
    assert rma_url
    page.goto(rma_url)
    expect(page.get_by_test_id("rma-status")).to_have_text(expect_status)


def choose(page: Page, group: str, option: str) -> None:
    page.get_by_role("group", name=re.compile(group)).get_by_label(option, exact=True).check()
