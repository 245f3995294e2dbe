"""No echo (issue 20, point 7): what another system answers a failed service task never reaches staff.

The error staff see (the incident on the RMA page, the RMA in the API, the audit trail) names the service task
and the status code; the answer's reason phrase and body, which the other side writes, go to the incident's
detail, at most 300 characters without control characters, which only operators (managers, process owners) see
on the operations page and in the incidents API. Each way an answer can carry words is a case, on each backend.
"""

from __future__ import annotations

import re
import socket
import threading
import unicodedata
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine import Actor
from engine.adapters.service_tasks import EXCERPT, excerpt
from engine.services import operations, processes, rmas
from tests.helpers import actor, staff_session
from tests.http_receiver import allow_receivers
from tests.security.erp_task import TASK, bundle, recorded
from tests.web.conftest import ApiDriver

OWNER = Actor("owner", "process_owner")
MANAGER = Actor("manager", "manager")
SECRET = "SECRET-7f3a"  # stands for whatever the other side's answer reveals: a stack trace, an internal name
BODY = (
    f"<html><script>alert('{SECRET}')</script>\x1b[31mDB password: hunter2\x1b[0m \u202egnp.exe\x00\r\n"
    + "Traceback (most recent call last):\n" * 200
)
PHRASE = f"Broken <b>{SECRET}-phrase</b>"


class _Hostile(BaseHTTPRequestHandler):
    """Answers 500 with a reason phrase and a body full of words, markup, escapes and control characters."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = BODY.encode()
        self.send_response(500, PHRASE)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Server:
    def __init__(self, handler=_Hostile):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class _NotHttp:
    """A raw TCP server whose answer is not HTTP: its status line carries the words."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(f"XTTP/1.1 200 {SECRET} \x1b[2J<script>\r\n\r\n".encode())

    def __enter__(self):
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.sock.close()


def _clean(text: str) -> bool:
    return not any(unicodedata.category(c)[0] == "C" for c in text)


def _staff_sees_no_echo(orc, client, rma_id: int) -> None:
    """The RMA as staff see it (service, API, page) has the task and no word of the answer."""
    view = rmas.get_rma(orc, actor(orc, "sg.tech"), rma_id)
    [opened] = [e for e in view["history"] if e["kind"] == "incident_opened"]
    assert TASK in opened["detail"] and "500" in opened["detail"], opened
    from_api = ApiDriver(client).get("sg.tech", f"/api/rmas/{rma_id}")
    assert from_api.status_code == 200
    for text in (repr(view), from_api.get_data(as_text=True)):
        assert SECRET not in text and "hunter2" not in text and "Traceback" not in text and "<script>" not in text
    with client.session_transaction() as session:
        staff_session(session, client.application, "sg.tech")
    page = client.get(f"/rmas/{rma_id}")
    assert page.status_code == 200 and SECRET not in page.get_data(as_text=True)


def test_an_error_answer_shows_staff_the_task_and_status_and_operators_a_bounded_excerpt(orc, client):
    allow_receivers(orc)  # the hostile ERP listens on 127.0.0.1
    with _Server() as erp:
        processes.deploy_bundle(orc, OWNER, bundle(f"'{erp.url}'"), note="ERP")
        rma = recorded(orc, "ECHO-1")
        assert rma["status"] == "incident"
        retried = operations.retry_incident(orc, MANAGER, rma["id"])  # a second failure: the same rules
    [incident] = operations.list_incidents(orc, MANAGER)["items"]
    assert incident["error"] == (
        f"{TASK}: service task 'Tell the ERP' failed: POST {erp.url} answered 500 (Internal Server Error)"
    )
    assert retried["incident"]["error"] == incident["error"] and incident["attempts"] == 2
    detail = incident["detail"]
    assert detail.startswith(f"500 {PHRASE}: <html><script>alert('{SECRET}')</script>[31mDB password")
    assert len(detail) == EXCERPT and detail.endswith("\u2026") and _clean(detail)
    _staff_sees_no_echo(orc, client, rma["id"])

    # operators: the incidents API and the operations page (escaped)
    api = ApiDriver(client)
    [listed] = api.get("manager", "/api/incidents").get_json()["items"]
    assert (listed["error"], listed["detail"]) == (incident["error"], detail)
    assert api.get("sg.tech", "/api/incidents").status_code == 403
    with client.session_transaction() as session:
        staff_session(session, client.application, "manager")
    page = client.get("/ops/incidents").get_data(as_text=True)
    assert f"alert(&#39;{SECRET}&#39;)" in page and f"<script>alert('{SECRET}')" not in page


def test_an_answer_that_is_not_http_is_not_echoed_either(orc, client):
    allow_receivers(orc)
    with _NotHttp() as erp:
        processes.deploy_bundle(orc, OWNER, bundle(f"'{erp.url}'"), note="ERP")
        rma = recorded(orc, "ECHO-2")
    assert rma["status"] == "incident"
    [incident] = operations.list_incidents(orc, MANAGER)["items"]
    assert incident["error"] == (
        f"{TASK}: service task 'Tell the ERP' failed: POST {erp.url} did not answer in HTTP (BadStatusLine)"
    )
    assert SECRET in incident["detail"] and _clean(incident["detail"]) and "<script>" in incident["detail"]
    view = rmas.get_rma(orc, actor(orc, "sg.tech"), rma["id"])
    assert SECRET not in repr(view)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("a\r\nb\tc\x00d\x1b[0m", "a b cd[0m"),
        ("\u202eevil\u200b", "evil"),
        (b"\xff\xfebytes", "\ufffd\ufffdbytes"),
        ("x" * 400, "x" * (EXCERPT - 1) + "\u2026"),
    ],
)
def test_an_excerpt_is_bounded_and_holds_no_control_characters(text, expected):
    assert excerpt(text) == expected
    assert len(excerpt(text)) <= EXCERPT and not re.search(r"[\x00-\x1f\x7f]", excerpt(text))
