"""A distributor's batch in Chromium (issue 17): log in to the partner portal, upload a CSV with problems (listed
by line and column, nothing opened), upload it fixed, land on the batch page; another organisation's batch and
units are 404; the staff pages are closed to a partner."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from engine.services import batches, parcels
from tests.driver import complete_open_task
from tests.helpers import actor
from tests.partner_world import MODEL, PASSWORD, partner, seed_partners, units

from .pages import shoot

pytestmark = pytest.mark.browser

BAD_CSV = (
    "model,serial_number,fault_description,purchase_date,site,customer_reference\n"
    f"{MODEL},LN-1001,No video at night,2025-03-02,Marina Depot,T-88\n"
    "Vista Z9 Unknown,LN-1002,Dead,,Marina Depot,T-89\n"
    f"{MODEL},LN-1001,Reboots,03/02/2025,Jurong Mall,T-90\n"
)
GOOD_CSV = "model,serial_number,fault_description,purchase_date,site,customer_reference\n" + "".join(
    f"{MODEL},LN-{1001 + i},{fault},{2023 if i == 0 else 2025}-0{1 + i % 8}-15,{site},T-{88 + i}\n"
    for i, (fault, site) in enumerate(
        [
            ("No video at night", "Marina Depot"),
            ("IR LEDs dead", "Marina Depot"),
            ("Reboots every hour", "Jurong Mall"),
            ("Water in the housing", "Jurong Mall"),
            ("No network link", "Changi Warehouse"),
            ("Focus motor stuck", "Changi Warehouse"),
        ]
    )
)


def log_in_partner(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("partner-figures")).to_be_visible()


def _upload(page: Page, text: str, reference: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New batch").click()
    form = page.get_by_test_id("batch-upload")
    form.get_by_label("CSV file").set_input_files(
        {"name": "units.csv", "mimeType": "text/csv", "buffer": text.encode()}
    )
    form.get_by_label("Your reference").fill(reference)
    form.get_by_role("button", name="Open batch from file").click()


def _move_on(orc, batch: dict) -> None:
    """Reception books three units in; the first, bought in 2023, is diagnosed out of warranty: a quote."""
    reception = actor(orc, "sg.reception")
    for unit in batch["units"][:3]:
        parcels.receive_parcel(orc, reception, unit["number"])
        complete_open_task(orc, None, unit["rma_id"], "record_condition")
    complete_open_task(orc, None, batch["units"][0]["rma_id"], "diagnose")


def test_a_distributor_uploads_a_csv_fixes_it_and_follows_the_batch(page: Page, live_server):
    orc = live_server.orc
    seed_partners(orc)
    log_in_partner(page, "lion.ops")
    expect(page.get_by_role("heading", name="Lion CCTV Distribution")).to_be_visible()

    _upload(page, BAD_CSV, "PO-2026-0412")
    problems = page.get_by_test_id("file-errors")
    expect(problems).to_contain_text("3 problems in the file; nothing was opened")
    for line, column, text in (
        ("3", "model", "Unknown model 'Vista Z9 Unknown'"),
        ("4", "serial_number", "already unit 1"),
        ("4", "purchase_date", "is not a date"),
    ):
        expect(problems.get_by_role("row").filter(has_text=text)).to_contain_text(line)
        expect(problems.get_by_role("row").filter(has_text=text)).to_contain_text(column)
    shoot(page, "partner-batch-csv-errors")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Batches").click()
    expect(page.get_by_text("No batches yet.")).to_be_visible()

    _upload(page, GOOD_CSV, "PO-2026-0412")
    expect(page.get_by_test_id("batch-number")).to_have_text("B-SG-000001")
    expect(page.get_by_test_id("unit-list").get_by_role("row")).to_have_count(7)  # header + 6 units
    batch = batches.list_batches(orc, partner(orc, "lion"))["items"][0]
    _move_on(orc, batches.get_batch(orc, partner(orc, "lion"), batch["id"]))
    page.reload()
    expect(page.get_by_test_id("batch-by-status")).to_contain_text("Awaiting unit")
    expect(page.get_by_test_id("batch-estimate")).to_contain_text("by ")
    expect(page.get_by_test_id("unit-list")).to_contain_text("Marina Depot")
    expect(page.get_by_test_id("unit-list").get_by_role("row").nth(1)).to_contain_text("220.00 SGD")
    shoot(page, "partner-batch-page")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Our units").click()
    expect(page.get_by_test_id("fig-units")).to_have_text("6")
    expect(page.get_by_test_id("unit-list")).to_contain_text("LN-1006")
    shoot(page, "partner-portal")


def test_another_organisations_batch_and_units_are_404_and_staff_pages_closed(page: Page, live_server):
    orc = live_server.orc
    seed_partners(orc)
    lion = batches.open_batch(orc, partner(orc, "lion"), {"centre": "SG", "units": units(2, "LION")})
    log_in_partner(page, "kopi.ops")
    expect(page.get_by_test_id("unit-list")).to_have_count(0)
    for url in (f"/partner/batches/{lion['id']}", f"/partner/rmas/{lion['units'][0]['rma_id']}", "/inbox", "/rmas"):
        response = page.goto(url)
        assert response is not None and response.status == 404, url
    response = page.goto(f"/api/batches/{lion['id']}")
    assert response is not None and response.status == 404
