"""The service record (issue 16, points 1-3): everything entered is visible afterwards to staff, each task page
shows its worker the context, a failed QA needs a reason, and the customer sees no internal notes or staff names."""

from __future__ import annotations

import json
import re

import pytest

from tests.helpers import INTAKE

DIAGNOSIS = {"diagnosis": "Main board shorted", "fault_category": "electronic", "parts_cost": 100, "labour_hours": 2}
FIRST_REPAIR = {"repair_notes": "Replaced the main board", "parts_used": "MB-X100"}
FAILED_QA = {"qa_passed": False, "qa_notes": "Power button intermittent"}
SECOND_REPAIR = {"repair_notes": "Replaced the power button", "parts_used": "BTN-7"}
PASSED_QA = {"qa_passed": True, "qa_notes": "All functions OK"}
SHIPPING = {"carrier": "SingPost", "tracking_number": "SP123456789SG"}
INTERNAL = [
    INTAKE["condition_notes"],
    DIAGNOSIS["diagnosis"],
    FIRST_REPAIR["repair_notes"],
    FAILED_QA["qa_notes"],
    SECOND_REPAIR["repair_notes"],
    PASSED_QA["qa_notes"],
    "MB-X100",
]
STAFF = ["sg.reception", "sg.tech", "sg.qa"]


pytestmark = pytest.mark.without_csrf


def _decide(api, token: str) -> None:
    assert api.client.post(f"/api/portal/{token}/decision", json={"approve": True}).status_code == 200


def _to_rework(api) -> dict:
    """An out-of-warranty unit, quoted and approved, repaired once and failed at QA: its second repair is open."""
    rma = api.open_rma(months_old=30, serial="VX-77")
    api.do("sg.reception", rma["id"], "record_condition", INTAKE)
    api.do("sg.tech", rma["id"], "diagnose", DIAGNOSIS)
    _decide(api, rma["tracking_token"])
    api.do("sg.tech", rma["id"], "repair", FIRST_REPAIR)
    assert api.do("sg.qa", rma["id"], "qa_check", FAILED_QA)["status"] == "repairing"
    return rma


def _closed(api) -> dict:
    rma = _to_rework(api)
    api.do("sg.tech", rma["id"], "repair", SECOND_REPAIR)
    api.do("sg.qa", rma["id"], "qa_check", PASSED_QA)
    assert api.do("sg.reception", rma["id"], "ship_return", SHIPPING)["status"] == "closed"
    return rma


def _log_in(client, username: str) -> None:
    assert client.post("/login", data={"username": username, "password": "demo"}).status_code == 302


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_everything_entered_is_visible_to_staff_afterwards_and_nothing_internal_to_the_customer(api, client):
    """One closed RMA (a failed QA and a second repair on the way): the API's history, the RMA page's service
    record and history, a completed task's page, and the customer's views."""
    rma = _closed(api)
    _history_items_carry_the_task_and_what_was_submitted_with_who_and_when(api, rma)
    _the_rma_page_shows_the_service_record_per_visit_and_the_history_with_the_values(client, rma)
    _a_completed_task_page_shows_what_was_submitted_read_only(api, client, rma)
    _the_customer_sees_no_internal_notes_and_no_staff_names(api, client, rma)


def _history_items_carry_the_task_and_what_was_submitted_with_who_and_when(api, rma):
    history = api.rma("sg.tech", rma["id"])["history"]
    done = [(e["task"], e["data"], e["actor"]) for e in history if e["kind"] == "task_completed"]
    assert done == [
        ("record_condition", INTAKE, "sg.reception"),
        ("diagnose", DIAGNOSIS, "sg.tech"),
        ("repair", FIRST_REPAIR, "sg.tech"),
        ("qa_check", FAILED_QA, "sg.qa"),
        ("repair", SECOND_REPAIR, "sg.tech"),
        ("qa_check", PASSED_QA, "sg.qa"),
        ("ship_return", SHIPPING, "sg.reception"),
    ]
    decided = next(e for e in history if e["kind"] == "quote_decided")
    assert decided["task"] == "customer_approval" and decided["data"]["approve"] is True
    assert all(e["at"] for e in history)
    assert all(e["task"] is None for e in history if e["kind"] in ("rma_opened", "status_changed"))


def test_a_failed_qa_without_a_reason_is_refused_by_the_api_and_the_staff_form_and_a_pass_needs_none(api, client):
    rma = _to_rework(api)
    api.do("sg.tech", rma["id"], "repair", SECOND_REPAIR)
    task = api.only_task("sg.qa", rma["id"])
    form = api.get("sg.qa", f"/api/tasks/{task['id']}").get_json()["form"]
    assert form["then"]["required"] == ["qa_notes"]  # the rule is in the form's JSON Schema, for any client
    for data in ({"qa_passed": False}, {"qa_passed": False, "qa_notes": ""}, {"qa_passed": False, "qa_notes": " \n"}):
        response = api.complete("sg.qa", task["id"], data)
        assert response.status_code == 422, data
        assert response.get_json()["errors"] == {"qa_notes": ["This field is required."]}, data
    _log_in(client, "sg.qa")  # the staff form says it next to the field
    response = client.post(f"/tasks/{task['id']}", data={"qa_passed": "false", "qa_notes": ""})
    assert response.status_code == 422
    assert re.search(r'id="qa_notes-errors">\s*<li>This field is required.</li>', response.get_data(as_text=True))
    assert api.rma("sg.qa", rma["id"])["status"] == "quality_check"  # nothing was recorded
    assert api.complete("sg.qa", task["id"], {"qa_passed": True}).get_json()["rma"]["status"] == "returning"


