"""Staff pages beyond the happy path: read-only views for managers, a task someone else took, and the staff menu
from a phone at the bench (390 px, behind one Menu button) to a wide desktop (one row for every role, issue 16)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from engine.services import rmas, tasks, users
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload
from tests.partner_world import PASSWORD as PARTNER_PASSWORD
from tests.partner_world import seed_partners

from .pages import PASSWORD, PHONE, go, log_in, shoot

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


def _console_errors(page: Page) -> list[str]:
    """Every console error from now on (the page fixture keeps uncaught exceptions and CSP reports)."""
    errors: list[str] = []

    def note(message) -> None:
        if message.type == "error":
            errors.append(f"{message.text} at {message.location['url']}")

    page.on("console", note)
    return errors


def _boxes(locator) -> list[dict]:
    boxes = [locator.nth(i).bounding_box() for i in range(locator.count())]
    assert boxes and all(boxes), boxes
    return [b for b in boxes if b]


def _on_screen(box: dict | None) -> bool:
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def test_at_390_px_the_menu_folds_behind_one_button_that_opens_it(page: Page, live_server):
    orc = live_server.orc
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)  # diagnosis is the technician's
    errors = _console_errors(page)
    page.set_viewport_size(PHONE)
    log_in(page, "sg.tech")

    nav = page.get_by_role("navigation", name="Main")
    button = page.get_by_role("button", name="Menu")
    expect(nav).to_be_hidden()
    expect(page.get_by_role("button", name="Log out")).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_have_attribute("aria-controls", "topbar-menu")
    expect(page.locator("#topbar-menu")).to_have_count(1)
    expect(page.locator(".topbar .brand")).to_contain_text("RMA orchestrator")
    expect(page.locator(".topbar .brand-name")).to_be_visible()  # the product's name, not only its mark
    expect(page.get_by_test_id("topbar-me")).to_have_text("sg.tech")
    expect(page.get_by_test_id("topbar-me")).to_be_visible()
    bar = page.locator(".topbar").bounding_box()
    button_box = button.bounding_box()
    assert bar and bar["height"] <= 64, bar  # one row above the work, not three
    assert _on_screen(button_box) and button_box and button_box["height"] >= 40
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(page, "staff-inbox-menu-closed-390px")

    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    links = nav.get_by_role("link")
    expect(links).to_have_text(["Inbox", "RMAs"])
    for box in _boxes(links):  # a list a thumb reaches: on the screen, tall enough to tap
        assert _on_screen(box) and box["height"] >= 40, box
    expect(page.get_by_test_id("current-user")).to_contain_text("Technician · SG")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(page, "staff-inbox-menu-open-390px")

    # the keyboard: Escape closes it and the focus is back on the button; Enter opens it, Tab goes into it
    page.keyboard.press("Escape")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    expect(nav).to_be_visible()
    page.keyboard.press("Tab")
    expect(nav.get_by_role("link", name="Inbox")).to_be_focused()
    page.keyboard.press("Escape")

    page.get_by_role("link", name=f"Open Diagnose fault of {rma['number']}").click()
    expect(page.get_by_role("heading", level=1, name="Diagnose fault")).to_be_visible()
    expect(nav).to_be_hidden()  # every page starts with the menu closed
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(page, "staff-task-menu-closed-390px")
    button.click()
    expect(nav).to_be_visible()
    shoot(page, "staff-task-menu-open-390px")

    go(page, "RMAs")  # a link in the open menu navigates
    expect(page).to_have_url(f"{live_server.url}/rmas")
    expect(page.get_by_role("heading", level=1, name="RMAs")).to_be_visible()
    expect(nav).to_be_hidden()
    assert page.console_errors == [] and errors == [], (page.console_errors, errors)


def test_without_javascript_the_menu_is_open_at_390_px(browser: Browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, "manager")
        nav = page.get_by_role("navigation", name="Main")
        expect(nav).to_be_visible()
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()  # no button that could not work
        links = nav.get_by_role("link")
        assert links.count() >= 11
        for box in _boxes(links):
            assert _on_screen(box) and box["height"] >= 32, box
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        go(page, "Partners")
        expect(page.get_by_role("heading", level=1, name="Partner organisations")).to_be_visible()
    finally:
        context.close()


def _log_in_any(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("current-user")).to_contain_text(username)


@pytest.mark.parametrize("username", ["sg.reception", "sg.tech", "sg.qa", "owner", "manager", "lion.ops"])
def test_at_1440_px_every_roles_menu_is_one_row_beside_the_user(page: Page, live_server, username):
    if username == "lion.ops":
        seed_partners(live_server.orc)
    errors = _console_errors(page)
    page.set_viewport_size({"width": 1440, "height": 900})
    _log_in_any(page, username, PARTNER_PASSWORD if username == "lion.ops" else PASSWORD)
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_test_id("topbar-me")).to_be_hidden()
    nav = page.get_by_role("navigation", name="Main")
    boxes = _boxes(nav.get_by_role("link"))
    assert len({round(b["y"]) for b in boxes}) == 1, f"{username}'s menu wraps: {boxes}"
    assert page.evaluate("(n) => n.scrollWidth <= n.clientWidth", nav.element_handle())  # no link cut off
    brand = page.locator(".topbar .brand").bounding_box()
    user = page.get_by_test_id("current-user").bounding_box()
    logout = page.get_by_role("button", name="Log out").bounding_box()
    assert brand and user and logout
    assert brand["x"] + brand["width"] <= boxes[0]["x"]
    assert max(b["x"] + b["width"] for b in boxes) <= user["x"] < logout["x"]
    for box in (brand, user, logout):  # brand, menu, user and Log out share the row
        middle = box["y"] + box["height"] / 2
        assert boxes[0]["y"] <= middle <= boxes[0]["y"] + boxes[0]["height"], (username, box, boxes[0])
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    assert page.console_errors == [] and errors == [], (page.console_errors, errors)
