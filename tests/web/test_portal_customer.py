"""The customer's side over HTTP: portal detail, quote versions, SMS choice, photos, receipt, staff panels."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from engine.adapters import uploads
from engine.errors import InvalidInput
from tests.helpers import INTAKE, staff_session
from tests.web.conftest import ApiDriver

DIAGNOSIS = {
    "diagnosis": "Corroded flex cable",
    "fault_category": "electronic",
    "parts_cost": 80.5,
    "labour_hours": 1.5,
}


def png(colour=(200, 30, 30), size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def upload(api, rma_id, *files, user="sg.reception"):
    data = {"photos": [(io.BytesIO(content), name) for name, content in files]}
    return api.client.post(
        f"/api/rmas/{rma_id}/photos", headers=api.headers(user), data=data, content_type="multipart/form-data"
    )


def quoted(api) -> dict:
    payload_rma = api.open_rma(months_old=30)
    api.do("sg.reception", payload_rma["id"], "record_condition", INTAKE)
    api.do("sg.tech", payload_rma["id"], "diagnose", DIAGNOSIS)
    return payload_rma


def test_portal_shows_quote_lines_version_estimate_and_dated_milestones(api):
    rma = quoted(api)
    view = api.client.get(f"/api/portal/{rma['tracking_token']}").get_json()
    detail = view["quote_detail"]
    assert detail["version"] == 1 and detail["status"] == "pending" and detail["total"] == 170.5
    assert [(line["kind"], line["amount"]) for line in detail["lines"]] == [("parts", "80.50"), ("labour", "90.00")]
    assert "decided_ip" not in detail
    assert view["eta"]["range"] and view["eta"]["basis"]
    assert [m["kind"] for m in view["milestones"]][:2] == ["status_changed", "quote_ready"]
    assert view["sms"] == {"available": True, "opted_out": False, "phone": "•" * 9 + "0000"}
    assert [s["key"] for s in view["steps"] if s["state"] == "current"] == ["awaiting_approval"]
    assert "kim@example.com" not in json.dumps(view) and "+65 9000 0000" not in json.dumps(view)


def test_an_answer_to_a_quote_version_that_is_not_pending_is_409(api):
    rma = quoted(api)
    url = f"/api/portal/{rma['tracking_token']}/decision"
    stale = api.client.post(url, json={"approve": True, "quote_version": 7})
    assert stale.status_code == 409 and stale.get_json()["code"] == "quote_changed"
    ok = api.client.post(url, json={"approve": True, "quote_version": 1}, environ_base={"REMOTE_ADDR": "198.51.100.4"})
    assert ok.status_code == 200 and ok.get_json()["quote_detail"]["status"] == "approved"
    [quote] = api.get("sg.reception", f"/api/rmas/{rma['id']}/customer-side").get_json()["quotes"]
    assert quote["decided_ip"] == "198.51.100.4" and quote["decided_at"]


def test_customer_turns_sms_off_through_the_api(api):
    rma = api.open_rma()
    response = api.client.post(f"/api/portal/{rma['tracking_token']}/sms", json={"opt_out": True})
    assert response.status_code == 200 and response.get_json()["sms"]["opted_out"] is True
    assert api.get("sg.reception", f"/api/rmas/{rma['id']}/customer-side").get_json()["sms_opt_out"] is True


def test_intake_photos_are_checked_stored_by_checksum_and_cited_by_the_form(api, app):
    rma = api.open_rma()
    response = upload(api, rma["id"], ("front.png", png()), ("back.png", png((0, 0, 200))))
    assert response.status_code == 201, response.get_json()
    photos = response.get_json()
    assert [p["content_type"] for p in photos] == ["image/png", "image/png"] and len(photos[0]["sha256"]) == 64
    stored = app.extensions["rma"].settings.upload_dir
    assert sum(1 for p in stored.rglob("*.png")) == 2
    api.do("sg.reception", rma["id"], "record_condition", {**INTAKE, "photos": [p["sha256"] for p in photos]})
    side = api.get("sg.reception", f"/api/rmas/{rma['id']}/customer-side").get_json()
    assert [p["task"] for p in side["photos"]] == ["record_condition", "record_condition"]


def test_a_photo_that_is_not_jpeg_or_png_or_too_big_is_refused(api):
    rma = api.open_rma()
    gif = upload(api, rma["id"], ("x.png", b"GIF89a" + b"\0" * 100))
    assert gif.status_code == 422 and "JPEG or PNG" in gif.get_json()["errors"]["photos"][0]
    with pytest.raises(InvalidInput, match="too large"):  # (over HTTP such a body is spooled to disk: slow)
        uploads.check("huge.jpg", b"\xff\xd8\xff" + b"\0" * uploads.MAX_BYTES)
    assert upload(api, rma["id"], ("x.png", png()), user="sg.tech").status_code == 403


def test_the_form_may_cite_only_photos_uploaded_for_this_rma(api):
    rma = api.open_rma()
    task = api.only_task("sg.reception", rma["id"])
    response = api.complete("sg.reception", task["id"], {**INTAKE, "photos": ["ab" * 32]})
    assert response.status_code == 422 and "photos" in response.get_json()["errors"]
    assert api.only_task("sg.reception", rma["id"])["status"] == "open"


def test_receipt_pdf_for_staff_and_for_the_customer(api):
    rma = api.open_rma()
    upload(api, rma["id"], ("front.png", png()))
    api.do("sg.reception", rma["id"], "record_condition", INTAKE)
    staff = api.get("sg.reception", f"/api/rmas/{rma['id']}/receipt.pdf")
    assert staff.status_code == 200 and staff.data.startswith(b"%PDF") and staff.mimetype == "application/pdf"
    customer = api.client.get(f"/track/{rma['tracking_token']}/receipt.pdf")
    assert customer.status_code == 200 and customer.data.startswith(b"%PDF")


def _login(client, username):
    with client.session_transaction() as session:
        staff_session(session, client.application, username)


def test_staff_rma_page_shows_photos_estimate_messages_history_and_receipt(api, client):
    rma = api.open_rma()
    [photo] = upload(api, rma["id"], ("front.png", png())).get_json()
    api.do("sg.reception", rma["id"], "record_condition", {**INTAKE, "photos": [photo["sha256"]]})
    _login(client, "sg.reception")
    page = client.get(f"/rmas/{rma['id']}").get_data(as_text=True)
    for expected in (
        "Estimated completion",
        "Intake photos",
        photo["sha256"][:12],
        "Messages to the customer",
        "we have received your",
        "Earlier RMAs",
        "Loan unit",
        "Intake receipt",
    ):
        assert expected in page, expected
    with client.get(f"/rmas/{rma['id']}/photos/{photo['sha256']}") as image:
        assert image.status_code == 200 and image.mimetype == "image/png"
        assert image.headers["X-Content-Type-Options"] == "nosniff"
        assert image.get_data() == png()
    receipt = client.get(f"/rmas/{rma['id']}/receipt").get_data(as_text=True)
    assert "Intake receipt" in receipt and rma["number"] in receipt and "Clean unit" in receipt


def test_tracking_page_is_in_the_customers_language(api, client):
    payload_rma = api.post(
        "sg.reception",
        "/api/rmas",
        {
            "centre": "SG",
            "customer": {"name": "Jana Roth", "email": "jana@example.com", "language": "de"},
            "product": {"model": "Vista X100 Camera", "serial_number": "SN-DE-1", "purchase_date": "2020-01-10"},
            "fault_description": "Blende klemmt",
        },
    ).get_json()
    assert payload_rma["customer"]["language"] == "de"
    page = client.get(f"/track/{payload_rma['tracking_token']}")
    text = page.get_data(as_text=True)
    assert page.headers["Content-Language"] == "de" and '<html lang="de">' in text
    assert "Im Servicecenter eingegangen" in text and "Voraussichtlich fertig" in text


@pytest.mark.parametrize(("trusted_proxies", "recorded"), [(0, "10.0.0.5"), (1, "203.0.113.9")])
def test_the_recorded_address_is_the_clients_only_behind_a_trusted_proxy(orc, trusted_proxies, recorded):
    """Behind a proxy, REMOTE_ADDR is the proxy's; X-Forwarded-For counts only when RMA_TRUSTED_PROXIES says so."""
    from dataclasses import replace

    from web import create_app

    app = create_app(
        {
            "TESTING": True,
            "RMA_ORCHESTRATOR": orc,
            "RMA_SETTINGS": replace(orc.settings, trusted_proxies=trusted_proxies),
        }
    )
    api = ApiDriver(app.test_client())
    rma = quoted(api)
    answer = api.client.post(
        f"/api/portal/{rma['tracking_token']}/decision",
        json={"approve": True},
        headers={"X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
    )
    assert answer.status_code == 200, answer.get_json()
    [quote] = api.get("sg.reception", f"/api/rmas/{rma['id']}/customer-side").get_json()["quotes"]
    assert quote["decided_ip"] == recorded
