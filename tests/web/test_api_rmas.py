"""Opening, finding and showing RMAs over HTTP."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tests.helpers import rma_payload


def test_open_rma_returns_201_with_the_full_rma(api):
    response = api.post("sg.reception", "/api/rmas", rma_payload(serial="SN-77"))
    rma = response.get_json()
    assert response.status_code == 201
    assert response.headers["Location"].endswith(f"/api/rmas/{rma['id']}")
    assert rma == api.rma("sg.reception", rma["id"])
    assert rma["centre"] == "SG" and rma["status"] == "received" and rma["outcome"] is None
    assert rma["customer"]["email"] == "kim@example.com" and rma["product"]["serial_number"] == "SN-77"
    assert rma["product"]["purchase_date"] == rma_payload()["product"]["purchase_date"]
    assert rma["process"]["version"] >= 1 and rma["tracking_token"]
    assert rma["history"][0]["kind"] == "rma_opened" and rma["history"][0]["actor"] == "sg.reception"
    assert datetime.fromisoformat(rma["created_at"]).utcoffset() is not None


@pytest.mark.parametrize(
    "mutate, path",
    [
        (lambda p: p["customer"].update(email="not-an-email"), ("customer", "email")),
        (lambda p: p["product"].update(purchase_date="05/01/2024"), ("product", "purchase_date")),
        (lambda p: p["product"].pop("serial_number"), ("product", "serial_number")),
        (lambda p: p["customer"].update(name="   "), ("customer", "name")),
        (lambda p: p.update(fault_description="x" * 5001), ("fault_description",)),
        (lambda p: p.pop("customer"), ("customer",)),
    ],
)
def test_invalid_rma_payload_is_422_with_the_field_named_and_nothing_opened(api, mutate, path):
    payload = rma_payload()
    mutate(payload)
    response = api.post("sg.reception", "/api/rmas", payload)
    body = response.get_json()
    assert response.status_code == 422 and body["code"] == "invalid_input"
    errors = body["errors"]
    for key in path:
        errors = errors[key]
    assert isinstance(errors, list) and errors
    assert api.get("sg.reception", "/api/rmas").get_json()["total"] == 0


def test_purchase_date_in_the_future_or_unknown_centre_is_422(api):
    future = rma_payload()
    future["product"]["purchase_date"] = (date.today() + timedelta(days=3)).isoformat()
    response = api.post("sg.reception", "/api/rmas", future)
    assert response.status_code == 422 and "purchase_date" in response.get_json()["errors"]["product"]
    response = api.post("manager", "/api/rmas", rma_payload(centre="XX"))
    assert response.status_code == 422 and "centre" in response.get_json()["errors"]


def test_only_reception_of_the_centre_or_a_manager_may_open(api):
    assert api.post("sg.tech", "/api/rmas", rma_payload()).status_code == 403
    assert api.post("sg.reception", "/api/rmas", rma_payload(centre="DE")).status_code == 403
    assert api.post("manager", "/api/rmas", rma_payload(centre="DE")).status_code == 201


def test_another_centres_rma_is_404(api):
    rma = api.open_rma()
    response = api.get("de.reception", f"/api/rmas/{rma['id']}")
    assert response.status_code == 404 and response.get_json()["code"] == "rma_not_found"
    assert api.get("manager", f"/api/rmas/{rma['id']}").status_code == 200
    assert api.get("sg.reception", "/api/rmas/999999").status_code == 404


def test_rma_list_filters_by_status_centre_and_search_term(api):
    first = api.open_rma(serial="SN-ALPHA", name="Kim Tan")
    api.open_rma(serial="SN-BETA", name="Lee Wong", email="lee@example.com")
    api.open_rma("de.reception", centre="DE", serial="SN-GAMMA")
    api.do(
        "sg.reception",
        first["id"],
        "record_condition",
        {"condition_grade": "A", "condition_notes": "ok", "customer_acknowledged": True},
    )

    def numbers(username, **query):
        body = api.get(username, "/api/rmas", query_string=query).get_json()
        assert body["total"] == len(body["items"])
        return sorted(item["product"]["serial_number"] for item in body["items"])

    assert numbers("sg.reception") == ["SN-ALPHA", "SN-BETA"]
    assert numbers("manager") == ["SN-ALPHA", "SN-BETA", "SN-GAMMA"]
    assert numbers("manager", centre="DE") == ["SN-GAMMA"]
    assert numbers("sg.reception", centre="DE") == []
    assert numbers("sg.reception", status="diagnosing") == ["SN-ALPHA"]
    assert numbers("sg.reception", q="lee wong") == ["SN-BETA"]
    assert numbers("sg.reception", q="sn-beta") == ["SN-BETA"]
    assert numbers("sg.reception", q=first["number"]) == ["SN-ALPHA"]


def test_rma_list_is_paginated_newest_first(api):
    opened = [api.open_rma(serial=f"SN-{i}")["id"] for i in range(5)]
    pages = [
        api.get("sg.reception", "/api/rmas", query_string={"page": page, "per_page": 2}).get_json()
        for page in (1, 2, 3)
    ]
    assert [p["total"] for p in pages] == [5, 5, 5]
    assert [[item["id"] for item in p["items"]] for p in pages] == [opened[4:2:-1], opened[2:0:-1], opened[:1]]
    assert pages[1]["page"] == 2 and pages[1]["per_page"] == 2


@pytest.mark.parametrize("query", ["page=x", "per_page=1.5", "page="])
def test_a_page_that_is_not_a_whole_number_is_422(api, query):
    """Out-of-range pages are clamped (tests/security/test_bad_input.py); what is not a number is refused."""
    response = api.get("sg.reception", f"/api/rmas?{query}")
    assert response.status_code == 422 and response.get_json()["code"] == "invalid_input"


def test_query_argument_errors_are_keyed_by_field_like_body_errors(api):
    response = api.get("sg.reception", "/api/rmas?page=x")
    assert response.get_json()["errors"] == {"page": ["Not a valid integer."]}
