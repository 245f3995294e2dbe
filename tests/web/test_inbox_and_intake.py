"""Issue 16, points 4-6: the inbox for a working day (sort, stage filter, search, landing pages), Start work and the
next task, and an intake that catches mistakes (catalogue models, an open RMA of the serial, a returning customer,
post/redirect/get) with an online request's proof and troubleshooting answers visible to staff."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from engine.demo import create_catalogue_and_locations
from engine.services import requests as request_service
from engine.services import rmas, tasks
from engine.store.model import HumanTask, Rma, utcnow
from tests.helpers import actor, rma_payload

PDF = b"%PDF-1.4\n%%EOF\n"


pytestmark = pytest.mark.without_csrf


def logged_in(client, username):
    assert client.post("/login", data={"username": username, "password": "demo"}).status_code == 302
    return client


def _three_rmas(orc) -> list[dict]:
    """Three RMAs at SG with their intake task: the oldest is due last, the newest is overdue (due times set)."""
    reception = actor(orc, "sg.reception")
    opened = [
        rmas.open_rma(orc, reception, rma_payload(serial=f"SN-{i}", email=f"c{i}@example.com", name=name))
        for i, name in enumerate(["Ann Lee", "Bo Chan", "Cy Wong"])
    ]
    now = utcnow()
    with orc.uow() as uow:
        for rma, (age_h, due_h) in zip(opened, [(30, 48), (20, 5), (10, -2)], strict=True):
            uow.session.execute(
                update(HumanTask)
                .where(HumanTask.rma_id == rma["id"])
                .values(created_at=now - timedelta(hours=age_h), due_at=now + timedelta(hours=due_h))
            )
        uow.commit()
    return opened


def _numbers(items) -> list[str]:
    return [t["rma_number"] for t in items]


def test_inbox_sorts_by_due_or_age_filters_by_stage_and_searches(orc, api):
    first, second, third = _three_rmas(orc)
    reception = actor(orc, "sg.reception")

    by_age = tasks.list_tasks(orc, reception)["items"]
    by_due = tasks.list_tasks(orc, reception, sort="due")["items"]
    assert _numbers(by_age) == [first["number"], second["number"], third["number"]]
    assert _numbers(by_due) == [third["number"], second["number"], first["number"]]

    assert _numbers(tasks.list_tasks(orc, reception, q="bo ch")["items"]) == [second["number"]]
    assert _numbers(tasks.list_tasks(orc, reception, q=third["number"])["items"]) == [third["number"]]
    assert len(tasks.list_tasks(orc, reception, q="x100")["items"]) == 3  # the model, inside the name
    assert tasks.list_tasks(orc, reception, q="100%")["items"] == []  # % is a character, not a wildcard
    assert tasks.list_tasks(orc, reception, stage="nowhere")["items"] == []
    stage = by_age[0]["stage"]
    assert len(tasks.list_tasks(orc, reception, stage=stage, q="SN-")["items"]) == 3
    assert tasks.inbox_stages(orc, reception) == [stage]

    # The API: the same answer as before without the new parameters, and the same filters with them.
    plain = api.get("sg.reception", "/api/tasks").get_json()
    assert _numbers(plain["items"]) == _numbers(by_age) and plain["total"] == 3
    due = api.get("sg.reception", "/api/tasks", query_string={"sort": "due", "q": "SN-2"}).get_json()
    assert _numbers(due["items"]) == [third["number"]] and due["total"] == 1
    assert api.get("sg.reception", "/api/tasks", query_string={"sort": "newest"}).status_code == 422
    assert api.get("sg.reception", "/api/tasks", query_string={"stage": stage}).get_json()["total"] == 3


def test_inbox_page_shows_customer_model_age_due_and_overdue_and_keeps_its_filters(client, orc):
    first, second, third = _three_rmas(orc)
    logged_in(client, "sg.reception")
    html = client.get("/inbox").get_data(as_text=True)
    rows = re.findall(r'<tr( class="overdue")? data-testid="inbox-row">(.*?)</tr>', html, re.S)
    assert [third["number"] in r[1] for r in rows] == [True, False, False]  # due soonest first
    assert [bool(r[0]) for r in rows] == [True, False, False]  # only the overdue one is highlighted
    assert "Cy Wong" in rows[0][1] and "Vista X100 Camera" in rows[0][1] and "Overdue" in rows[0][1]
    assert "10 h" in rows[0][1] and "30 h" in rows[2][1]  # age
    assert "Start work on Record condition of" in html

    by_age = client.get("/inbox?sort=age").get_data(as_text=True)
    assert by_age.index(first["number"]) < by_age.index(third["number"])
    found = client.get("/inbox", query_string={"q": "Ann"}).get_data(as_text=True)
    assert first["number"] in found and second["number"] not in found and 'value="Ann"' in found
    assert "No task matches" in client.get("/inbox?stage=nowhere").get_data(as_text=True)


def test_start_work_claims_and_opens_and_completing_lands_on_the_next_task(client, orc):
    reception = actor(orc, "sg.reception")
    a = rmas.open_rma(orc, reception, rma_payload(serial="A"))
    b = rmas.open_rma(orc, reception, rma_payload(serial="B"))
    for rma in (a, b):  # past intake: each waits for the technician's diagnosis
        task = tasks.list_tasks(orc, reception, rma_id=rma["id"])["items"][0]
        data = {"condition_grade": "A", "condition_notes": "ok", "customer_acknowledged": True}
        tasks.complete_task(orc, reception, task["id"], data)
    tech = actor(orc, "sg.tech")
    first, second = tasks.list_tasks(orc, tech, sort="due")["items"]
    logged_in(client, "sg.tech")

    started = client.post(f"/tasks/{first['id']}/start")
    assert started.status_code == 302 and started.headers["Location"].endswith(f"/tasks/{first['id']}")
    assert tasks.get_task(orc, tech, first["id"])["assignee"] == "sg.tech"

    done = client.post(
        f"/tasks/{first['id']}",
        data={
            "diagnosis": "Board",
            "fault_category": "electronic",
            "parts_cost": "10",
            "labour_hours": "1",
        },
    )
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/tasks/{second['id']}")
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert f"“Diagnose fault” completed. {first['rma_number']} is now" in page
    assert f"Next: “Diagnose fault” of {second['rma_number']}" in page

    # someone else took the task meanwhile: Start work says so and stays in the inbox
    tasks.claim_task(orc, actor(orc, "sg.tech"), second["id"])
    logged_in(client, "sg.qa")
    refused = client.post(f"/tasks/{second['id']}/start")
    assert refused.status_code == 403


def test_intake_ends_on_the_receipt_and_the_last_task_on_the_inbox(client, orc):
    logged_in(client, "sg.reception")
    opened = client.post("/rmas/new", data=_form(serial="R-1", key="k-receipt"))
    assert opened.status_code == 302 and "/tasks/" in opened.headers["Location"]  # straight to the intake task
    intake = client.post(
        opened.headers["Location"],
        data={"condition_grade": "A", "condition_notes": "ok", "customer_acknowledged": "true"},
    )
    assert intake.status_code == 302 and re.search(r"/rmas/\d+/receipt$", intake.headers["Location"])
    receipt = client.get(intake.headers["Location"]).get_data(as_text=True)
    assert "data-print" in receipt and "Print" in receipt


def _form(serial="NEW-1", email="new@example.com", key="key-1", **extra) -> dict:
    return {
        "centre": "SG",
        "customer_name": "Dee Ng",
        "customer_email": email,
        "customer_phone": "+65 8000 0001",
        "customer_language": "en",
        "product_model": "Vista X100 Camera",
        "serial_number": serial,
        "purchase_date": (utcnow().date() - timedelta(days=100)).isoformat(),
        "product_category": "camera",
        "fault_description": "Dead",
        "intake_key": key,
        **extra,
    }


def _count(orc) -> int:
    with orc.reading() as s:
        return len(s.scalars(select(Rma.id)).all())


def test_intake_offers_catalogue_models_and_a_resent_form_opens_one_rma(client, orc):
    create_catalogue_and_locations(orc)
    logged_in(client, "sg.reception")
    page = client.get("/rmas/new").get_data(as_text=True)
    assert 'list="catalogue-models"' in page and '<option value="Vista X100 Camera">' in page
    key = re.search(r'name="intake_key" value="([^"]+)"', page).group(1)

    first = client.post("/rmas/new", data=_form(key=key))
    again = client.post("/rmas/new", data=_form(key=key))  # the back button, then Open RMA again
    assert first.status_code == 302 and again.status_code == 302
    assert _count(orc) == 1
    assert client.get("/rmas/new").get_data(as_text=True).count(key) == 0  # every form gets its own key
    edited = client.post("/rmas/new", data=_form(key=key, serial="OTHER-1"))  # the same form, changed
    assert edited.status_code == 409 and "already opened an RMA" in edited.get_data(as_text=True)
    assert _count(orc) == 1


def test_intake_warns_of_an_open_rma_of_the_serial_with_a_link(client, orc):
    earlier = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="DUP-1"))
    logged_in(client, "sg.reception")
    warned = client.post("/rmas/new", data=_form(serial="DUP-1"))
    html = warned.get_data(as_text=True)
    assert warned.status_code == 409 and 'data-testid="serial-open"' in html
    assert f'href="/rmas/{earlier["id"]}">{earlier["number"]}</a>' in html
    assert 'value="DUP-1"' in html and 'value="Dee Ng"' in html  # nothing typed is lost
    assert _count(orc) == 1
    confirmed = client.post("/rmas/new", data=_form(serial="DUP-1", confirm_serial="1"))
    assert confirmed.status_code == 302 and _count(orc) == 2
    # another centre's open RMA is not shown (nor counted) to SG reception
    rmas.open_rma(orc, actor(orc, "de.reception"), rma_payload(centre="DE", serial="DE-ONLY"))
    assert client.post("/rmas/new", data=_form(serial="DE-ONLY", key="k2")).status_code == 302


def test_intake_looks_up_a_returning_customer_by_email_or_phone(client, orc):
    earlier = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(email="kim@example.com", name="Kim Tan"))
    logged_in(client, "sg.reception")
    for wanted in ("KIM@example.com", "+65 9000 0000"):
        html = client.get("/rmas/new", query_string={"lookup": wanted}).get_data(as_text=True)
        assert 'id="f-customer_name" name="customer_name" value="Kim Tan"' in html
        assert 'name="customer_email" value="kim@example.com"' in html
        assert earlier["number"] in html
    missing = client.get("/rmas/new", query_string={"lookup": "nobody@example.com"}).get_data(as_text=True)
    assert "No earlier customer" in missing and 'name="customer_name" value=""' in missing
    logged_in(client, "de.reception")  # another centre's customers are not offered
    other = client.get("/rmas/new", query_string={"lookup": "kim@example.com"}).get_data(as_text=True)
    assert "Kim Tan" not in other


def test_staff_open_the_proof_of_purchase_and_read_the_troubleshooting_answers(client, orc):
    create_catalogue_and_locations(orc)
    created = request_service.submit_request(
        orc,
        {
            "centre": "SG",
            "customer": {"name": "Kim", "email": "kim@example.com"},
            "product": {"model": "Vista X100 Camera", "serial_number": "S1", "purchase_date": "2025-01-01"},
            "fault_description": "Dead",
        },
        "receipt.pdf",
        PDF,
        "10.0.0.1",
    )
    answers = {"troubleshoot_solved": False, "answers": {"autofocus_hunts": "yes"}, "troubleshoot_notes": "Tried"}
    request_service.answer_troubleshooting(orc, created["tracking_token"], answers)
    rma_id = _only_rma_id(orc)
    logged_in(client, "sg.reception")
    html = client.get(f"/rmas/{rma_id}").get_data(as_text=True)
    assert 'data-testid="online-request"' in html and f'href="/rmas/{rma_id}/proof"' in html
    assert "Does the autofocus hunt and never lock?" in html and "Not solved by the self-help steps" in html
    assert "Tried" in html
    proof = client.get(f"/rmas/{rma_id}/proof")
    assert proof.status_code == 200 and proof.data == PDF and proof.mimetype == "application/pdf"
    assert proof.headers["X-Content-Type-Options"] == "nosniff"
    logged_in(client, "de.reception")
    assert client.get(f"/rmas/{rma_id}/proof").status_code == 404

    counter = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="C1"))
    logged_in(client, "sg.reception")
    assert 'data-testid="online-request"' not in client.get(f"/rmas/{counter['id']}").get_data(as_text=True)


def _only_rma_id(orc) -> int:
    with orc.reading() as s:
        return s.scalars(select(Rma.id)).one()


LANDINGS = [
    ("owner", "/processes"),
    ("manager", "/manager/dashboard"),
    ("sg.tech", "/inbox"),
    ("sg.reception", "/inbox"),
]


def test_each_role_lands_on_its_page_and_no_page_says_centre_none(app):
    for username, landing in LANDINGS:  # one database for the four roles (its setup is most of the time)
        client = app.test_client()
        response = client.post("/login", data={"username": username, "password": "demo"})
        assert response.status_code == 302 and response.headers["Location"].endswith(landing), username
        assert client.get("/").headers["Location"].endswith(landing)
        for url in ("/inbox", landing):
            html = client.get(url).get_data(as_text=True)
            assert "None" not in re.sub(r"<[^>]+>", " ", html), (username, url)
