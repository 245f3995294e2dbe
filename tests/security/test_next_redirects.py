"""`next` never leaves the site (issue 20, point 3).

After login, and on claim, release and cancel, only a path on this site is followed: a scheme, a host, a start of
`//` or `/\\`, control characters and whitespace (tab, CR, LF, U+3000), also once percent-decoded, send the user
to the default page; CR/LF gets the default page, never a 500. One helper decides (web.auth.safe_next): every
hostile value below is one case against it, and one case against each page that follows a `next`, on SQLite and
PostgreSQL (one site per backend for the module: the redirects do not change what the database holds).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from engine import Orchestrator, Settings
from engine.demo import create_centres_and_users
from engine.services import rmas, tasks
from tests.conftest import database
from tests.helpers import actor, rma_payload
from web import create_app
from web.auth import NEXT_MAX, safe_next
from web.cli import init_database

DEFAULT = "/inbox"
HOSTILE = [
    "https://evil.example",
    "HTTPS://evil.example/inbox",
    "http:evil.example",
    "https:/\\evil.example",
    "//evil.example",
    "///evil.example",
    "//evil.example/%2e%2e",
    "/\\evil.example",
    "/\\/evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "\t//evil.example",
    "/\t/evil.example",
    " //evil.example",
    "//evil.example ",
    "\r\n//evil.example",
    "/\r\nSet-Cookie:x",
    "/%0d%0aSet-Cookie:x",
    "/%250d%250aSet-Cookie:x",
    "/\nLocation: https://evil.example",
    "\u3000//evil",
    "/\u3000/evil",
    "\u2028//evil",
    "\u200b//evil",
    "/\ufeff/evil",
    "\x00//evil",
    "/%00/evil",
    "/%2F%2Fevil.example",
    "/%2f%5cevil.example",
    "/%5Cevil.example",
    "%2F%2Fevil.example",
    "/%252F%252Fevil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "@evil.example",
    "inbox",
    "/" + "a" * NEXT_MAX,
]
ALLOWED = ["/inbox", "/inbox?mine=1&page=2", "/rmas/1", "/rmas/1#history", "/inbox?q=a%20b", "/inbox?q=caf%C3%A9"]
# Query strings sent as they are, so the server decodes them: the CR/LF split, a tab, U+3000, a decoded `//`.
RAW_QUERIES = [
    "next=/%0d%0aSet-Cookie:x",
    "next=/%0aSet-Cookie:x",
    "next=%09//evil.example",
    "next=%E3%80%80//evil",
    "next=/%5Cevil.example",
    "next=%2F%2Fevil.example",
    "next=https:%2F%2Fevil.example",
    "next=/%00",
]


# --- the helper ------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", HOSTILE)
def test_the_helper_refuses(target):
    assert safe_next(target, DEFAULT) == DEFAULT


@pytest.mark.parametrize("target", ALLOWED)
def test_the_helper_follows_a_path_on_this_site(target):
    assert safe_next(target, DEFAULT) == target


def test_the_helper_keeps_a_page_within_its_prefix():
    assert safe_next("/rmas/7", "/ops", within="/rmas/") == "/rmas/7"
    assert safe_next("/ops/outbox", "/ops", within="/rmas/") == "/ops"
    assert safe_next(None, "/ops") == "/ops" and safe_next("", "/ops") == "/ops"


def test_every_next_the_web_layer_follows_goes_through_the_helper():
    """grep for `next` in web/: each view reading it hands it to safe_next."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "web"
    readers = {}
    for path in root.rglob("*.py"):
        source = path.read_text()
        for match in re.finditer(r"request\.(?:args|form|values)\.get\(\s*[\"']next[\"']", source):
            line = source[: match.start()].count("\n")
            readers[f"{path.relative_to(root)}:{line + 1}"] = source.splitlines()[line]
    assert len(readers) == 3, readers  # login, claim/release, cancel
    assert all("safe_next(" in code for code in readers.values()), readers


# --- the pages -------------------------------------------------------------------------------------


