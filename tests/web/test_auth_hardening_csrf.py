"""CSRF on every form: each state-changing route refuses a browser session's request without the token.

Routes come from app.url_map, so a form added later (staff, portal, owners) is covered without
editing this file. The API's POSTs are included: bearer clients need no CSRF token, but a caller
riding on a browser session cookie does.
"""

from __future__ import annotations

import pytest
from flask import session
from flask_wtf.csrf import generate_csrf
from werkzeug.routing import IntegerConverter

from tests.helpers import staff_session
from tests.web.access_world import sqlite_world

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Routes that need no CSRF token, and why. Nothing else may join this list without a reason here.
NO_SESSION_CREDENTIAL = {
    "api_auth.issue_token": "takes a username and password in the body; no cookie is involved",
    "api_portal.record_decision": "the tracking token in the URL is the credential, and no cookie is involved",
    "api_portal.sms_choice": "the tracking token in the URL is the credential, and no cookie is involved",
    "api_requests.submit_request": "a public request without an account: no cookie is involved",
    "api_requests.answer_troubleshooting": "the tracking token in the URL is the credential, and no cookie is involved",
    "api_requests.record_choice": "the tracking token in the URL is the credential, and no cookie is involved",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with sqlite_world(tmp_path_factory.mktemp("csrf")) as made:
        yield made


def _unsafe_routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & UNSAFE):
            yield rule, method


def _url(app, rule, method):
    # isinstance: the app's <int:...> converter is a subclass (web/converters.py Int64)
    values = {name: 1 if isinstance(rule._converters[name], IntegerConverter) else "x" for name in rule.arguments}
    with app.test_request_context():
        return app.url_map.bind("localhost").build(rule.endpoint, values, method=method)


def _browser_logged_in_as(world, username):
    """A client with a logged-in session cookie, and the CSRF token its pages would carry."""
    client = world.app.test_client()
    with world.app.test_request_context():
        token = generate_csrf()
        raw = session["csrf_token"]
    with client.session_transaction() as sess:
        staff_session(sess, world.app, username)
        sess["csrf_token"] = raw
    return client, token


def _refused_for_csrf(response) -> bool:
    return response.status_code == 400 and "CSRF" in response.get_data(as_text=True)


def test_every_state_changing_route_refuses_a_session_request_without_csrf_token(world):
    checked = []
    for rule, method in _unsafe_routes(world.app):
        if rule.endpoint in NO_SESSION_CREDENTIAL:
            continue
        url = _url(world.app, rule, method)
        client, token = _browser_logged_in_as(world, "manager")
        refused = client.open(
            url, method=method, data={"approve": "true"}, environ_base={"REMOTE_ADDR": world.address()}
        )
        assert _refused_for_csrf(refused), (method, rule.rule, refused.status_code)
        # and the same request with the token passes the CSRF check (whatever the route then answers)
        client, token = _browser_logged_in_as(world, "manager")
        form = {"csrf_token": token, "approve": "true"}
        allowed = client.open(
            url, method=method, data=form, headers={"X-CSRFToken": token}, environ_base={"REMOTE_ADDR": world.address()}
        )
        assert not _refused_for_csrf(allowed), (method, rule.rule, allowed.status_code)
        checked.append((method, rule.rule))
    # the forms that exist today, so a broken enumeration cannot pass vacuously
    for expected in [
        ("POST", "/login"),
        ("POST", "/logout"),
        ("POST", "/rmas/new"),
        ("POST", "/tasks/<task_id>"),
        ("POST", "/track/<token>/decision"),
        ("POST", "/api/tasks/<task_id>/complete"),
    ]:
        assert expected in checked, expected


def test_csrf_exemptions_are_routes_that_exist(world):
    endpoints = {rule.endpoint for rule in world.app.url_map.iter_rules()}
    assert set(NO_SESSION_CREDENTIAL) <= endpoints


def test_a_wrong_csrf_token_is_refused_too(world):
    client, _token = _browser_logged_in_as(world, "sg.reception")
    _other_client, other_token = _browser_logged_in_as(world, "sg.reception")
    response = client.post("/rmas/new", data={"csrf_token": other_token + "x"})
    assert _refused_for_csrf(response)