def _the_rma_page_shows_the_service_record_per_visit_and_the_history_with_the_values(client, rma):
    _log_in(client, "sg.tech")
    html = client.get(f"/rmas/{rma['id']}").get_data(as_text=True)
    record = _text(html.split('data-testid="service-record"')[1].split("</section>")[0])
    visits = re.findall(r'data-stage="([a-z_]+)" data-visit="(\d)"', html)
    assert visits == [
        ("intake", "1"),
        ("diagnosis", "1"),
        ("approval", "1"),
        ("repair", "1"),
        ("qa", "1"),
        ("repair", "2"),
        ("qa", "2"),
        ("return", "1"),
    ]
    for text in (
        "Condition notes Clean unit",
        "Estimated parts cost 100.00 SGD",
        "Repair notes Replaced the main board",
        "QA passed Failed",
        "QA notes Power button intermittent",
        "Repair notes Replaced the power button",
        "Parts used BTN-7",
        "QA passed Passed",
        "Tracking number SP123456789SG",
        "by sg.qa",
        "by the customer",
    ):
        assert text in record, text
    assert record.index("Replaced the main board") < record.index("intermittent") < record.index("power button")
    history = _text(html.split('data-testid="history"')[1])
    assert "QA notes Power button intermittent" in history and "Carrier SingPost" in history


def _a_completed_task_page_shows_what_was_submitted_read_only(api, client, rma):
    failed_qa = next(
        t
        for t in api.get("sg.qa", "/api/tasks", query_string={"rma_id": rma["id"], "status": "completed"}).get_json()[
            "items"
        ]
        if t["name"] == "qa_check"
    )
    _log_in(client, "sg.qa")
    html = client.get(f"/tasks/{failed_qa['id']}").get_data(as_text=True)
    submitted = _text(html.split('data-testid="submitted"')[1].split("</dl>")[0])
    assert "QA passed Failed" in submitted and "QA notes Power button intermittent" in submitted
    assert "<form" not in html.split('id="form-title"')[1].split("</section>")[0]  # nothing to edit or submit
    assert "Complete task" not in html


def test_the_task_page_shows_its_worker_the_context_and_after_a_failed_qa_the_rework(api, client):
    earlier = api.open_rma(months_old=30, serial="VX-77")  # the same unit and customer, earlier
    rma = _to_rework(api)
    task = api.only_task("sg.tech", rma["id"])
    _log_in(client, "sg.tech")
    html = client.get(f"/tasks/{task['id']}").get_data(as_text=True)
    page = _text(html)
    banner = _text(html.split('data-testid="rework-banner"')[1].split("</div>\n</div>")[0])
    assert "quality check failed" in banner and "Power button intermittent" in banner and "sg.qa" in banner
    context = _text(html.split('data-testid="task-context"')[1].split("</aside>")[0])
    for text in (
        "Does not power on",  # the customer's words
        "Condition notes Clean unit",
        "Accessories received Charger",
        "Out of warranty: Warranty expired",  # the decision and its reason
        "Diagnosis Main board shorted",
        "Estimated parts cost 100.00 SGD",
        "220.00 SGD",  # the quote with its currency
        "Approved",
        "The customer's answer: Approve",
        earlier["number"],  # the unit's and the customer's earlier RMA
    ):
        assert text in context, text
    assert page.count(earlier["number"]) >= 2  # under "This unit" and "This customer"


def test_the_diagnosis_form_names_the_currency_of_its_amounts(api, client):
    rma = api.open_rma(months_old=30)
    api.do("sg.reception", rma["id"], "record_condition", INTAKE)
    task = api.only_task("sg.tech", rma["id"])
    _log_in(client, "sg.tech")
    html = client.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert re.search(r'<label for="f-parts_cost">Estimated parts cost \(SGD\)', html)
    assert 'data-testid="rework-banner"' not in html


def _the_customer_sees_no_internal_notes_and_no_staff_names(api, client, rma):
    token = rma["tracking_token"]
    customer = client.application.test_client()  # no staff session: what the customer's browser gets
    seen = json.dumps(customer.get(f"/api/portal/{token}").get_json()) + customer.get(f"/track/{token}").get_data(
        as_text=True
    )
    assert "SP123456789SG" in seen  # the shipping details are the customer's
    for secret in INTERNAL + STAFF:
        assert secret not in seen, secret


def test_the_migration_gives_tasks_completed_before_it_what_their_completion_recorded(api, orc):
    """Migration 0018 fills tasks.data from the audit trail: the n-th completion of a task, the n-th row."""
    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy import select

    from engine.store.db import alembic_config
    from engine.store.model import HumanTask

    rma = _closed(api)
    query = select(HumanTask.name, HumanTask.data).where(HumanTask.rma_id == rma["id"])
    query = query.order_by(HumanTask.completed_at, HumanTask.id)
    with orc.reading() as s:
        before = s.execute(query).all()
    assert [d for n, d in before if n in ("repair", "qa_check")] == [FIRST_REPAIR, FAILED_QA, SECOND_REPAIR, PASSED_QA]
    assert ("customer_approval", {"approve": True}) in before
    config = alembic_config(orc.db)
    command.downgrade(config, ScriptDirectory.from_config(config).get_revision("0018").down_revision)
    command.upgrade(config, "head")
    with orc.reading() as s:
        assert s.execute(query).all() == before
