"""Server-rendered pages: every route of the app is either public, behind a tracking token, or staff-only.

Routes come from app.url_map, so a page added later is checked without editing this file: it must
send an anonymous visitor to the login page unless it is listed in PUBLIC or lives under the portal.
The core staff pages are also checked role x own centre / another centre, like the API matrix.
"""

from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter

from tests.helpers import INTAKE, staff_session
from tests.web.access_world import CENTRE, ROLES, SCOPES, TASK_ROLES, sqlite_world

# Endpoints anyone may open without logging in (the API has its own matrix in test_access_matrix.py).
PUBLIC = {
    "static",
    "auth.login",
    "auth.logout",
    "requests.new",
    "requests.submit",
    "portal.find",
    "portal.find_send",
}  # the online request form and "find my repair": a customer has no account
PORTAL_BLUEPRINT = "portal"  # every route there takes the tracking token as its credential
REQUESTS_BLUEPRINT = "requests"  # besides its public form, every route takes the request's tracking token
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    # CSRF is off here so the requests reach the access checks (test_auth_hardening_csrf.py proves CSRF).
    with sqlite_world(tmp_path_factory.mktemp("pages"), WTF_CSRF_ENABLED=False) as made:
        yield made


def _page_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("api", "api-docs")) or rule.rule.startswith("/api/"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, method


def _url(app, rule, method, token="x"):
    values = {}
    for name in rule.arguments:
        # isinstance: the app's <int:...> converter is a subclass (web/converters.py Int64)
        numeric = isinstance(rule._converters[name], IntegerConverter)
        values[name] = 1 if numeric else token if name in ("token", "tracking_token") else "x"
    with app.test_request_context():
        return app.url_map.bind("localhost").build(rule.endpoint, values, method=method)


def _by_token(rule) -> bool:
    blueprint = rule.endpoint.split(".")[0]
    return blueprint in (PORTAL_BLUEPRINT, REQUESTS_BLUEPRINT) and "token" in rule.arguments


def test_every_staff_page_sends_anonymous_visitors_to_the_login_page(world):
    checked = []
    for rule, method in _page_rules(world.app):
        if rule.endpoint in PUBLIC or _by_token(rule):
            continue
        response = world.client.open(
            _url(world.app, rule, method), method=method, environ_base={"REMOTE_ADDR": world.address()}
        )
        assert response.status_code == 302 and "/login" in response.headers["Location"], (method, rule.rule)
        checked.append((method, rule.rule))
    assert len(checked) >= 10, checked


def test_every_portal_page_opens_only_with_the_right_tracking_token(world):
    rma = world.rma("SG", "received")
    checked = []
    for rule, method in _page_rules(world.app):
        if rule.endpoint.split(".")[0] != PORTAL_BLUEPRINT or rule.endpoint in PUBLIC:
            continue
        wrong = rma["tracking_token"][:-1] + ("A" if rma["tracking_token"][-1] != "A" else "B")
        response = world.client.open(
            _url(world.app, rule, method, token=wrong), method=method, environ_base={"REMOTE_ADDR": world.address()}
        )
        assert response.status_code == 404, (method, rule.rule, response.status_code)
        if method == "GET":
            right = world.client.get(
                _url(world.app, rule, method, token=rma["tracking_token"]),
                environ_base={"REMOTE_ADDR": world.address()},
            )
            assert right.status_code == 200, (rule.rule, right.status_code)
        checked.append((method, rule.rule))
    assert ("GET", "/track/<token>") in checked and ("POST", "/track/<token>/decision") in checked


def test_every_request_page_opens_only_with_the_right_tracking_token(world):
    request = world.request("SG")
    checked = []
    for rule, method in _page_rules(world.app):
        if rule.endpoint.split(".")[0] != REQUESTS_BLUEPRINT or rule.endpoint in PUBLIC:
            continue
        assert "token" in rule.arguments, f"{rule.rule} is neither public nor behind a tracking token"
        token = request["tracking_token"]
        wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
        # a well-formed answer, so what is checked is the token (an unknown choice is refused before it)
        form = {"choice": "decline", "troubleshoot_solved": "false"} if method == "POST" else None
        response = world.client.open(
            _url(world.app, rule, method, token=wrong),
            method=method,
            data=form,
            environ_base={"REMOTE_ADDR": world.address()},
        )
        assert response.status_code == 404, (method, rule.rule, response.status_code)
        if method == "GET":
            right = world.client.get(
                _url(world.app, rule, method, token=token), environ_base={"REMOTE_ADDR": world.address()}
            )
            assert right.status_code == 200, (rule.rule, right.status_code)
        checked.append((method, rule.rule))
    assert ("GET", "/request/<token>") in checked and ("POST", "/request/<token>/choice") in checked


def test_the_online_request_form_opens_without_login(world):
    response = world.client.get("/request", environ_base={"REMOTE_ADDR": world.address()})
    assert response.status_code == 200 and b"proof_of_purchase" in response.data


# --- the core staff pages, role x centre ---------------------------------------------------------


def _login(world, role):
    client = world.app.test_client()
    if ROLES[role]:
        with client.session_transaction() as sess:
            staff_session(sess, world.app, ROLES[role])
    return client


def _sees(role, scope):
    return role.endswith(":all") or scope == "own"


def _staff(status):
    return lambda role, scope: 302 if role == "anonymous" else status


def _seeing(role, scope):
    return 302 if role == "anonymous" else 200 if _sees(role, scope) else 404


def _opener(role, scope):
    if role == "anonymous":
        return 302
    return 200 if role in ("reception", "manager", "manager:all") else 403


def _worker_post(role, scope):
    """Claim, release: the task's own role at its centre; others 403 (the redirect is the success)."""
    return 302 if role == "anonymous" or (role in TASK_ROLES and scope == "own") else 403


def _completer(role, scope):
    """Completing reads the task first: another centre's task is 404 unless the actor sees every centre."""
    if role == "anonymous" or (role in TASK_ROLES and scope == "own"):
        return 302
    return 403 if _sees(role, scope) else 404


PAGES = {
    "inbox": (lambda w, ctx: ("GET", "/inbox", None), _staff(200)),
    "rma search": (lambda w, ctx: ("GET", "/rmas", None), _staff(200)),
    "new rma form": (lambda w, ctx: ("GET", "/rmas/new", None), _opener),
    "rma page": (lambda w, ctx: ("GET", f"/rmas/{w.rma(ctx[1], 'received')['id']}", None), _seeing),
    "rma diagram": (lambda w, ctx: ("GET", f"/rmas/{w.rma(ctx[1], 'received')['id']}/diagram.json", None), _seeing),
    "task page": (lambda w, ctx: ("GET", f"/tasks/{w.open_task(ctx[1], ctx[0])['id']}", None), _seeing),
    "claim": (
        lambda w, ctx: ("POST", f"/tasks/{w.open_task(ctx[1], ctx[0], fresh=True)['id']}/claim", {}),
        _worker_post,
    ),
    "start work": (
        lambda w, ctx: ("POST", f"/tasks/{w.open_task(ctx[1], ctx[0], fresh=True)['id']}/start", {}),
        _worker_post,
    ),
    "release": (
        lambda w, ctx: ("POST", f"/tasks/{w.open_task(ctx[1], ctx[0], fresh=True)['id']}/unclaim", {}),
        _worker_post,
    ),
    "complete": (
        lambda w, ctx: (
            "POST",
            f"/tasks/{w.open_task(ctx[1], ctx[0], fresh=True)['id']}",
            _form_data(w.open_task(ctx[1], ctx[0])),
        ),
        _completer,
    ),
}

from tests.web.owner_access_rows import ROWS as _OWNER_ROWS  # noqa: E402  (the process owners' pages)

PAGES.update(_OWNER_ROWS)


def _form_data(task):
    data = {
        "record_condition": INTAKE,
        "diagnose": {"diagnosis": "Board", "fault_category": "electronic", "parts_cost": "10", "labour_hours": "1"},
        "qa_check": {"qa_passed": "true"},
    }[task["name"]]
    return {k: ("true" if v is True else str(v)) for k, v in data.items()}


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("page", list(PAGES))
def test_staff_page_access(world, page, role, scope):
    build, expect = PAGES[page]
    method, url, form = build(world, (role, CENTRE[scope]))
    client = _login(world, role)
    response = client.open(url, method=method, data=form, environ_base={"REMOTE_ADDR": world.address()})
    expected = expect(role, scope)
    assert response.status_code == expected, (page, role, scope, url, response.status_code)
    if expected == 302 and role == "anonymous":
        assert "/login" in response.headers["Location"]
    if expected == 302 and role != "anonymous" and method == "POST":
        assert "/login" not in response.headers["Location"]
