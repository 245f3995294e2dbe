"""A technician's working day on a phone at the bench (390 x 844): the inbox, Start work, complete, and on to the
next task with a message; the staff menu on one line beside the user at 1280 and 1440 px (issue 16, points 4-5), in
real Chromium. The menu at 390 px, behind its Menu button: tests/browser/test_staff_pages.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from engine.services import rmas
from engine.store.model import HumanTask, utcnow
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload

from .pages import PHONE, log_in, shoot

pytestmark = pytest.mark.browser


def _waiting_for_diagnosis(orc) -> list[dict]:
    """Three RMAs in warranty past intake, waiting for the technician: one overdue, one due tomorrow, one later."""
    reception = actor(orc, "sg.reception")
    opened = []
    for serial, name, model in [
        ("VX100-1", "Kim Tan", "Vista X100 Camera"),
        ("NVR-2", "Lee Wong", "NightGuard NVR-8"),
        ("VX100-3", "Anna Müller", "Vista X100 Camera"),
    ]:
        rma = rmas.open_rma(
            orc, reception, rma_payload(serial=serial, name=name) | {"product": _product(model, serial)}
        )
        complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
        opened.append(rma)
    now = utcnow()
    with orc.uow() as uow:  # due times as the stages' SLAs would give them
        for rma, due in zip(opened, [timedelta(hours=-3), timedelta(days=1), timedelta(days=2)], strict=True):
            uow.session.execute(
                update(HumanTask)
                .where(HumanTask.rma_id == rma["id"], HumanTask.status == "open")
                .values(due_at=now + due)
            )
        uow.commit()
    return opened


def _product(model: str, serial: str) -> dict:
    return rma_payload(serial=serial)["product"] | {"model": model}


def test_technician_on_a_phone_starts_work_completes_and_lands_on_the_next_task(page: Page, live_server):
    overdue, tomorrow, _later = _waiting_for_diagnosis(live_server.orc)
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, "sg.tech")
    expect(page.get_by_test_id("inbox-row").first).to_have_class("overdue")
    shoot(page, "staff-inbox")
    page.set_viewport_size(PHONE)
    page.reload()

    rows = page.get_by_test_id("inbox-row")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text(overdue["number"])  # due soonest first: the overdue one on top
    expect(rows.first).to_have_class("overdue")
    expect(rows.first.get_by_text("Overdue")).to_be_visible()
    expect(rows.first).to_contain_text("Kim Tan")
    expect(rows.first).to_contain_text("Vista X100 Camera")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing runs off the screen
    start = rows.first.get_by_role("button", name=f"Start work on Diagnose fault of {overdue['number']}")
    box = start.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] and box["height"] >= 30
    shoot(page, "staff-inbox-390px")

    start.click()
    expect(page.get_by_role("heading", level=1, name="Diagnose fault")).to_be_visible()
    expect(page.get_by_role("navigation", name="Breadcrumb")).to_contain_text(overdue["number"])
    expect(page.get_by_role("button", name="Release Diagnose fault")).to_be_visible()  # claimed by the one click
    page.get_by_label("Diagnosis").fill("Main board shorted")
    page.get_by_label("Fault category").select_option("electronic")
    page.get_by_label("Estimated parts cost").fill("100")
    page.get_by_label("Estimated labour (hours)").fill("2")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.get_by_role("button", name="Complete task").click()

    message = page.get_by_role("status").filter(has_text="completed")
    expect(message).to_contain_text(f"“Diagnose fault” completed. {overdue['number']} is now repairing.")
    expect(message).to_contain_text(f"Next: “Diagnose fault” of {tomorrow['number']}")
    expect(page.get_by_role("heading", level=1, name="Diagnose fault")).to_be_visible()
    expect(page.get_by_role("navigation", name="Breadcrumb")).to_contain_text(tomorrow["number"])
    assert page.console_errors == []

    page.goto("/inbox")
    rows = page.get_by_test_id("inbox-row")
    expect(rows).to_have_count(3)  # the repair of the first one has joined the two diagnoses
    expect(rows.filter(has_text="Repair unit")).to_contain_text(overdue["number"])


def _boxes(page: Page, locator) -> list[dict]:
    boxes = [locator.nth(i).bounding_box() for i in range(locator.count())]
    assert all(b is not None for b in boxes)
    return [b for b in boxes if b]


@pytest.mark.parametrize("width", [1280, 1440])
def test_the_menu_stays_on_one_line_beside_the_user_at_desktop_widths(page: Page, live_server, width):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, "manager")  # the longest menu, Partners (issue 17) the last of it
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Partners", exact=True)).to_be_visible()
    links = nav.get_by_role("link")
    assert links.count() >= 11
    boxes = _boxes(page, links)
    tops = {round(b["y"]) for b in boxes}
    assert len(tops) == 1, f"the menu wraps onto {len(tops)} lines at {width} px: {boxes}"
    assert page.evaluate("(n) => n.scrollWidth <= n.clientWidth", nav.element_handle())  # no link cut off
    link_height = max(b["height"] for b in boxes)
    bar = page.locator(".topbar-inner").bounding_box()
    assert bar and bar["height"] < 2 * link_height + 24  # brand, menu and user box share one line
    user = page.get_by_test_id("current-user").bounding_box()
    assert user and abs((user["y"] + user["height"] / 2) - (boxes[0]["y"] + boxes[0]["height"] / 2)) < link_height
    brand = page.locator(".topbar .brand").bounding_box()
    assert brand and brand["x"] + brand["width"] <= boxes[0]["x"]
    last = max(b["x"] + b["width"] for b in boxes)
    assert last <= user["x"], f"the menu (to {last}) runs into the user's name (from {user['x']}) at {width} px"
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shoot(page, f"staff-menu-{width}px")
