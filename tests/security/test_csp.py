"""Content-Security-Policy (issue 20, point 4): only our own files run, on every page.

Every family of HTML page (login, staff, operations, the owners' modeler, the portal, the online request, error
pages) answers with a policy whose script-src is 'self' without 'unsafe-inline' or 'unsafe-eval', on each backend;
no template holds an inline script or an on* handler, which the policy would block (the browser tests fail on any
violation: tests/browser/conftest.py).
"""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from engine.services import processes
from tests.helpers import seed_request_form, staff_session
from tests.web.conftest import ApiDriver
from web.auth.guards import HEADERS

WEB = Path(__file__).resolve().parents[2] / "web"
TEMPLATES = sorted(WEB.rglob("*.html"))
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
# An executable <script>: any type a browser runs (none, a JavaScript type, module). JSON data blocks never run.
SCRIPT_TAG = re.compile(r"<script\b(?P<attrs>[^>]*)>", re.IGNORECASE)
DATA_TYPE = re.compile(r"""\btype\s*=\s*["']application/(ld\+)?json["']""", re.IGNORECASE)
HANDLER = re.compile(r"""\s on[a-z]+ \s*=""", re.IGNORECASE | re.VERBOSE)
JS_URL = re.compile(r"""["'\s=]javascript:""", re.IGNORECASE)


def directives(response) -> dict[str, list[str]]:
    policy = response.headers.get("Content-Security-Policy")
    assert policy, f"{response.request.path}: no Content-Security-Policy"
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_strict(response) -> None:
    d = directives(response)
    assert d["script-src"] == ["'self'"], d["script-src"]
    assert d["default-src"] == ["'self'"] and d["object-src"] == ["'none'"]
    assert d["base-uri"] == ["'self'"] and d["frame-ancestors"] == ["'none'"] and d["form-action"] == ["'self'"]
    for name, values in d.items():
        assert "'unsafe-eval'" not in values, name
        if name != "style-src":  # see web/auth/guards.py: styles only, never code
            assert "'unsafe-inline'" not in values, name
        assert "*" not in values and "http:" not in values and "https:" not in values, name


pytestmark = pytest.mark.without_csrf


@pytest.fixture
def api(client) -> ApiDriver:
    return ApiDriver(client)


@pytest.fixture(autouse=True)
def finder_and_catalogue(orc):
    """The online request form needs its centres and a catalogue model to be filled in."""
    seed_request_form(orc)


def _as(app, username):
    client = app.test_client()
    with client.session_transaction() as sess:
        staff_session(sess, app, username)
    return client


def _request_token(client) -> str:
    data = {
        "centre": "SG",
        "name": "Kim Tan",
        "email": "kim@example.com",
        "language": "en",
        "model": "Vista X100 Camera",
        "serial_number": "SN-CSP-1",
        "purchase_date": (date.today() - timedelta(days=200)).isoformat(),
        "fault_description": "Does not turn on",
        "proof_of_purchase": (io.BytesIO(PDF), "receipt.pdf"),
    }
    response = client.post("/request", data=data, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"].split("/request/")[1].split("?")[0]


def test_every_page_family_carries_the_strict_policy(app, orc, api):
    rma = api.open_rma()
    with orc.uow() as uow:
        bundle_id = processes.latest_bundle(uow.session, None).id
    anonymous = app.test_client()
    token = _request_token(anonymous)
    pages = [
        (anonymous, "/login", 200),
        (anonymous, "/no-such-page", 404),
        (anonymous, "/track/not-a-real-token", 404),
        (anonymous, f"/track/{rma['tracking_token']}", 200),
        (anonymous, "/request", 200),
        (anonymous, f"/request/{token}", 200),
        (anonymous, "/inbox", 302),
        (anonymous, "/static/print.js", 200),
        (_as(app, "sg.reception"), "/inbox", 200),
        (_as(app, "sg.reception"), "/rmas/new", 200),
        (_as(app, "sg.reception"), f"/rmas/{rma['id']}", 200),
        (_as(app, "sg.reception"), f"/rmas/{rma['id']}/receipt", 200),
        (_as(app, "sg.tech"), "/processes", 403),
        (_as(app, "manager"), "/manager/dashboard", 200),
        (_as(app, "manager"), "/ops/incidents", 200),
        (_as(app, "owner"), "/processes", 200),
        (_as(app, "owner"), f"/processes/{bundle_id}", 200),
        (_as(app, "owner"), f"/processes/{bundle_id}/edit/stages/rma_intake.bpmn", 200),
    ]
    for client, url, status in pages:
        with client.get(url) as response:  # closed: a static file is streamed
            assert response.status_code == status, (url, response.status_code)
            assert_strict(response)
            if response.mimetype == "text/html" and status == 200:
                assert not _inline_scripts(response.get_data(as_text=True)), url


def test_the_json_api_carries_it_too(client):
    assert_strict(client.get("/api/openapi.json"))
    assert_strict(client.post("/api/auth/token", json={"username": "nobody", "password": "x"}))


def test_the_policy_is_one_constant_that_code_reviews_can_read():
    assert "script-src 'self'" in HEADERS["Content-Security-Policy"]
    assert "unsafe-eval" not in HEADERS["Content-Security-Policy"]


def _inline_scripts(html: str) -> list[str]:
    found = []
    for tag in SCRIPT_TAG.finditer(html):
        attrs = tag.group("attrs")
        if "src=" not in attrs and not DATA_TYPE.search(attrs):
            found.append(tag.group(0))
    return found


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(WEB)))
def test_no_template_holds_inline_script_or_handlers(template: Path):
    html = template.read_text(encoding="utf-8")
    assert not _inline_scripts(html), "put the code in web/static/*.js and load it with <script src>"
    tags = re.findall(r"<[a-zA-Z][^>]*>", html)
    assert not [t for t in tags if HANDLER.search(t)], "on* handlers are inline script: use addEventListener"
    assert not JS_URL.search(html), "javascript: URLs are inline script"


def test_the_scan_finds_what_it_looks_for():
    assert _inline_scripts("<script>alert(1)</script><script type=module>x</script>") == [
        "<script>",
        "<script type=module>",
    ]
    assert not _inline_scripts('<script src="/static/a.js"></script><script type="application/json">{}</script>')
    assert HANDLER.search('<button type="button" onclick="window.print()">')
    assert not HANDLER.search('<button type="button" data-print>')
    assert JS_URL.search('<a href="javascript:void(0)">')
    assert TEMPLATES and len(TEMPLATES) > 20
