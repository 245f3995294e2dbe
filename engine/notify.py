"""The outbox: notifications are enqueued in the command's transaction and sent after commit by the worker.

Delivery is at least once: a message is marked sent only after its sender returned; a failure is
recorded with the error and retried with exponential backoff; the idempotency key travels with the
message (Message-ID for mail, Idempotency-Key for webhooks) so that receivers can drop repeats.
"""
from __future__ import annotations

import json
import smtplib
import ssl
import urllib.request
from datetime import datetime, timedelta
from email.message import EmailMessage
from urllib.parse import unquote, urlparse

from sqlalchemy import or_, select

from .db import insert_ignoring
from .model import OutboxMessage, utcnow

MAX_ATTEMPTS = 8


def enqueue(session, channel: str, recipient: str, body: str, idempotency_key: str, subject: str = "",
            rma_id: int | None = None, rma_number: str | None = None) -> None:
    """Add a message to the outbox unless one with the same key exists (one message per milestone)."""
    enqueue_many(session, [dict(channel=channel, recipient=recipient, body=body, idempotency_key=idempotency_key,
                                subject=subject, rma_id=rma_id, rma_number=rma_number)])


def enqueue_many(session, messages: list[dict]) -> None:
    """`enqueue` for several messages (keyword arguments of `enqueue` each): keys already queued are skipped."""
    now = utcnow()
    rows = [dict(rma_id=m.get("rma_id"), rma_number=m.get("rma_number"), channel=m["channel"], recipient=m["recipient"],
                 subject=m.get("subject", ""), body=m["body"], idempotency_key=m["idempotency_key"], created_at=now,
                 attempts=0) for m in messages]
    # One INSERT ... ON CONFLICT DO NOTHING in the command's transaction (no look-up of the keys first;
    # nothing needs the rows as objects in the session), for the email and the text message of a milestone.
    session.execute(insert_ignoring(session, OutboxMessage.__table__, "idempotency_key"), rows)


class SmtpSender:
    """Sends mail over SMTP; `smtps://` uses implicit TLS, `smtp://` tries STARTTLS when offered."""

    def __init__(self, url: str, mail_from: str, timeout: float = 15):
        self.url, self.mail_from, self.timeout = urlparse(url), mail_from, timeout

    def __call__(self, message: OutboxMessage) -> None:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.mail_from, message.recipient, message.subject
        mail["Message-ID"] = f"<{message.idempotency_key}@rma>"
        mail.set_content(message.body)
        u = self.url
        if u.scheme == "smtps":
            client = smtplib.SMTP_SSL(u.hostname, u.port or 465, timeout=self.timeout,
                                      context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(u.hostname, u.port or 25, timeout=self.timeout)
        with client:
            if u.scheme == "smtp" and client.has_extn("starttls"):
                client.starttls(context=ssl.create_default_context())
            if u.username:
                client.login(unquote(u.username), unquote(u.password or ""))
            client.send_message(mail)


class WebhookSmsSender:
    """POSTs `{to, body, rma_number}` as JSON to the SMS provider's webhook."""

    def __init__(self, url: str, timeout: float = 10):
        self.url, self.timeout = url, timeout

    def __call__(self, message: OutboxMessage) -> None:
        payload = json.dumps({"to": message.recipient, "body": message.body,
                              "rma_number": message.rma_number}).encode()
        request = urllib.request.Request(self.url, data=payload, method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": message.idempotency_key})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            if response.status >= 300:
                raise RuntimeError(f"SMS webhook answered {response.status}")


def senders_from_settings(settings) -> dict:
    """Channel -> sender; a channel without configuration has no sender and keeps its messages logged."""
    senders = {}
    if settings.smtp_url:
        senders["email"] = SmtpSender(settings.smtp_url, settings.mail_from)
    if settings.sms_webhook_url:
        senders["sms"] = WebhookSmsSender(settings.sms_webhook_url)
    from .webhooks import WebhookSender  # integrators' subscriptions live in the database: always on
    senders["webhook"] = WebhookSender()
    return senders


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 6 * 3600))


def send_pending(orc, senders: dict, now: datetime | None = None, limit: int = 50) -> dict:
    """Send what is due; returns counts {sent, failed}. Each message is its own transaction."""
    counts = {"sent": 0, "failed": 0}
    skip_locked = orc.db.dialect.name == "postgresql"
    channels = list(senders)
    for _ in range(limit):
        with orc.uow() as uow:
            s = uow.session
            moment = now or utcnow()
            query = (select(OutboxMessage)
                     .where(OutboxMessage.sent_at.is_(None), OutboxMessage.channel.in_(channels),
                            OutboxMessage.attempts < MAX_ATTEMPTS,
                            or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= moment))
                     .order_by(OutboxMessage.id).limit(1))
            if skip_locked:
                query = query.with_for_update(skip_locked=True)
            message = s.scalars(query).first()
            if message is None:
                break
            message.attempts += 1
            try:
                senders[message.channel](message)
            except Exception as exc:  # any failure is recorded and retried, never lost
                message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                message.next_attempt_at = moment + backoff(message.attempts)
                counts["failed"] += 1
            else:
                message.sent_at, message.last_error = utcnow(), None
                counts["sent"] += 1
            uow.commit()
    return counts
