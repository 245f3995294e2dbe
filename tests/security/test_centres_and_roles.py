"""No centre sees another's customers; nobody acts as someone else (issue 20, points 9 to 11).

9. The earlier-RMAs panels (API `customer-side`, the staff RMA page) list only RMAs in centres the actor may see.
10. The customer's tracking token and link reach only the roles that hand them out (reception, managers), never
    technicians or QA; a portal decision carrying a staff session or a bearer token is refused (403).
11. Goodwill needs four eyes: whoever proposed it may not approve it; another manager does.

Each attempt is one case, on SQLite and PostgreSQL; the race is on PostgreSQL.
"""

from __future__ import annotations

import pytest

from engine.demo import DEMO_PASSWORD
from engine.errors import EngineError
from engine.services import tasks, users
from tests.helpers import INTAKE, actor, race, staff_session
from tests.web.conftest import ApiDriver

PG_ONLY = pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
DIAGNOSIS = {"diagnosis": "Worn gear", "fault_category": "mechanical", "parts_cost": 100, "labour_hours": 2}


@pytest.fixture
def api(client, orc) -> ApiDriver:
    users.add_user(orc, "sg.manager", "manager", "SG", DEMO_PASSWORD)
    return ApiDriver(client)


def _quoted(api, serial="SN-Q") -> dict:
    """Out of warranty and diagnosed: a 220 SGD quote waiting for the customer's decision."""
    rma = api.open_rma(months_old=36, serial=serial)
    api.do("sg.reception", rma["id"], "record_condition", INTAKE)
    api.do("sg.tech", rma["id"], "diagnose", DIAGNOSIS)
    return api.rma("manager", rma["id"])


def _logged_in(app, username):
    client = app.test_client()
    with client.session_transaction() as sess:
        staff_session(sess, app, username)
    return client


# --- 9. earlier RMAs stay in their centre ------------------------------------------------------------


@pytest.fixture
def across_centres(api):
    """The same customer and unit first at Berlin, then at Singapore."""
    berlin = api.open_rma("manager", centre="DE", serial="SN-TRAVEL", email="kim@example.com")
    singapore = api.open_rma("sg.reception", centre="SG", serial="SN-TRAVEL", email="kim@example.com")
    return berlin, singapore


def test_customer_side_api_lists_no_earlier_rma_of_another_centre(api, across_centres):
    berlin, singapore = across_centres
    for username in ("sg.reception", "sg.tech", "sg.manager"):
        side = api.get(username, f"/api/rmas/{singapore['id']}/customer-side")
        assert side.status_code == 200, side.get_json()
        assert side.get_json()["earlier"] == {"customer": [], "unit": []}, username


def test_a_manager_of_every_centre_still_sees_the_earlier_rma_elsewhere(api, across_centres):
    berlin, singapore = across_centres
    earlier = api.get("manager", f"/api/rmas/{singapore['id']}/customer-side").get_json()["earlier"]
    assert [r["number"] for r in earlier["customer"]] == [berlin["number"]]
    assert [r["number"] for r in earlier["unit"]] == [berlin["number"]]


