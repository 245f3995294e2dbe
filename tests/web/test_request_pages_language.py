"""The online request's pages in the customer's language: the request's recorded language once it exists (page,
confirmation, packing slip and its PDF, choices); before that the form's ?lang=, else Accept-Language, else English."""

from __future__ import annotations

import io
import re
import zlib
from datetime import date, timedelta

import pytest

from engine.customer import customer_text
from engine.services import catalogue, centres, rmas, tasks
from engine.services import requests as request_service
from tests.helpers import INTAKE, actor, rma_payload

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
MODEL = {
    "model": "Vista X100 Camera",
    "category": "camera",
    "warranty_months": 24,
    "replacement_value": 400,
    "currency": "SGD",
    "known_issues": [
        {
            "code": "no_power",
            "question": "Does the power LED stay dark?",
            "steps": ["Charge the battery for two hours."],
        }
    ],
}


pytestmark = pytest.mark.without_csrf


@pytest.fixture(autouse=True)
def finder_and_catalogue(orc):
    centres.seed_demo_locations(orc)
    catalogue.save_model(orc, actor(orc, "manager"), MODEL)


def form(**overrides) -> dict:
    fields = {
        "centre": "SG",
        "name": "Kim Tan",
        "email": "kim@example.com",
        "language": "de",
        "model": "Vista X100 Camera",
        "serial_number": "SN-LANG-1",
        "purchase_date": (date.today() - timedelta(days=200)).isoformat(),
        "fault_description": "Geht nicht an",
    }
    return {**fields, **overrides}


def submit(client, **overrides):
    data = {**form(**overrides), "proof_of_purchase": (io.BytesIO(PDF), "receipt.pdf")}
    return client.post("/request", data=data, content_type="multipart/form-data")


def text(response) -> str:
    return response.get_data(as_text=True)


def shipped_in(orc, token: str, answered: bool = False) -> None:
    """Self-help did not help and reception agreed to a shipment: the packing slip is offered."""
    if not answered:
        request_service.answer_troubleshooting(orc, token, {"troubleshoot_solved": False})
    reception = actor(orc, "sg.reception")
    task = tasks.list_tasks(orc, reception, rma_id=None)["items"][0]
    tasks.claim_task(orc, reception, task["id"])
    tasks.complete_task(orc, reception, task["id"], {"review_decision": "ship_in"})


