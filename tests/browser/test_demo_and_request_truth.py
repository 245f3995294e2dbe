"""In Chromium: the demo's history shows on the manager's dashboard, in the estimates and in the earlier-RMA panels
of the RMA and task pages (issue 16.12); the online request's pages show the centre's contact details and their
status in the customer's language, and declining the repair-or-replace offers is confirmed first (issue 16.7)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from engine.demo import UNREGISTERED_SERIAL, create_catalogue_and_locations, create_demo_rmas
from engine.services import centres, rmas
from engine.store.model import Rma
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload

from .pages import log_in, open_task

pytestmark = pytest.mark.browser

# RMA_TEST_SCREENSHOTS=docs/screenshots saves the demo's dashboard, an RMA page with earlier RMAs and a serial flag
SCREENSHOTS = os.environ.get("RMA_TEST_SCREENSHOTS")


def _shoot(page: Page, name: str, down_to=None, part=None) -> None:
    """The page from its top (down to the end of `down_to`, a locator, if given), or only `part` (a locator)."""
    if not SCREENSHOTS:
        return
    Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
    path = str(Path(SCREENSHOTS) / f"{name}.png")
    if part is not None:
        part.screenshot(path=path)
        return
    clip = None
    if down_to is not None:
        box = down_to.bounding_box()
        clip = {"x": 0, "y": 0, "width": 1280, "height": box["y"] + box["height"] + 16}
    page.screenshot(path=path, full_page=True, clip=clip)


def _open_rma(orc, customer: str) -> Rma:
    with orc.reading() as s:
        return s.scalars(select(Rma).where(Rma.customer_name == customer, Rma.status != "closed")).one()


def test_the_demo_history_shows_on_the_dashboard_the_estimates_and_the_earlier_rmas(page: Page, live_server):
    orc = live_server.orc
    create_catalogue_and_locations(orc)
    create_demo_rmas(orc)
    arjun = _open_rma(orc, "Arjun Nair")

    log_in(page, "manager")
    page.goto("/manager/dashboard")
    charts = page.get_by_test_id("charts")
    expect(charts.locator("figure")).not_to_have_count(0)
    # each point of a lead-time line is a month with closed RMAs; six months of them per centre
    points = charts.locator("figure").first.locator("circle")
    assert points.count() >= 10, points.count()
    expect(charts.locator("circle title").first).to_contain_text(re.compile(r"median 20\d\d-\d\d: [\d.]+h \(n=\d+\)"))
    _shoot(page, "manager-dashboard", down_to=page.locator("section", has=page.locator("#lead-title")))

    page.goto(f"/rmas/{arjun.id}")
    expect(page.get_by_test_id("staff-eta")).to_contain_text(re.compile(r"From \d+ repairs at this centre"))
    earlier = page.get_by_test_id("earlier-rmas")
    expect(earlier.get_by_role("link")).to_have_count(2)  # the customer's and the unit's: the same RMA
    earlier_number = earlier.get_by_role("link").first.inner_text()
    expect(earlier).to_contain_text("Repaired")
    expect(page.get_by_test_id("serial-flag")).to_have_count(0)  # the demo registered Arjun's unit as sold
    _shoot(page, "staff-rma-earlier-rmas")  # the whole RMA page: its cards, the estimate and the earlier RMAs
    earlier.get_by_role("link").first.click()
    expect(page.get_by_test_id("rma-status")).to_have_text("Closed")
    expect(page.get_by_role("heading", level=1)).to_contain_text(earlier_number)
    expect(page.get_by_text("Replaced the PSU capacitors").first).to_be_visible()  # its service record

    page.get_by_role("button", name="Log out").click()
    log_in(page, "sg.tech")
    open_task(page, arjun.number, "Diagnose fault")
    expect(page.get_by_test_id("context-earlier")).to_contain_text(earlier_number)


def test_the_demo_rma_of_an_unregistered_unit_shows_the_flag_inside_the_product_card(page: Page, live_server):
    orc = live_server.orc
    create_catalogue_and_locations(orc)
    create_demo_rmas(orc, history=False)
    sarah = _open_rma(orc, "Sarah Lim")
    assert sarah.serial_number == UNREGISTERED_SERIAL

    log_in(page, "manager")
    page.goto(f"/rmas/{sarah.id}")
    card = page.locator("section.card", has=page.get_by_role("heading", name="Product"))
    flag = card.get_by_test_id("serial-flag")
    expect(flag).to_have_count(1)
    expect(flag).to_have_text(f"Serial {UNREGISTERED_SERIAL} is not in the register of units sold.")
    label = card.get_by_text("Serial number", exact=True).bounding_box()
    serial = card.get_by_text(UNREGISTERED_SERIAL, exact=True).bounding_box()
    purchased = card.get_by_text("Purchased", exact=True).bounding_box()
    box, frame = flag.bounding_box(), card.bounding_box()
    assert label and serial and purchased and box and frame
    # in the value column under the serial, the next fact below it, all inside the card
    assert box["x"] >= label["x"] + label["width"] and abs(box["x"] - serial["x"]) < 2
    assert box["y"] >= serial["y"] + serial["height"] and purchased["y"] >= box["y"] + box["height"]
    assert box["x"] + box["width"] <= frame["x"] + frame["width"]
    _shoot(page, "staff-rma-serial-flag", part=card)

    page.set_viewport_size({"width": 390, "height": 844})
    expect(flag).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box, frame = flag.bounding_box(), card.bounding_box()
    assert box and frame and box["x"] + box["width"] <= frame["x"] + frame["width"] <= 390
    _shoot(page, "staff-rma-serial-flag-390px")


def test_request_pages_show_the_contact_and_german_status_and_a_decline_is_confirmed(page: Page, live_server):
    orc = live_server.orc
    centres.seed_demo_locations(orc)
    centres.set_location(orc, "SG", email="service.sg@example.com", phone="+65 6123 4567")
    create_catalogue_and_locations(orc)

    page.goto("/request?lang=de")
    expect(page.get_by_test_id("centre-contact")).to_have_count(2)  # no centre chosen yet: every centre's
    expect(page.get_by_test_id("contact-email").filter(has_text="service.sg@example.com")).to_be_visible()

    payload = rma_payload(months_old=36, serial="SN-TRUTH-B1")
    payload["customer"]["language"] = "de"
    payload["product"]["model"] = "Vista X100 Camera"
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), payload)
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    diagnosis = {"diagnosis": "Sensor cracked", "fault_category": "mechanical", "parts_cost": 1300, "labour_hours": 2}
    complete_open_task(orc, "sg.tech", rma["id"], "diagnose", diagnosis)

    page.goto(f"/request/{rma['tracking_token']}")
    expect(page.get_by_test_id("request-status")).to_have_text("Wartet auf Ihre Freigabe des Kostenvoranschlags")
    card = page.get_by_test_id("centre-contact")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Ihr Servicecenter")
    expect(card.get_by_test_id("contact-phone")).to_have_text("+65 6123 4567")

    page.goto(f"/track/{rma['tracking_token']}")
    page.get_by_role("button", name="Ablehnen: unrepariert zurücksenden").click()
    confirm = page.get_by_test_id("confirm-decline")
    expect(confirm).to_contain_text("unrepariert")
    expect(page.get_by_role("button", name="Ein neues Gerät desselben Modells")).to_have_count(0)
    page.get_by_test_id("decline-back").click()  # changed their mind: nothing was recorded
    expect(page.get_by_role("button", name="Ein neues Gerät desselben Modells")).to_be_visible()
    page.get_by_role("button", name="Ablehnen: unrepariert zurücksenden").click()
    page.get_by_test_id("decline-yes").click()
    expect(page.get_by_role("status").or_(page.locator(".flash-success")).first).to_contain_text(
        "Sie haben den Kostenvoranschlag abgelehnt"
    )
    expect(page.get_by_test_id("confirm-decline")).to_have_count(0)
