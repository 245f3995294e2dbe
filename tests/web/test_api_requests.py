"""Online requests through the API: the number at once, the proof check, throttling, triage and reception."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, timedelta

import pytest

from engine.services import centres
from engine.services import requests as request_service

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
            "steps": ["Charge the battery for two hours.", "Try another cable."],
        }
    ],
}


@pytest.fixture(autouse=True)
def finder_and_catalogue(orc, api):
    centres.seed_demo_locations(orc)
    assert api.post("manager", "/api/catalogue", MODEL).status_code == 200


def form(**overrides) -> dict:
    fields = {
        "centre": "SG",
        "name": "Kim Tan",
        "email": "Kim@Example.com",
        "phone": "+65 9000 0000",
        "language": "en",
        "model": "Vista X100 Camera",
        "serial_number": "SN-WEB-1",
        "purchase_date": (date.today() - timedelta(days=200)).isoformat(),
        "fault_description": "Does not power on",
    }
    fields.update(overrides)
    return fields


def submit(client, proof=PDF, filename="receipt.pdf", **overrides):
    data = {k: v for k, v in form(**overrides).items() if v is not None}
    if proof is not None:
        data["proof_of_purchase"] = (io.BytesIO(proof), filename)
    return client.post("/api/requests", data=data, content_type="multipart/form-data")


def test_request_gets_its_number_at_once_in_status_requested_with_self_help(client):
    response = submit(client)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["number"].startswith("RMA-SG-") and created["status"] == "requested"
    assert created["request_url"].endswith(f"/request/{created['tracking_token']}")
    view = client.get(f"/api/requests/{created['tracking_token']}").get_json()
    assert view["status"] == "requested" and view["troubleshooting_pending"] is True
    assert [i["code"] for i in view["known_issues"]] == ["no_power"]
    assert view["centre"]["city"] == "Singapore"


@pytest.mark.parametrize(
    ("proof", "filename", "message"),
    [
        (b"MZ\x90\x00 this is a program", "receipt.pdf", "Must be a PDF, PNG or JPEG file."),
        (b"", "receipt.pdf", "Attach your receipt or invoice."),
        (None, None, "Attach your receipt or invoice."),
    ],
)
def test_bad_proof_of_purchase_is_refused_and_nothing_is_saved(client, api, proof, filename, message):
    response = submit(client, proof=proof, filename=filename)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"]["proof_of_purchase"] == [message]
    assert api.get("manager", "/api/rmas").get_json()["total"] == 0


def test_invalid_fields_are_named_and_an_unknown_centre_is_refused(client):
    response = submit(client, email="not-an-email", centre="XX")
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert "email" in errors["customer"]
    assert submit(client, centre="XX").get_json()["errors"] == {"centre": ["Choose a centre from the list."]}


def test_requests_from_one_address_are_throttled_with_429(client, orc, monkeypatch):
    monkeypatch.setattr(orc, "settings", replace(orc.settings, requests_per_hour=2))
    assert submit(client, serial_number="SN-A").status_code == 201
    assert submit(client, serial_number="SN-B").status_code == 201
    refused = submit(client, serial_number="SN-C")
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "too_many_requests"
    assert int(refused.headers["Retry-After"]) > 0


@pytest.mark.parametrize(("near", "first"), [("Berlin", "DE"), ("10117", "DE"), ("Singapore", "SG"), ("138632", "SG")])
def test_centre_finder_lists_the_nearest_centre_first(client, near, first):
    response = client.get("/api/centres/nearby", query_string={"near": near})
    assert response.status_code == 200
    result = response.get_json()
    assert [c["code"] for c in result["items"]][0] == first
    assert result["located"] is not None
    assert result["items"][0]["distance_km"] < result["items"][1]["distance_km"]
    assert result["items"][0]["opening_hours"] and "lead_time" in result["items"][0]


def test_solved_by_self_help_closes_the_request_as_resolved_remotely(client):
    token = submit(client).get_json()["tracking_token"]
    response = client.post(
        f"/api/requests/{token}/troubleshooting", json={"troubleshoot_solved": True, "answers": {"no_power": "yes"}}
    )
    assert response.status_code == 200, response.get_json()
    view = response.get_json()
    assert (view["status"], view["outcome"]) == ("closed", "resolved_remotely")
    again = client.post(f"/api/requests/{token}/troubleshooting", json={"troubleshoot_solved": False})
    assert again.status_code == 409


def test_still_faulty_goes_to_review_then_reception_books_the_parcel_in(client, api):
    created = submit(client).get_json()
    token = created["tracking_token"]
    assert client.post(f"/api/requests/{token}/troubleshooting", json={"troubleshoot_solved": False}).status_code == 200
    early = api.post("sg.reception", "/api/parcels", {"number": created["number"]})
    assert early.status_code == 409  # shipment not authorised yet
    rma_id = api.get("manager", "/api/rmas").get_json()["items"][0]["id"]
    api.do("sg.reception", rma_id, "review_request", {"review_decision": "ship_in"})
    assert client.get(f"/api/requests/{token}").get_json()["awaiting_parcel"] is True
    assert api.post("sg.tech", "/api/parcels", {"number": created["number"]}).status_code == 403
    booked = api.post("sg.reception", "/api/parcels", {"number": " " + created["number"].lower()})
    assert booked.status_code == 200, booked.get_json()
    assert booked.get_json()["number"] == created["number"]
    assert client.get(f"/api/requests/{token}").get_json()["awaiting_parcel"] is False
    assert api.only_task("sg.reception", rma_id)["name"] == "record_condition"


def test_the_serial_read_on_the_unit_at_booking_in_is_flagged_when_it_differs_from_the_declared_one(client, api):
    created = submit(client).get_json()
    client.post(f"/api/requests/{created['tracking_token']}/troubleshooting", json={"troubleshoot_solved": False})
    rma_id = api.get("manager", "/api/rmas").get_json()["items"][0]["id"]
    api.do("sg.reception", rma_id, "review_request", {"review_decision": "ship_in"})
    too_long = api.post("sg.reception", "/api/parcels", {"number": created["number"], "serial_number": "S" * 121})
    assert too_long.status_code == 422 and "serial_number" in too_long.get_json()["errors"]
    declared = api.get("sg.reception", f"/api/rmas/{rma_id}").get_json()["product"]["serial_number"]
    booked = api.post("sg.reception", "/api/parcels", {"number": created["number"], "serial_number": " SN-OTHER-7 "})
    assert booked.status_code == 200, booked.get_json()
    assert booked.get_json()["received_serial"] == "SN-OTHER-7" != declared
    view = api.get("sg.reception", f"/api/rmas/{rma_id}").get_json()
    [flag] = [f for f in view["serial_flags"] if f["code"] == "serial_differs"]
    assert "SN-OTHER-7" in flag["message"] and declared in flag["message"]


def test_unknown_parcel_number_is_404_and_unknown_request_token_is_404(client, api):
    assert api.post("sg.reception", "/api/parcels", {"number": "RMA-SG-999999"}).status_code == 404
    assert client.get("/api/requests/not-a-token").status_code == 404


def test_the_request_page_checks_the_link_before_the_choice(orc):
    """A guessed link learns nothing from the choice it sends: the link is refused first."""
    from engine.errors import RmaNotFound

    with pytest.raises(RmaNotFound):
        request_service.record_choice(orc, "not-a-real-link", "bogus")
