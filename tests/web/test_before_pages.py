"""Staff pages before the repair: reception books parcels in; managers keep the catalogue (CSV import all or
nothing)."""

from __future__ import annotations

import io

import pytest

from engine.services import catalogue, centres
from engine.services import requests as request_service
from tests.helpers import actor

PDF = b"%PDF-1.4\n%%EOF\n"


pytestmark = pytest.mark.without_csrf


def logged_in(client, username):
    assert client.post("/login", data={"username": username, "password": "demo"}).status_code == 302
    return client


def test_only_managers_open_the_catalogue_and_only_reception_or_managers_the_reception_page(client):
    assert client.get("/catalogue").status_code == 302  # to the login page
    logged_in(client, "sg.reception")
    assert client.get("/catalogue").status_code == 403
    assert client.get("/reception").status_code == 200
    logged_in(client, "sg.tech")
    assert client.get("/reception").status_code == 403


def test_catalogue_import_page_lists_bad_rows_by_line_and_imports_nothing(client, orc):
    logged_in(client, "manager")
    bad = b"model,category,warranty_months,replacement_value,currency\nA1,camera,24,100,SGD\nA2,camera,x,100,SGD\n"
    response = client.post(
        "/catalogue/import", data={"file": (io.BytesIO(bad), "m.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<td>3</td><td>warranty_months</td>" in html
    assert catalogue.count(orc) == 0
    good = bad.replace(b",x,", b",12,")
    response = client.post(
        "/catalogue/import",
        data={"file": (io.BytesIO(good), "m.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Imported 2 model(s): 2 new, 0 updated." in response.get_data(as_text=True)
    assert [m["model"] for m in catalogue.list_models(orc)] == ["A1", "A2"]


def test_manager_edits_a_model_with_its_known_issues(client, orc):
    logged_in(client, "manager")
    form = {
        "model": "Dome C1",
        "category": "cctv",
        "warranty_months": "36",
        "replacement_value": "300.5",
        "currency": "sgd",
        "known_issues": "Black image? => Check the PoE switch; Reboot\nNo sound? => Unmute",
    }
    assert client.post("/catalogue/edit", data=form).status_code == 302
    saved = catalogue.get_model(orc, "dome c1")
    assert (saved["warranty_months"], str(saved["replacement_value"]), saved["currency"]) == (36, "300.50", "SGD")
    assert [i["steps"] for i in saved["known_issues"]] == [["Check the PoE switch", "Reboot"], ["Unmute"]]
    refused = client.post("/catalogue/edit", data={**form, "known_issues": "just words", "warranty_months": "x"})
    assert refused.status_code == 422
    assert "must read" in refused.get_data(as_text=True)


def test_a_centre_manager_reads_the_company_catalogue_but_does_not_change_it(client, orc):
    from engine.services import users

    catalogue.save_model(
        orc,
        actor(orc, "manager"),
        {"model": "Dome C1", "category": "cctv", "warranty_months": 36, "replacement_value": 300, "currency": "SGD"},
    )
    users.add_user(orc, "sg.manager", "manager", "SG", None, password_hash=users.hash_password("demo"))
    logged_in(client, "sg.manager")
    page = client.get("/catalogue")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Dome C1" in html and 'data-testid="catalogue-read-only"' in html
    assert "New model" not in html and "Import a CSV file" not in html and "Remove" not in html
    assert client.get("/catalogue/edit?model=Dome%20C1").status_code == 403
    form = {"model": "Dome C1", "category": "cctv", "warranty_months": "0", "replacement_value": "1", "currency": "SGD"}
    assert client.post("/catalogue/edit", data=form).status_code == 403
    assert client.post("/catalogue/delete", data={"model": "Dome C1"}).status_code == 403
    assert catalogue.get_model(orc, "dome c1")["warranty_months"] == 36


def test_reception_books_in_a_parcel_once_the_shipment_is_authorised(client, orc):
    from engine.services import tasks

    centres.seed_demo_locations(orc)
    created = request_service.submit_request(
        orc,
        {
            "centre": "SG",
            "customer": {"name": "Kim", "email": "kim@example.com"},
            "product": {"model": "Vista X100 Camera", "serial_number": "S1", "purchase_date": "2025-01-01"},
            "fault_description": "Dead",
        },
        "r.pdf",
        PDF,
        "10.0.0.1",
    )
    logged_in(client, "sg.reception")
    early = client.post("/reception", data={"number": created["number"]})
    assert early.status_code == 409 and "still in troubleshooting" in early.get_data(as_text=True)
    request_service.answer_troubleshooting(orc, created["tracking_token"], {"troubleshoot_solved": False})
    reception = actor(orc, "sg.reception")
    task = tasks.list_tasks(orc, reception)["items"][0]
    tasks.claim_task(orc, reception, task["id"])
    tasks.complete_task(orc, reception, task["id"], {"review_decision": "ship_in"})
    form = client.get("/reception").get_data(as_text=True)
    assert 'name="serial_number"' in form
    booked = client.post("/reception", data={"number": created["number"].lower(), "serial_number": "S1-B"})
    assert booked.status_code == 200
    assert f"Parcel for {created['number']} booked in" in booked.get_data(as_text=True)
    assert "The serial on the unit (S1-B) is not the one declared" in booked.get_data(as_text=True)
    assert client.post("/reception", data={"number": "RMA-SG-424242"}).status_code == 404
