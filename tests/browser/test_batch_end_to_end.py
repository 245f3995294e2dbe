"""A distributor's batch walked end to end in Chromium (issue 17): the partner uploads the CSV, reception books the
parcel in (two units still missing), the partner approves the one quote from the batch page, and reception sends
two finished units back together in one parcel while a third, also finished, waits for the next one."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from engine.services import batches
from tests.browser.pages import log_in, log_out, shoot
from tests.browser.test_partners import GOOD_CSV, _upload, log_in_partner
from tests.driver import complete_open_task, status, walk_to
from tests.partner_world import partner, seed_partners

pytestmark = pytest.mark.browser


def test_a_distributors_batch_from_upload_to_the_grouped_return(page: Page, live_server):
    orc = live_server.orc
    seed_partners(orc)
    log_in_partner(page, "lion.ops")
    _upload(page, GOOD_CSV, "PO-2026-0500")
    expect(page.get_by_test_id("unit-list").get_by_role("row")).to_have_count(7)  # header + 6 units
    batch = batches.get_batch(
        orc, partner(orc, "lion"), batches.list_batches(orc, partner(orc, "lion"))["items"][0]["id"]
    )
    units = batch["units"]
    assert [status(orc, u["rma_id"]) for u in units] == ["awaiting_unit"] * 6

    # one parcel in: four of the six units are scanned, two are still on their way
    log_out(page)
    log_in(page, "sg.reception")
    page.goto(f"/batches/{batch['id']}/parcels")
    scans = "\n".join(u["number"] for u in units[:4])
    page.get_by_test_id("book-in").get_by_label("Scan each unit").fill(scans)
    page.get_by_test_id("book-in").get_by_role("button", name="Book in").click()
    expect(page.get_by_test_id("arrival").get_by_test_id("missing")).to_contain_text("LN-1005")
    assert [status(orc, u["rma_id"]) for u in units] == ["received"] * 4 + ["awaiting_unit"] * 2

    # the bench: the first unit (bought in 2023) is out of warranty and quoted; the others are repaired
    for unit in units[:4]:
        complete_open_task(orc, None, unit["rma_id"], "record_condition")
        complete_open_task(orc, None, unit["rma_id"], "diagnose")
    assert status(orc, units[0]["rma_id"]) == "awaiting_approval"

    log_out(page)
    log_in_partner(page, "lion.ops")
    page.goto(f"/partner/batches/{batch['id']}")
    quotes = page.get_by_test_id("batch-quotes")
    expect(quotes.get_by_test_id("quote-row")).to_have_count(1)
    quotes.get_by_test_id("approve-all").click()
    expect(page.get_by_text("1 quote(s) approved, 0 declined.")).to_be_visible()
    for unit in units[:3]:
        walk_to(orc, {"id": unit["rma_id"]}, "ship_return")
    assert [status(orc, u["rma_id"]) for u in units[:4]] == ["returning", "returning", "returning", "repairing"]

    # grouped parcel out: reception ticks two of the three finished units; the third waits
    log_out(page)
    log_in(page, "sg.reception")
    page.goto(f"/batches/{batch['id']}/parcels")
    ship = page.get_by_test_id("ship-form")
    expect(ship.get_by_test_id("ship-unit")).to_have_count(3)
    for unit in units[:2]:
        ship.get_by_label(f"Ship {unit['number']}").check()
    ship.get_by_label("Carrier").fill("DHL")
    ship.get_by_label("Tracking number").fill("JD-BATCH-0500")
    ship.get_by_test_id("ship-submit").click()
    shipment = page.get_by_test_id("shipment-row")
    expect(shipment).to_have_count(1)
    expect(shipment).to_contain_text(f"DHL JD-BATCH-0500 with {units[0]['number']}, {units[1]['number']}")
    shoot(page, "batch-grouped-return")
    assert [status(orc, u["rma_id"]) for u in units] == [
        "closed",
        "closed",
        "returning",
        "repairing",
        "awaiting_unit",
        "awaiting_unit",
    ]

    # the partner sees it on the batch page
    log_out(page)
    log_in_partner(page, "lion.ops")
    page.goto(f"/partner/batches/{batch['id']}")
    expect(page.get_by_test_id("batch-by-status")).to_contain_text("Closed")
    shoot(page, "partner-batch-after-return")
