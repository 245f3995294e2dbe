"""The customer's online request: the centre finder, the form, self-help, the packing slip, reception, and the
approval page with the repair-or-replace options."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from engine.services import catalogue, centres, rmas, tasks
from engine.services import requests as request_service
from tests.browser.pages import go, log_in
from tests.helpers import INTAKE, actor, rma_payload

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
MODEL = {
    "model": "Vista X100 Camera",
    "category": "camera",
    "warranty_months": 24,
    "replacement_value": 400,
    "currency": "SGD",
    "successor_model": None,
    "known_issues": [
        {
            "code": "no_power",
            "question": "Does the power LED stay dark?",
            "steps": ["Charge the battery for two hours.", "Try another USB cable."],
        }
    ],
}


@pytest.fixture(autouse=True)
def finder_and_catalogue(live_server):
    centres.seed_demo_locations(live_server.orc)
    catalogue.save_model(live_server.orc, actor(live_server.orc, "manager"), MODEL)


def fill_request(page: Page, proof: dict) -> None:
    page.get_by_label("Model").fill("Vista X100 Camera")
    page.get_by_label("Serial number").fill("SN-ONLINE-1")
    page.get_by_label("Purchase date").fill("2025-09-01")
    page.get_by_label("Proof of purchase").set_input_files(proof)
    page.get_by_label("What is wrong with it?").fill("Does not power on")
    page.get_by_label("Your name").fill("Kim Tan")
    page.get_by_label("Email").fill("kim@example.com")


def find(page: Page, near: str) -> None:
    page.get_by_label("Your city or postcode").fill(near)
    page.get_by_role("button", name="Find centres").click()
    expect(page.get_by_test_id("finder-status")).to_contain_text(re.compile(r"\S"))
    expect(page.get_by_test_id("finder-status")).not_to_have_text("Looking…")  # the list is the answer's


def test_centre_finder_lists_the_nearest_centre_first_with_hours_and_lead_time(page: Page):
    page.goto("/request")
    find(page, "Berlin")
    expect(page.get_by_test_id("finder-status")).to_have_text("Nearest to Berlin first.")
    first = page.get_by_test_id("centre-option").first
    expect(first).to_have_attribute("data-code", "DE")
    expect(first).to_contain_text("Friedrichstrasse 120, 10117 Berlin")
    expect(first).to_contain_text("Mon-Fri 08:30-17:30")
    expect(first.get_by_test_id("lead-time")).to_contain_text(re.compile(r"Expected lead time: \d+–\d+ days"))
    find(page, "138632")
    expect(page.get_by_test_id("centre-option").first).to_have_attribute("data-code", "SG")
    assert page.url.endswith("/request"), "the finder answered without reloading the page"
    assert page.console_errors == []


def test_the_form_opens_in_german_with_lang_de_and_its_finder_answers_in_german(page: Page):
    page.goto("/request?lang=de")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", level=1)).to_have_text("Reparatur anfragen")
    expect(page.get_by_label("Sprache", exact=True)).to_have_value("de")
    expect(page.get_by_role("button", name="Anfrage senden")).to_be_visible()
    expect(page.get_by_test_id("language-links").get_by_role("link", name="English")).to_be_visible()
    page.get_by_label("Ihre Stadt oder Postleitzahl").fill("Berlin")
    page.get_by_role("button", name="Servicecenter suchen").click()
    expect(page.get_by_test_id("finder-status")).to_have_text("Die nächsten zu Berlin zuerst.")
    expect(page.get_by_test_id("lead-time").first).to_contain_text("Voraussichtliche Bearbeitungszeit")
    assert page.url.endswith("/request?lang=de"), "the finder answered without reloading the page"
    assert page.console_errors == []


def test_customer_sends_a_request_tries_self_help_and_ships_the_unit_to_reception(page: Page, live_server):
    page.goto("/request")
    find(page, "Singapore")
    page.get_by_test_id("centre-option").filter(has_text="Singapore Service Centre").click()
    fill_request(page, {"name": "receipt.pdf", "mimeType": "application/pdf", "buffer": PDF})
    page.get_by_role("button", name="Send the request").click()

    expect(page.get_by_test_id("confirmation")).to_contain_text("your repair request is registered")
    expect(page.get_by_test_id("request-number")).to_have_text(re.compile(r"^RMA-SG-\d{6}$"))
    number = page.get_by_test_id("request-number").inner_text()
    expect(page.get_by_test_id("request-status")).to_have_text("Request received")
    issue = page.get_by_test_id("known-issue")
    expect(issue).to_contain_text("Does the power LED stay dark?")
    expect(issue).to_contain_text("Charge the battery for two hours.")
    issue.get_by_label("Yes").check()
    page.get_by_role("button", name="Still faulty: I need to send it").click()
    expect(page.get_by_role("status").filter(has_text="our team will look at your request")).to_be_visible()
    expect(page.get_by_test_id("self-help")).to_have_count(0)
    request_page = page.url

    reception = actor(live_server.orc, "sg.reception")
    task = tasks.list_tasks(live_server.orc, reception, rma_id=None)["items"][0]
    assert task["name"] == "review_request" and task["rma_number"] == number
    tasks.claim_task(live_server.orc, reception, task["id"])
    tasks.complete_task(live_server.orc, reception, task["id"], {"review_decision": "ship_in"})

    page.goto(request_page)
    page.get_by_role("link", name="Packing slip", exact=True).click()
    expect(page.get_by_test_id("slip-number")).to_have_text(number)
    expect(page.get_by_role("img", name=f"Barcode {number}")).to_be_visible()
    expect(page.get_by_test_id("slip-address")).to_contain_text("1 Fusionopolis Way")

    log_in(page, "sg.reception")
    go(page, "Reception")
    page.get_by_label("RMA number").fill(number.lower())
    page.get_by_label("RMA number").press("Enter")
    expect(page.get_by_role("status").filter(has_text=f"Parcel for {number} booked in")).to_be_visible()
    expect(page.get_by_test_id("booked")).to_contain_text(number)


def test_a_fake_proof_of_purchase_is_refused_on_the_form(page: Page):
    page.goto("/request")
    page.get_by_test_id("centre-option").filter(has_text="Singapore Service Centre").click()
    fill_request(page, {"name": "receipt.pdf", "mimeType": "application/pdf", "buffer": b"MZ not a pdf"})
    page.get_by_role("button", name="Send the request").click()
    expect(page.get_by_text("Must be a PDF, PNG or JPEG file.")).to_be_visible()
    expect(page.get_by_label("Serial number")).to_have_value("SN-ONLINE-1")
    expect(page.get_by_test_id("confirmation")).to_have_count(0)


def test_self_help_that_solves_the_fault_closes_the_request(page: Page, live_server):
    created = request_service.submit_request(
        live_server.orc,
        {
            "centre": "SG",
            "customer": {"name": "Kim Tan", "email": "kim@example.com", "language": "en"},
            "product": {"model": "Vista X100 Camera", "serial_number": "SN-2", "purchase_date": "2025-09-01"},
            "fault_description": "Dark",
        },
        "r.pdf",
        PDF,
        "127.0.0.1",
    )
    page.goto(f"/request/{created['tracking_token']}")
    page.get_by_role("button", name="Solved: it works now").click()
    expect(page.get_by_test_id("request-status")).to_have_text("Completed")
    expect(page.get_by_test_id("request-outcome")).to_have_text("Solved without a shipment")


def quoted_out_of_warranty(orc) -> dict:
    """Out of warranty, diagnosed: parts 300 + 2 h x 60 = 420 SGD, over the model's 400 SGD replacement value."""
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=36, serial="SN-ROR"))
    for username, data in (
        ("sg.reception", INTAKE),
        (
            "sg.tech",
            {"diagnosis": "Sensor cracked", "fault_category": "mechanical", "parts_cost": 300, "labour_hours": 2},
        ),
    ):
        worker = actor(orc, username)
        task = tasks.list_tasks(orc, worker, rma_id=rma["id"])["items"][0]
        tasks.claim_task(orc, worker, task["id"])
        tasks.complete_task(orc, worker, task["id"], data)
    return rmas.get_rma(orc, actor(orc, "manager"), rma["id"])


def test_approval_page_offers_the_replacement_the_rules_give_and_routes_the_choice(page: Page, live_server):
    rma = quoted_out_of_warranty(live_server.orc)
    page.goto(f"/track/{rma['tracking_token']}")
    choices = page.get_by_test_id("offer-choices")
    expect(choices.get_by_role("button", name="Repair it at the quoted price")).to_be_visible()
    expect(choices.get_by_test_id("price-repair")).to_have_text("420.00 SGD")
    expect(choices.get_by_test_id("price-replacement")).to_have_text("240.00 SGD")
    expect(choices.get_by_role("button", name=re.compile("Trade it in"))).to_have_count(0)  # no newer model
    expect(page.get_by_role("button", name="Approve the repair")).to_have_count(0)
    choices.get_by_role("button", name="A new unit of the same model").click()
    expect(page.get_by_role("status").filter(has_text="you chose a replacement unit")).to_be_visible()
    expect(page.get_by_test_id("portal-status")).to_have_text("A new unit is being prepared for you")
    expect(page.get_by_test_id("offer-choices")).to_have_count(0)
    assert rmas.get_rma(live_server.orc, actor(live_server.orc, "manager"), rma["id"])["status"] == "replacing"
