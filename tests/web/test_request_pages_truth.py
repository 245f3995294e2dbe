"""The online request's pages tell the customer what the tracking page tells (issue 16.7, the gaps): the centre's
contact details on every one of them (the portal's one partial), every status worded in English and German, the
incident included, and declining the repair-or-replace offers asks for confirmation first, as declining a quote."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest

from engine.services import catalogue, centres, rmas
from engine.services import requests as request_service
from tests.helpers import INTAKE, actor, rma_payload
from tests.web.test_ops import _break_the_quote
from tests.web.test_request_pages_language import MODEL, PDF

pytestmark = pytest.mark.without_csrf
OFFER_DIAGNOSIS = {"diagnosis": "Sensor cracked", "fault_category": "mechanical", "parts_cost": 300, "labour_hours": 2}


@pytest.fixture(autouse=True)
def finder_and_catalogue(orc):
    centres.seed_demo_locations(orc)
    centres.set_location(orc, "SG", email="service.sg@example.com", phone="+65 6123 4567")
    centres.set_location(orc, "DE", email="service.de@example.com", phone="+49 30 1234567")
    catalogue.save_model(orc, actor(orc, "manager"), MODEL)


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _contacts(html: str) -> list[str]:
    return re.findall(r'data-testid="contact-email">([^<]+)<', html)


def _request(client, language: str = "de") -> dict:
    data = {
        "centre": "SG",
        "name": "Kim Tan",
        "email": "kim@example.com",
        "language": language,
        "model": "Vista X100 Camera",
        "serial_number": f"SN-TRUTH-{language}",
        "purchase_date": (date.today() - timedelta(days=200)).isoformat(),
        "fault_description": "Geht nicht an",
        "proof_of_purchase": (io.BytesIO(PDF), "receipt.pdf"),
    }
    response = client.post("/request", data=data, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return {"tracking_token": response.headers["Location"].split("/request/")[1].split("?")[0]}


def test_every_request_page_shows_the_centres_contact_details(client):
    form = _text(client.get("/request"))
    assert _contacts(form) == ["service.de@example.com", "service.sg@example.com"]  # no centre chosen yet: all
    token = _request(client)["tracking_token"]
    for url in (f"/request/{token}", f"/request/{token}/packing-slip", f"/track/{token}"):
        page = _text(client.get(url))
        assert _contacts(page) == ["service.sg@example.com"], url  # the request's centre only
        assert 'href="tel:+6561234567"' in page and "Ihr Servicecenter" in page, url


def test_request_statuses_are_worded_in_english_and_german_the_incident_included(client, orc):
    german = _request(client, "de")["tracking_token"]
    english = _request(client, "en")["tracking_token"]
    assert 'data-testid="request-status">Anfrage eingegangen<' in _text(client.get(f"/request/{german}"))
    assert 'data-testid="request-status">Request received<' in _text(client.get(f"/request/{english}"))
    assert request_service.request_view(orc, german)["status_text"] == "Anfrage eingegangen"

    _break_the_quote(orc)  # the quote script fails at diagnosis: the RMA is held up by an incident
    payload = rma_payload(months_old=40, serial="SN-TRUTH-INC")
    payload["customer"]["language"] = "de"
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), payload)
    for username, data in (("sg.reception", INTAKE), ("sg.tech", OFFER_DIAGNOSIS)):
        _do(orc, username, rma["id"], data)
    assert rmas.get_rma(orc, actor(orc, "manager"), rma["id"])["status"] == "incident"
    page = _text(client.get(f"/request/{rma['tracking_token']}"))
    assert "status.incident" not in page
    assert "Durch ein technisches Problem aufgehalten: unser Team kümmert sich darum" in page


def _do(orc, username: str, rma_id: int, data: dict) -> None:
    from engine.services import tasks

    worker = actor(orc, username)
    task = tasks.list_tasks(orc, worker, rma_id=rma_id)["items"][0]
    tasks.complete_task(orc, worker, task["id"], data)


def _offered(orc) -> dict:
    """An out-of-warranty unit whose repair costs more than a new one: repair, replacement or decline offered."""
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=36, serial="SN-TRUTH-ROR"))
    _do(orc, "sg.reception", rma["id"], INTAKE)
    _do(orc, "sg.tech", rma["id"], OFFER_DIAGNOSIS)
    assert request_service.request_view(orc, rma["tracking_token"])["offers"]["offer_replacement"] is True
    return rma


@pytest.mark.parametrize("where", ["track", "request"])
def test_declining_the_offers_is_confirmed_first(client, orc, where):
    rma = _offered(orc)
    token = rma["tracking_token"]
    page = f"/track/{token}" if where == "track" else f"/request/{token}"
    back = {"back": "track"} if where == "track" else {}
    assert 'name="choice" value="decline"' in _text(client.get(page))

    unconfirmed = client.post(f"/request/{token}/choice", data={"choice": "decline", **back})
    assert unconfirmed.status_code == 302 and "decline=1" in unconfirmed.headers["Location"]
    assert unconfirmed.headers["Location"].startswith(page)
    assert request_service.request_view(orc, token)["decision_pending"] is True  # nothing recorded yet
    confirm = _text(client.get(f"{page}?decline=1"))
    assert 'data-testid="confirm-decline"' in confirm and "send it back to you unrepaired" in confirm
    assert 'value="replacement"' not in confirm  # only the confirmation and the way back
    assert f'href="{page}#' in confirm  # "No, back to the quote"

    done = client.post(f"/request/{token}/choice", data={"choice": "decline", "confirmed": "1", **back})
    assert done.status_code == 302 and "decline=1" not in done.headers["Location"]
    view = request_service.request_view(orc, token)
    assert view["decision_pending"] is False
    assert "Thank you: you declined the quote." in _text(client.get(page))


def test_choosing_a_replacement_needs_no_confirmation(client, orc):
    token = _offered(orc)["tracking_token"]
    assert client.post(f"/request/{token}/choice", data={"choice": "replacement"}).status_code == 302
    assert request_service.request_view(orc, token)["decision_pending"] is False