def test_staff_rma_page_shows_no_earlier_rma_of_another_centre(app, api, across_centres):
    berlin, singapore = across_centres
    page = _logged_in(app, "sg.reception").get(f"/rmas/{singapore['id']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="earlier-rmas"' in html
    assert berlin["number"] not in html
    assert berlin["number"] in _logged_in(app, "manager").get(f"/rmas/{singapore['id']}").get_data(as_text=True)


# --- 10. the tracking token is the customer's credential ---------------------------------------------


@pytest.mark.parametrize("username", ["sg.tech", "sg.qa"])
def test_technicians_and_qa_get_no_tracking_token_from_the_api(api, username):
    rma = api.open_rma(serial="SN-TOKEN")
    one = api.get(username, f"/api/rmas/{rma['id']}")
    assert one.status_code == 200
    assert "tracking_token" not in one.get_json()
    listed = api.get(username, "/api/rmas").get_json()["items"]
    assert listed and all("tracking_token" not in r for r in listed)
    assert rma["tracking_token"] not in one.get_data(as_text=True) + str(listed)


@pytest.mark.parametrize("username", ["sg.reception", "sg.manager", "manager"])
def test_reception_and_managers_keep_the_tracking_token(api, username):
    rma = api.open_rma(serial="SN-TOKEN")
    assert api.get(username, f"/api/rmas/{rma['id']}").get_json()["tracking_token"] == rma["tracking_token"]
    assert api.get(username, "/api/rmas").get_json()["items"][0]["tracking_token"] == rma["tracking_token"]


@pytest.mark.parametrize("username", ["sg.tech", "sg.qa"])
def test_staff_pages_show_technicians_and_qa_no_tracking_link(app, api, username):
    rma = api.open_rma(serial="SN-TOKEN")
    client = _logged_in(app, username)
    for url in (f"/rmas/{rma['id']}", f"/rmas/{rma['id']}/receipt"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert rma["tracking_token"] not in page.get_data(as_text=True), url
    assert rma["tracking_token"].encode() not in client.get(f"/rmas/{rma['id']}/receipt.pdf").data


def test_reception_page_shows_the_tracking_link(app, api):
    rma = api.open_rma(serial="SN-TOKEN")
    html = _logged_in(app, "sg.reception").get(f"/rmas/{rma['id']}").get_data(as_text=True)
    assert 'data-testid="tracking-link"' in html and rma["tracking_token"] in html


def test_portal_decision_with_a_bearer_token_is_refused(api):
    rma = _quoted(api)
    answer = api.post("sg.reception", f"/api/portal/{rma['tracking_token']}/decision", {"approve": True})
    assert answer.status_code == 403
    assert "customer" in answer.get_json()["message"]
    assert api.rma("manager", rma["id"])["status"] == "awaiting_approval"


def test_portal_decision_with_a_staff_session_is_refused(app, api):
    rma = _quoted(api)
    app.config["WTF_CSRF_ENABLED"] = False
    client = _logged_in(app, "sg.reception")
    assert client.post(f"/api/portal/{rma['tracking_token']}/decision", json={"approve": True}).status_code == 403
    page = client.post(f"/track/{rma['tracking_token']}/decision", data={"approve": "true"})
    assert page.status_code == 403
    assert api.rma("manager", rma["id"])["status"] == "awaiting_approval"


def test_the_sms_choice_with_staff_credentials_is_refused(app, api):
    rma = _quoted(api)
    token = rma["tracking_token"]
    assert api.post("sg.reception", f"/api/portal/{token}/sms", {"opt_out": True}).status_code == 403
    app.config["WTF_CSRF_ENABLED"] = False
    assert _logged_in(app, "sg.reception").post(f"/track/{token}/sms", data={"sms": "off"}).status_code == 403
    anonymous = app.test_client().get(f"/api/portal/{token}").get_json()
    assert anonymous["sms"]["opted_out"] is False, anonymous["sms"]


def test_the_customer_without_credentials_still_decides(app, api):
    rma = _quoted(api)
    answer = app.test_client().post(f"/api/portal/{rma['tracking_token']}/decision", json={"approve": False})
    assert answer.status_code == 200, answer.get_json()
    assert api.rma("manager", rma["id"])["status"] != "awaiting_approval"


# --- 11. goodwill needs four eyes --------------------------------------------------------------------


def _proposed_by(api, username) -> tuple[dict, dict]:
    rma = _quoted(api, serial="SN-GW")
    offer = {"kind": "discount", "amount": "50", "reason": "r"}
    proposed = api.post(username, f"/api/rmas/{rma['id']}/goodwill", offer)
    assert proposed.status_code == 201, proposed.get_json()
    [task] = api.get("manager", "/api/tasks", query_string={"rma_id": rma["id"]}).get_json()["items"]
    assert task["name"] == "approve_goodwill"
    return rma, task


def test_the_proposer_may_not_approve_their_own_goodwill(api):
    rma, task = _proposed_by(api, "sg.manager")
    answer = api.complete("sg.manager", task["id"], {"goodwill_approved": True, "goodwill_notes": ""})
    assert answer.status_code == 403
    assert "another manager" in answer.get_json()["message"]
    assert api.rma("manager", rma["id"])["quote_total"] == 220


def test_the_proposer_may_not_claim_the_approval_either(api):
    _rma, task = _proposed_by(api, "sg.manager")
    assert api.post("sg.manager", f"/api/tasks/{task['id']}/claim").status_code == 403


def test_another_manager_approves_the_proposal(api):
    rma, task = _proposed_by(api, "sg.manager")
    answer = api.complete("manager", task["id"], {"goodwill_approved": True, "goodwill_notes": "Fine"})
    assert answer.status_code == 200, answer.get_json()
    [proposal] = api.get("sg.reception", f"/api/rmas/{rma['id']}/goodwill").get_json()
    who = (proposal["proposed_by"], proposal["decided_by"], proposal["status"])
    assert who == ("sg.manager", "manager", "approved")
    assert api.rma("manager", rma["id"])["quote_total"] == 170


def test_a_manager_approves_what_someone_else_proposed(api):
    _rma, task = _proposed_by(api, "sg.tech")
    answer = api.complete("sg.manager", task["id"], {"goodwill_approved": False, "goodwill_notes": "No"})
    assert answer.status_code == 200, answer.get_json()


@PG_ONLY
@pytest.mark.timeout(180)
def test_two_managers_approving_at_once_exactly_one_wins(orc, api):
    rma, task = _proposed_by(api, "sg.tech")
    data = {"goodwill_approved": True, "goodwill_notes": ""}
    managers = [actor(orc, "sg.manager"), actor(orc, "manager")]
    results = [
        r.status if isinstance(r, EngineError) else 200
        for r in race(*[lambda m=m: tasks.complete_task(orc, m, task["id"], data) for m in managers])
    ]
    assert sorted(results) == [200, 409]
    [proposal] = api.get("sg.reception", f"/api/rmas/{rma['id']}/goodwill").get_json()
    assert proposal["status"] == "approved" and proposal["decided_by"] in ("sg.manager", "manager")
    assert api.rma("manager", rma["id"])["quote_total"] == 170


def test_the_proposers_inbox_does_not_offer_their_own_approval(api):
    rma, task = _proposed_by(api, "sg.manager")
    proposers_inbox = api.get("sg.manager", "/api/tasks", query_string={"rma_id": rma["id"]}).get_json()
    assert task["id"] not in [t["id"] for t in proposers_inbox["items"]] and proposers_inbox["total"] == 0
    others_inbox = api.get("manager", "/api/tasks", query_string={"rma_id": rma["id"]}).get_json()
    assert [t["id"] for t in others_inbox["items"]] == [task["id"]]
