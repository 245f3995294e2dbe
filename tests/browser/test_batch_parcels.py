"""A batch's parcel and quotes in Chromium (issue 17, points 3 and 4): reception books one parcel in on the batch's
parcels page (a scan, a ticked unit with another serial on its label, an unexpected serial; one unit missing), and
the partner approves every waiting quote at once from the batch page."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from engine.services import batch_parcels, batches
from tests.browser.pages import log_in, shoot
from tests.browser.test_partners import log_in_partner
from tests.driver import complete_open_task, status
from tests.helpers import actor
from tests.partner_world import partner, seed_partners, units

pytestmark = pytest.mark.browser
OLD = (date.today() - timedelta(days=1500)).isoformat()


def test_reception_books_in_a_batch_parcel_with_a_missing_and_an_unexpected_serial(page: Page, live_server):
    orc = live_server.orc
    seed_partners(orc)
    batch = batches.open_batch(orc, partner(orc, "lion"), {"centre": "SG", "units": units(3, "BX")})
    first, second, third = batch["units"]
    log_in(page, "sg.reception")
    page.goto(f"/batches/{batch['id']}/parcels")
    book_in = page.get_by_test_id("book-in")
    expect(book_in.get_by_test_id("awaiting-unit")).to_have_count(3)
    book_in.get_by_label("Scan each unit").fill(f"{first['number']}\nBX-99999\n")
    book_in.get_by_label(f"{second['number']} arrived").check()
    book_in.get_by_label(f"Serial on the label of {second['number']}").fill("BX-LABEL-1")
    shoot(page, "batch-parcels-book-in")
    book_in.get_by_role("button", name="Book in").click()
    arrival = page.get_by_test_id("arrival")
    expect(arrival.get_by_test_id("arrived")).to_have_text(f"{first['number']}, {second['number']}")
    expect(arrival.get_by_test_id("missing")).to_contain_text("BX-00002")
    expect(arrival.get_by_test_id("unexpected")).to_contain_text("BX-99999")
    row = page.get_by_test_id("unit-row").filter(has_text=second["number"])
    expect(row.locator("[data-code=serial_differs]")).to_contain_text("BX-LABEL-1")
    expect(page.get_by_test_id("book-in").get_by_test_id("awaiting-unit")).to_have_count(1)
    shoot(page, "batch-parcels-booked-in")
    assert [status(orc, u["rma_id"]) for u in (first, second, third)] == ["received", "received", "awaiting_unit"]


def test_the_partner_approves_every_waiting_quote_at_once(page: Page, live_server):
    orc = live_server.orc
    seed_partners(orc)
    lion = partner(orc, "lion")
    batch = batches.open_batch(
        orc, lion, {"centre": "SG", "units": [{**u, "purchase_date": OLD} for u in units(3, "QX")]}
    )
    batch_parcels.book_in(orc, actor(orc, "sg.reception"), batch["id"], scans=["QX-00000", "QX-00001", "QX-00002"])
    for unit in batch["units"][:2]:
        complete_open_task(orc, None, unit["rma_id"], "record_condition")
        complete_open_task(orc, None, unit["rma_id"], "diagnose")
    log_in_partner(page, "lion.ops")
    page.goto(f"/partner/batches/{batch['id']}")
    quotes = page.get_by_test_id("batch-quotes")
    expect(quotes.get_by_test_id("quote-row")).to_have_count(2)
    shoot(page, "batch-quotes-waiting")
    quotes.get_by_test_id("approve-all").click()
    expect(page.get_by_text("2 quote(s) approved, 0 declined.")).to_be_visible()
    expect(page.get_by_test_id("batch-quotes")).to_have_count(0)
    assert [status(orc, u["rma_id"]) for u in batch["units"]] == ["repairing", "repairing", "received"]
