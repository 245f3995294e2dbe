"""Real delivery endpoints for the customer's-side tests: an aiosmtpd SMTP server and an HTTP SMS webhook."""

from __future__ import annotations

import socket
from email import message_from_string, policy

import pytest
from aiosmtpd.controller import Controller

from engine.adapters.senders import SmtpSender, WebhookSmsSender
from tests.http_receiver import HttpReceiver


class MailInbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        mail = message_from_string(envelope.content.decode("utf-8"), policy=policy.default)
        self.messages.append(
            {
                "to": envelope.rcpt_tos,
                "subject": str(mail["Subject"]),
                "body": mail.get_body(("plain",)).get_content(),
                "id": str(mail["Message-ID"]),
            }
        )
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
    with HttpReceiver(status=202, path="/sms") as receiver:
        yield receiver


@pytest.fixture
def senders(smtp_inbox, sms_gateway):
    return {"email": SmtpSender(smtp_inbox.url, "service@example.com"), "sms": WebhookSmsSender(sms_gateway.url)}
