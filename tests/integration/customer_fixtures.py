"""Real delivery endpoints for the customer's-side tests: an aiosmtpd SMTP server and an HTTP SMS webhook."""
from __future__ import annotations

import json
import socket
import threading
from email import message_from_string, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from engine.notify import SmtpSender, WebhookSmsSender
from engine.services import tasks
from tests.helpers import actor


class MailInbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        mail = message_from_string(envelope.content.decode("utf-8"), policy=policy.default)
        self.messages.append({"to": envelope.rcpt_tos, "subject": str(mail["Subject"]),
                              "body": mail.get_body(("plain",)).get_content(), "id": str(mail["Message-ID"])})
        return "250 OK"

    def subjects(self) -> list[str]:
        return [m["subject"] for m in self.messages]


@pytest.fixture
def smtp_inbox():
    inbox = MailInbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{port}"
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def sms_gateway():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append({"key": self.headers["Idempotency-Key"], **body})
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, f"http://127.0.0.1:{server.server_port}/sms"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def senders(smtp_inbox, sms_gateway):
    return {"email": SmtpSender(smtp_inbox.url, "service@example.com"), "sms": WebhookSmsSender(sms_gateway[1])}


def work(orc, username: str, rma_id: int, name: str, data: dict) -> dict:
    """Complete the RMA's open task `name` as `username`."""
    who = actor(orc, username)
    task = next(t for t in tasks.list_tasks(orc, who, rma_id=rma_id)["items"] if t["name"] == name)
    return tasks.complete_task(orc, who, task["id"], data)
