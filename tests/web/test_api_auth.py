"""Bearer tokens, the caller's identity, and what needs no login."""

from __future__ import annotations

import pytest
from flask import session
from flask_wtf.csrf import generate_csrf

from tests.helpers import staff_session


def test_token_for_correct_password_identifies_the_caller(client):
    response = client.post("/api/auth/token", json={"username": "sg.tech", "password": "demo"})
    body = response.get_json()
    assert response.status_code == 200 and body["token"] and body["expires_at"]
    assert response.headers["Cache-Control"] == "no-store"
    me = client.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.get_json() == {"username": "sg.tech", "role": "technician", "centre": "SG", "organisation": None}


@pytest.mark.parametrize(
    "credentials", [{"username": "sg.tech", "password": "wrong"}, {"username": "nobody", "password": "demo"}]
)
def test_wrong_credentials_get_401(client, credentials):
    response = client.post("/api/auth/token", json=credentials)
    assert response.status_code == 401 and response.get_json()["code"] == "unauthenticated"
    assert "token" not in response.get_json()


def test_token_request_without_password_is_422(client):
    response = client.post("/api/auth/token", json={"username": "sg.tech"})
    body = response.get_json()
    assert response.status_code == 422
    assert body["code"] == "invalid_input" and body["message"]
    assert body["errors"] == {"password": ["Missing data for required field."]}


STAFF_ENDPOINTS = [
    ("get", "/api/rmas"),
    ("get", "/api/rmas/1"),
    ("get", "/api/tasks"),
    ("get", "/api/tasks/x"),
    ("get", "/api/me"),
    ("get", "/api/centres"),
    ("post", "/api/rmas"),
    ("post", "/api/auth/revoke"),
    ("post", "/api/tasks/x/claim"),
    ("post", "/api/tasks/x/unclaim"),
    ("post", "/api/tasks/x/complete"),
]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}])
def test_staff_endpoints_need_a_valid_token_before_anything_else(client, headers):
    for method, url in STAFF_ENDPOINTS:
        # an invalid body too: authentication is checked first, so this is 401, not 422
        response = getattr(client, method)(url, headers=headers, json={} if method == "post" else None)
        assert response.status_code == 401, (method, url)
        assert response.get_json()["code"] == "unauthenticated"


def test_revoked_token_stops_working(api):
    headers = api.headers("sg.reception")
    assert api.client.get("/api/me", headers=headers).status_code == 200
    assert api.client.post("/api/auth/revoke", headers=headers).status_code == 204
    assert api.client.get("/api/me", headers=headers).status_code == 401


def test_health_needs_no_login(client):
    response = client.get("/api/health")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_centres_list_currency_and_labour_rate_as_numbers(api):
    centres = {c["code"]: c for c in api.get("sg.tech", "/api/centres").get_json()}
    assert centres["SG"]["currency"] == "SGD" and centres["SG"]["labour_rate"] == 60
    assert centres["DE"]["currency"] == "EUR" and centres["DE"]["labour_rate"] == 75


def _log_in_browser(app, client, username):
    """A browser session as Flask-Login keeps it, and the signed CSRF token its pages would carry."""
    with app.test_request_context():
        token = generate_csrf()
        raw = session["csrf_token"]
    with client.session_transaction() as sess:
        staff_session(sess, app, username)
        sess["csrf_token"] = raw
    return token


def test_browser_session_may_read_but_must_send_csrf_token_to_write(app, client, api):
    rma = api.open_rma()
    task_id = api.only_task("sg.reception", rma["id"])["id"]
    csrf_token = _log_in_browser(app, client, "sg.reception")
    assert client.get("/api/me").get_json()["username"] == "sg.reception"

    forged = client.post(f"/api/tasks/{task_id}/claim")
    assert forged.status_code == 400 and forged.get_json()["code"] == "bad_request"
    assert client.get(f"/api/tasks/{task_id}").get_json()["assignee"] is None

    claimed = client.post(f"/api/tasks/{task_id}/claim", headers={"X-CSRFToken": csrf_token})
    assert claimed.status_code == 200 and claimed.get_json()["assignee"] == "sg.reception"


def test_bearer_clients_need_no_csrf_token(api):
    rma = api.open_rma()  # a POST with CSRF protection on and no CSRF token
    assert api.client.application.config.get("WTF_CSRF_ENABLED", True)
    task_id = api.only_task("sg.reception", rma["id"])["id"]
    assert api.post("sg.reception", f"/api/tasks/{task_id}/claim").status_code == 200