def test_a_german_request_gets_its_confirmation_page_and_packing_slip_in_german(client, orc):
    response = submit(client, language="de")
    assert response.status_code == 302, text(response)
    token = response.headers["Location"].split("/request/")[1].split("?")[0]
    page = client.get(response.headers["Location"])
    html = text(page)
    assert page.headers["Content-Language"] == "de" and '<html lang="de">' in html
    assert re.search(r"Ihre Anfrage RMA-SG-\d{6} ist registriert", html)  # the flashed confirmation
    assert "Vielen Dank, Kim Tan: Ihre Reparaturanfrage ist unter der folgenden Nummer registriert" in html
    assert "Anfrage eingegangen" in html and "Bevor Sie es einschicken: probieren Sie diese Schritte" in html
    assert "Gelöst: es funktioniert wieder" in html and "Weiß nicht" in html
    assert "Does the power LED stay dark?" in html  # the catalogue's words stay as managers typed them
    today = date.today()
    assert f"{today.day}. {customer_text.MONTHS['de'][today.month - 1]} {today.year}" in html
    for english in ("Request received", "Before you send it", "Solved: it works now", "is registered"):
        assert english not in html

    after = client.post(
        f"/request/{token}/troubleshooting", data={"troubleshoot_solved": "false"}, follow_redirects=True
    )
    assert "Vielen Dank: unser Team prüft Ihre Anfrage" in text(after)

    shipped_in(orc, token, answered=True)
    html = text(client.get(f"/request/{token}"))
    assert "Bitte schicken Sie Ihr Gerät ein" in html and "Packzettel (PDF)" in html
    slip = client.get(f"/request/{token}/packing-slip")
    html = text(slip)
    assert slip.headers["Content-Language"] == "de" and '<html lang="de">' in html
    for german in (
        '<h1 id="slip-title">Packzettel</h1>',
        "Senden an",
        "Von Kim Tan",
        "Zurück zu Ihrer Anfrage",
        "Legen Sie diesen Packzettel in das Paket",
        customer_text.MONTHS["de"][today.month - 1],
    ):
        assert german in html
    assert "Send to" not in html and "Packing slip" not in html

    pdf = client.get(f"/request/{token}/packing-slip.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "Packzettel" in pdf_text(pdf.data) and "Senden an" in pdf_text(pdf.data)


def pdf_text(data: bytes) -> str:
    """The PDF's words as fpdf2 writes them (compressed content streams, or plain)."""
    out = data.decode("latin-1")
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            out += zlib.decompress(stream).decode("latin-1")
        except zlib.error:
            pass
    return out


def test_an_english_request_keeps_its_pages_and_packing_slip_in_english(client, orc):
    response = submit(client, language="en")
    token = response.headers["Location"].split("/request/")[1].split("?")[0]
    html = text(client.get(response.headers["Location"]))
    assert re.search(r"Your request RMA-SG-\d{6} is registered", html)
    assert "Thank you, Kim Tan: your repair request is registered" in html and "Request received" in html
    shipped_in(orc, token)
    slip = client.get(f"/request/{token}/packing-slip", headers={"Accept-Language": "de"})
    assert slip.headers["Content-Language"] == "en" and "Send to" in text(slip)  # the request's, not the browser's
    assert "Packing slip" in pdf_text(client.get(f"/request/{token}/packing-slip.pdf").data)


def test_the_form_is_german_with_lang_de_or_a_german_browser_and_english_by_default(client):
    german_browser = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
    for response in (client.get("/request?lang=de"), client.get("/request", headers=german_browser)):
        html = text(response)
        assert response.headers["Content-Language"] == "de" and '<html lang="de">' in html
        assert "<h1>Reparatur anfragen</h1>" in html and "Servicecenter suchen" in html and "Anfrage senden" in html
        assert '<option value="de" selected>Deutsch</option>' in html
        assert 'data-nearest="Die nächsten zu {label} zuerst."' in html
        assert "Request a repair" not in html and "Send the request" not in html
    for response in (
        client.get("/request"),
        client.get("/request", headers={"Accept-Language": "fr, en;q=0.5"}),
        client.get("/request?lang=xx"),
    ):
        html = text(response)
        assert response.headers["Content-Language"] == "en" and "<h1>Request a repair</h1>" in html
        assert '<option value="en" selected>English</option>' in html
    # ?lang= wins over the browser; the links switch language and keep the finder's place
    html = text(client.get("/request?lang=en&near=Berlin", headers={"Accept-Language": "de"}))
    assert "<h1>Request a repair</h1>" in html and "Nearest to Berlin first." in html
    assert 'href="/request?lang=de&amp;near=Berlin" hreflang="de"' in html and ">Deutsch</a>" in html
    assert "Vary" in client.get("/request").headers and "Accept-Language" in client.get("/request").headers["Vary"]


def test_a_refused_german_form_is_shown_again_in_german(client):
    response = client.post(
        "/request?lang=de",
        data={**form(), "proof_of_purchase": (io.BytesIO(b""), "r.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    html = text(response)
    assert "<h1>Reparatur anfragen</h1>" in html and '<option value="de" selected>Deutsch</option>' in html
    assert 'value="SN-LANG-1"' in html


def test_the_repair_or_replace_choice_is_offered_and_thanked_in_german(client, orc):
    payload = rma_payload(months_old=36, serial="SN-ROR-DE")
    payload["customer"]["language"] = "de"
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), payload)
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
    html = text(client.get(f"/request/{rma['tracking_token']}"))
    assert "Ihre Entscheidung wird benötigt" in html and "Zum angebotenen Preis reparieren" in html
    assert "Ein neues Gerät desselben Modells" in html and "420,00 SGD" in html
    tracking = text(client.get(f"/track/{rma['tracking_token']}"))  # the tracking page offers the same, in German
    assert "Zum angebotenen Preis reparieren" in tracking and "Ein neues Gerät desselben Modells" in tracking
    assert "Repair it at the quoted price" not in tracking
    done = client.post(
        f"/request/{rma['tracking_token']}/choice", data={"choice": "replacement"}, follow_redirects=True
    )
    assert "Vielen Dank: Sie haben sich für ein Ersatzgerät entschieden." in text(done)
