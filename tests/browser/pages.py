"""What a person does on the staff pages, as small steps the journeys are written in."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

PASSWORD = "demo"  # the demo accounts created by engine.demo
# RMA_TEST_SCREENSHOTS=docs/screenshots: the browser tests save the pages they pass there (see `shoot`)
SCREENSHOTS = os.environ.get("RMA_TEST_SCREENSHOTS")
DESKTOP_AND_PHONE = ((1280, ""), (390, "-390px"))
PHONE = {"width": 390, "height": 844}  # a phone at the bench


def shoot(page: Page, name: str, part: Locator | None = None, widths: tuple = ()) -> None:
    """Save `name`.png into RMA_TEST_SCREENSHOTS (when set): the whole page, or only `part`; with `widths`
    ((width, suffix), ...) once per width, named `name` + suffix, and the page back at 1280 px after."""
    if not SCREENSHOTS:
        return
    Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
    for width, suffix in widths or ((None, ""),):
        if width is not None:
            page.set_viewport_size({"width": width, "height": 900})
        path = str(Path(SCREENSHOTS) / f"{name}{suffix}.png")
        if part is not None:
            part.screenshot(path=path)
        else:
            page.screenshot(path=path, full_page=True)
    if widths:
        page.set_viewport_size({"width": 1280, "height": 900})


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
