"""The outbox delivers through a real SMTP server and a real HTTP webhook, retrying failures."""

import socket
from datetime import timedelta
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from engine.adapters.senders import SmtpSender, WebhookSmsSender
from engine.store.model import OutboxMessage, utcnow
from engine.store.outbox import enqueue, send_pending
from tests.http_receiver import HttpReceiver


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = _Inbox()
    with socket.socket() as probe:  # aiosmtpd needs a concrete port to probe its own start-up
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def webhook_server():
    with HttpReceiver(path="/sms") as receiver:
        yield receiver


def _enqueue(orc, channel, recipient, key, body="Your RMA is ready"):
    with orc.uow() as uow:
        enqueue(uow.session, channel, recipient, body, key, subject="RMA-SG-000001 update", rma_number="RMA-SG-000001")
        uow.commit()


def _rows(orc):
    with orc.uow() as uow:
        return [
            SimpleNamespace(sent_at=m.sent_at, attempts=m.attempts, last_error=m.last_error)
            for m in uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]


def test_mail_is_delivered_over_smtp_once_per_key(orc, smtp_server):
    inbox, port = smtp_server
    _enqueue(orc, "email", "kim@example.com", "rma-1-received")
    _enqueue(orc, "email", "kim@example.com", "rma-1-received")  # same milestone again: not doubled
    senders = {"email": SmtpSender(f"smtp://127.0.0.1:{port}", "rma@example.com")}
    assert send_pending(orc, senders) == {"sent": 1, "failed": 0}
    assert send_pending(orc, senders) == {"sent": 0, "failed": 0}
    assert len(inbox.messages) == 1
    rcpts, content = inbox.messages[0]
    assert rcpts == ["kim@example.com"] and "Your RMA is ready" in content and "rma-1-received@rma" in content


def test_failed_webhook_is_recorded_and_retried_after_backoff(orc, webhook_server):
    webhook_server.statuses.append(503)
    _enqueue(orc, "sms", "+6590000000", "rma-1-sms")
    senders = {"sms": WebhookSmsSender(webhook_server.url)}
    assert send_pending(orc, senders) == {"sent": 0, "failed": 1}
    row = _rows(orc)[0]
    assert row.sent_at is None and row.attempts == 1 and "503" in row.last_error
    assert send_pending(orc, senders) == {"sent": 0, "failed": 0}  # not due yet
    assert send_pending(orc, senders, now=utcnow() + timedelta(minutes=5)) == {"sent": 1, "failed": 0}
    assert [(r.headers["Idempotency-Key"], r.json) for r in webhook_server.requests] == [
        ("rma-1-sms", {"to": "+6590000000", "body": "Your RMA is ready", "rma_number": "RMA-SG-000001"})
    ]
    assert _rows(orc)[0].sent_at is not None


def test_unreachable_smtp_server_keeps_the_message(orc):
    _enqueue(orc, "email", "kim@example.com", "rma-2-received")
    senders = {"email": SmtpSender("smtp://127.0.0.1:9", "rma@example.com", timeout=2)}
    assert send_pending(orc, senders) == {"sent": 0, "failed": 1}
    row = _rows(orc)[0]
    assert row.sent_at is None and row.last_error