class Site:
    def __init__(self, orc):
        self.orc, self.app = orc, create_app({"RMA_ORCHESTRATOR": orc, "TESTING": True})
        reception = actor(orc, "sg.reception")
        self.claimed_rma = rmas.open_rma(orc, reception, rma_payload(serial="SN-NEXT-1"))
        self.cancelled_rma = rmas.open_rma(orc, reception, rma_payload(serial="SN-NEXT-2"))
        (task,) = tasks.list_tasks(orc, reception, rma_id=self.claimed_rma["id"])["items"]
        self.task_id = task["id"]
        self.reception, self.manager = self.logged_in("sg.reception"), self.logged_in("manager")

    def log_in(self, client, username, query: dict | str | None = None):
        page = client.get("/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = {"username": username, "password": "demo", "csrf_token": csrf}
        if isinstance(query, str):
            return client.post(f"/login?{query}", data=form)
        return client.post("/login", query_string=query or {}, data=form)

    def logged_in(self, username):
        client = self.app.test_client()
        assert self.log_in(client, username).status_code == 302
        return client

    def post(self, client, url, **form):
        page = client.get(DEFAULT).get_data(as_text=True)
        form["csrf_token"] = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        return client.post(url, data=form)


def _site_on(url: str, path) -> Site:
    orc = Orchestrator(
        Settings.from_env(
            {}, database_url=url, instance_dir=path, upload_dir=path / "uploads", secret_key="test", run_worker=False
        )
    )
    orc.migrate()
    create_centres_and_users(orc)
    init_database(orc)
    return Site(orc)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def site(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param)
    with database(request.param, path, prefix="t_next_") as url:
        made = _site_on(url, path)
        yield made
        made.orc.dispose()


def _goes_to(answer, expected: str) -> None:
    assert answer.status_code == 302, answer.status_code
    location = answer.headers["Location"]
    assert urlsplit(location).netloc in ("", "localhost") and location.endswith(expected), location
    assert not [c for c in answer.headers.getlist("Set-Cookie") if c.startswith("x")]


@pytest.mark.parametrize("target", HOSTILE)
def test_login_refuses(site, target):
    _goes_to(site.log_in(site.app.test_client(), "sg.reception", {"next": target}), DEFAULT)


@pytest.mark.parametrize("query", RAW_QUERIES)
def test_login_refuses_a_raw_query(site, query):
    _goes_to(site.log_in(site.app.test_client(), "sg.reception", query), DEFAULT)


@pytest.mark.parametrize("target", ["/inbox?mine=1", "/rmas/1", "/inbox?q=a%20b"])
def test_login_follows_a_path_on_this_site(site, target):
    _goes_to(site.log_in(site.app.test_client(), "sg.reception", {"next": target}), target)


@pytest.mark.parametrize("target", HOSTILE)
def test_claim_and_release_refuse(site, target):
    _goes_to(site.post(site.reception, f"/tasks/{site.task_id}/claim", next=target), DEFAULT)
    _goes_to(site.post(site.reception, f"/tasks/{site.task_id}/unclaim", next=target), DEFAULT)


def test_claim_and_release_follow_a_path_on_this_site(site):
    back = f"/rmas/{site.claimed_rma['id']}"
    _goes_to(site.post(site.reception, f"/tasks/{site.task_id}/claim", next=back), back)
    _goes_to(site.post(site.reception, f"/tasks/{site.task_id}/unclaim", next=back), back)


@pytest.mark.parametrize("target", HOSTILE)
def test_cancel_refuses(site, target):
    answer = site.post(site.manager, f"/ops/rmas/{site.cancelled_rma['id']}/cancel", reason="test", next=target)
    _goes_to(answer, "/ops/incidents")


def test_cancel_follows_the_rma_page(site):
    back = f"/rmas/{site.cancelled_rma['id']}"
    _goes_to(site.post(site.manager, f"/ops/rmas/{site.cancelled_rma['id']}/cancel", reason="test", next=back), back)
