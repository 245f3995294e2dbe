"""Operations and the manager's figures over HTTP: incidents, cancel, dashboard, CSV, heatmap, access."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import time_machine

from engine import Actor
from engine.process.definitions import read_bundle_dir
from engine.services import processes
from engine.services.scheduler import fire_due_timers
from engine.store.model import utcnow
from tests.conftest import PROCESSES_DIR
from tests.helpers import INTAKE, staff_session

QUOTE = "round(parts_cost + labour_hours * labour_rate, 2)"
DIAGNOSIS = {"diagnosis": "Sensor dead", "fault_category": "sensor", "parts_cost": 10, "labour_hours": 1}


def _login(client, username):
    with client.session_transaction() as session:
        staff_session(session, client.application, username)


def _break_the_quote(orc):
    files = read_bundle_dir(PROCESSES_DIR)
    files["stages/rma_approval.bpmn"] = files["stages/rma_approval.bpmn"].replace(QUOTE, "round(parts_cost / 0, 2)")
    processes.deploy_bundle(orc, Actor("owner", "process_owner"), files, note="broken")


def _incident(api, orc) -> dict:
    _break_the_quote(orc)
    rma = api.open_rma(months_old=40)
    api.do("sg.reception", rma["id"], "record_condition", INTAKE)
    assert api.do("sg.tech", rma["id"], "diagnose", DIAGNOSIS)["status"] == "incident"
    return rma


def test_incident_is_listed_retried_and_the_rma_cancelled_over_the_api(api, app):
    orc = app.extensions["rma"]
    rma = _incident(api, orc)
    listed = api.get("manager", "/api/incidents").get_json()
    assert listed["total"] == 1
    [incident] = listed["items"]
    assert (incident["rma_number"], incident["task"], incident["status"]) == (rma["number"], "compute_quote", "open")
    assert "division by zero" in incident["error"]
    retried = api.post("manager", f"/api/incidents/{rma['id']}/retry", {})
    assert retried.status_code == 200 and retried.get_json()["incident"]["attempts"] == 2
    assert api.post("manager", f"/api/rmas/{rma['id']}/cancel", {}).status_code == 422
    cancelled = api.post("manager", f"/api/rmas/{rma['id']}/cancel", {"reason": "Customer collected the unit"})
    assert cancelled.status_code == 200
    assert (cancelled.get_json()["status"], cancelled.get_json()["outcome"]) == ("closed", "cancelled")
    assert api.post("manager", f"/api/incidents/{rma['id']}/retry", {}).status_code == 409
    assert api.post("manager", f"/api/rmas/{rma['id']}/cancel", {"reason": "again"}).status_code == 409
    assert api.rma("manager", rma["id"])["outcome"] == "cancelled"


def test_operations_and_dashboard_are_refused_to_other_roles(api):
    for username in ("sg.reception", "sg.tech", "sg.qa"):
        assert api.get(username, "/api/incidents").status_code == 403
        assert api.get(username, "/api/dashboard").status_code == 403
        assert api.post(username, "/api/rmas/1/cancel", {"reason": "x"}).status_code == 403
    assert api.get("owner", "/api/incidents").status_code == 200
    assert api.get("owner", "/api/dashboard").status_code == 403
    assert api.post("owner", "/api/rmas/1/cancel", {"reason": "x"}).status_code == 403
    assert api.get("manager", "/api/incidents").status_code == 200


def test_dashboard_counts_rmas_by_status_and_open_sla_breaches(api, app):
    orc = app.extensions["rma"]
    api.headers("sg.reception")  # log in now: the clock goes back only for the work
    with time_machine.travel(utcnow() - timedelta(days=3), tick=False):
        late = api.open_rma(serial="SN-LATE")
        api.do("sg.reception", late["id"], "record_condition", INTAKE)
    fresh = api.open_rma(serial="SN-FRESH")
    assert fire_due_timers(orc) == 1
    figures = api.get("manager", "/api/dashboard").get_json()
    assert {(r["centre"], r["status"], r["count"]) for r in figures["by_status"]} == {
        ("SG", "diagnosing", 1),
        ("SG", "received", 1),
    }
    breaches = figures["breaches"]
    assert breaches["open_count"] == 1 and breaches["escalations_open"] == 1
    [overdue] = breaches["open"]
    assert (overdue["number"], overdue["task"]) == (late["number"], "diagnose") and overdue["overdue_hours"] >= 23
    assert sum(b["count"] for b in breaches["per_month"]) == 1
    waiting = {(w["stage"], w["element"]): w for w in figures["waiting"]}
    assert waiting[("diagnosis", "diagnose")]["waiting_now"] == 1
    assert waiting[("diagnosis", "diagnose")]["avg_age_hours"] >= 71
    assert waiting[("intake", "record_condition")]["completed"] == 1
    assert fresh["number"] not in {b["number"] for b in breaches["open"]}


def test_dashboard_page_charts_csv_and_heatmap_for_a_manager(api, client, app):
    rma = api.open_rma()
    api.do("sg.reception", rma["id"], "record_condition", INTAKE)
    _login(client, "manager")
    page = client.get("/manager/dashboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="by-status"' in html and "<svg" in html and "Stage: intake" in html
    exported = client.get("/manager/dashboard.csv?months=3")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert {"figure", "centre", "stage_or_status", "p50_hours", "p90_hours"} <= set(rows[0])
    assert any(r["figure"] == "lead_time_stage" and r["stage_or_status"] == "intake" for r in rows)
    assert any(r["figure"] == "rmas_by_status" and r["stage_or_status"] == "diagnosing" for r in rows)
    heat = client.get("/manager/heatmap.json").get_json()
    assert heat["diagrams"][0]["process_id"] == "rma" and "<bpmn:definitions" in heat["diagrams"][0]["xml"]
    assert heat["elements"]["rma:stage_diagnosis"]["waiting_now"] == 1
    assert heat["elements"]["rma_diagnosis:diagnose"]["waiting_now"] == 1


def test_centre_manager_sees_only_their_centre(api, app):
    from engine.services import users

    orc = app.extensions["rma"]
    users.add_user(orc, "de.manager", "manager", "DE", "demo-password-1")
    api.open_rma(centre="SG")
    token = api.client.post("/api/auth/token", json={"username": "de.manager", "password": "demo-password-1"})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    figures = api.client.get("/api/dashboard", headers=headers).get_json()
    assert figures["centre"] == "DE" and figures["by_status"] == []
    figures = api.client.get("/api/dashboard?centre=SG", headers=headers).get_json()
    assert figures["centre"] == "DE"


def test_operations_page_retries_and_cancels_with_a_reason(api, client, app):
    orc = app.extensions["rma"]
    rma = _incident(api, orc)
    _login(client, "manager")
    page = client.get("/ops/incidents").get_data(as_text=True)
    assert rma["number"] in page and "division by zero" in page
    app.config["WTF_CSRF_ENABLED"] = False
    assert client.post(f"/ops/incidents/{rma['id']}/retry").status_code == 302
    assert client.post(f"/ops/rmas/{rma['id']}/cancel", data={"reason": "Written off"}).status_code == 302
    assert api.rma("manager", rma["id"])["outcome"] == "cancelled"
    resolved = client.get("/ops/incidents?status=cancelled").get_data(as_text=True)
    assert "Written off" in resolved
