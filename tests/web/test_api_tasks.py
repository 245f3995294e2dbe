"""Task commands over HTTP: who may act (403), state conflicts (409) and invalid form data (422)."""

from __future__ import annotations

import pytest

from engine.services import users
from tests.helpers import INTAKE


@pytest.fixture
def rma(api):
    return api.open_rma()


def test_inbox_shows_only_the_callers_role_and_centre(api, rma):
    api.open_rma("de.reception", centre="DE", serial="SN-DE")
    sg = api.get("sg.reception", "/api/tasks").get_json()
    assert sg["total"] == 1 and sg["items"][0]["rma_id"] == rma["id"]
    assert {(t["role"], t["centre"]) for t in sg["items"]} == {("reception", "SG")}
    assert api.get("sg.tech", "/api/tasks").get_json() == {"items": [], "total": 0, "page": 1, "per_page": 50}


def test_task_detail_carries_bpmn_name_lane_and_form_schema(api, rma):
    task_id = api.only_task("sg.reception", rma["id"])["id"]
    task = api.get("sg.reception", f"/api/tasks/{task_id}").get_json()
    assert task["name"] == "record_condition" and task["lane"] == "Reception" and task["role"] == "reception"
    assert task["centre"] == "SG" and task["status"] == "open" and task["assignee"] is None
    assert task["form"]["properties"]["condition_grade"]["enum"] == ["A", "B", "C", "D"]
    assert task["created_at"].endswith("+00:00")


def test_mine_filter_lists_only_tasks_the_caller_claimed(api, rma):
    task_id = api.only_task("sg.reception", rma["id"])["id"]
    assert api.get("sg.reception", "/api/tasks?mine=true").get_json()["total"] == 0
    claimed = api.post("sg.reception", f"/api/tasks/{task_id}/claim")
    assert claimed.status_code == 200 and claimed.get_json()["assignee"] == "sg.reception"
    assert [t["id"] for t in api.get("sg.reception", "/api/tasks?mine=true").get_json()["items"]] == [task_id]
    released = api.post("sg.reception", f"/api/tasks/{task_id}/unclaim")
    assert released.status_code == 200 and released.get_json()["assignee"] is None


def test_wrong_role_may_not_claim_or_complete(api, rma):
    task_id = api.only_task("sg.reception", rma["id"])["id"]
    for url, body in [(f"/api/tasks/{task_id}/claim", None), (f"/api/tasks/{task_id}/complete", {"data": INTAKE})]:
        response = api.post("sg.tech", url, body)
        assert response.status_code == 403 and response.get_json()["code"] == "forbidden"
    assert api.only_task("sg.reception", rma["id"])["status"] == "open"


def test_other_centres_staff_may_not_act_on_a_task(api, rma):
    task_id = api.only_task("sg.reception", rma["id"])["id"]
    assert api.post("de.reception", f"/api/tasks/{task_id}/claim").status_code == 403
    response = api.post("de.reception", f"/api/tasks/{task_id}/complete", {"data": INTAKE})
    assert response.status_code == 403 and response.get_json()["code"] == "forbidden"
    assert api.get("de.reception", f"/api/tasks/{task_id}").status_code == 404
    assert api.only_task("sg.reception", rma["id"])["status"] == "open"


def test_second_user_claiming_a_claimed_task_gets_409(api, orc, rma):
    users.add_user(orc, "sg.tech2", "technician", "SG", "demo")
    api.do("sg.reception", rma["id"], "record_condition", INTAKE)
    task_id = api.only_task("sg.tech", rma["id"])["id"]
    assert api.post("sg.tech", f"/api/tasks/{task_id}/claim").status_code == 200
    for verb, body in [
        ("claim", None),
        ("unclaim", None),
        ("complete", {"data": {"diagnosis": "x", "fault_category": "sensor"}}),
    ]:
        response = api.post("sg.tech2", f"/api/tasks/{task_id}/{verb}", body)
        assert response.status_code == 409, verb
        assert response.get_json()["code"] == "task_claimed"
    assert api.get("sg.tech", f"/api/tasks/{task_id}").get_json()["assignee"] == "sg.tech"


def test_completing_a_completed_task_gets_409(api, rma):
    task_id = api.only_task("sg.reception", rma["id"])["id"]
    assert api.complete("sg.reception", task_id, INTAKE).status_code == 200
    again = api.complete("sg.reception", task_id, INTAKE)
    assert again.status_code == 409 and again.get_json()["code"] == "task_not_open"
    assert api.post("sg.reception", f"/api/tasks/{task_id}/claim").status_code == 409
    assert api.get("sg.reception", f"/api/tasks/{task_id}").get_json()["status"] == "completed"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"condition_grade": "Z"}, "condition_grade"),
        ({"condition_notes": None}, "condition_notes"),
        ({"customer_acknowledged": False}, "customer_acknowledged"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_form_data_is_422_with_field_errors_and_saves_nothing(api, rma, change, field):
    task_id = api.only_task("sg.reception", rma["id"])["id"]
    before = api.rma("sg.reception", rma["id"])
    data = {k: v for k, v in {**INTAKE, **change}.items() if v is not None}

    response = api.complete("sg.reception", task_id, data)

    body = response.get_json()
    assert response.status_code == 422 and body["code"] == "invalid_form_data"
    assert list(body["errors"]) == [field] and body["errors"][field] and body["message"]
    after = api.rma("sg.reception", rma["id"])
    assert after["status"] == "received" and after["history"] == before["history"]
    assert [t["id"] for t in after["open_tasks"]] == [task_id]
    assert api.get("sg.reception", f"/api/tasks/{task_id}").get_json()["status"] == "open"


def test_complete_without_data_object_is_422_naming_the_field(api, rma):
    task_id = api.only_task("sg.reception", rma["id"])["id"]
    for body in [{}, {"data": "A"}, {"data": INTAKE, "extra": 1}]:
        response = api.post("sg.reception", f"/api/tasks/{task_id}/complete", body)
        assert response.status_code == 422, body
        assert response.get_json()["code"] == "invalid_input"
        assert set(response.get_json()["errors"]) <= {"data", "extra"} and response.get_json()["errors"]
    assert api.get("sg.reception", f"/api/tasks/{task_id}").get_json()["status"] == "open"


def test_unknown_task_is_404(api):
    response = api.post("sg.reception", "/api/tasks/00000000-0000-0000-0000-000000000000/claim")
    assert response.status_code == 404 and response.get_json()["code"] == "task_not_found"
