"""The outbox: notifications are enqueued in the command's transaction and sent after commit by the worker.

Delivery is at least once: a message is marked sent only after its sender returned; a failure is
recorded with the error and retried with exponential backoff (the senders are in engine.adapters.senders);
the idempotency key travels with the
message (Message-ID for mail, Idempotency-Key for webhooks) so that receivers can drop repeats.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, select

from engine.store.db import insert_ignoring
from engine.store.model import OutboxMessage, utcnow

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.orchestrator import Orchestrator

MAX_ATTEMPTS = 8


class Undeliverable(Exception):
    """A sender's answer when no retry can deliver the message (an address mail cannot go to): it fails at once."""


def not_sent_reason(settings: Settings, channel: str) -> str | None:
    """Why a channel's messages are never sent here: its sender is not configured (engine.adapters.senders
    .senders_from_settings gives it no sender), so they stay in the outbox. None: the channel can send."""
    if channel == "email" and not settings.smtp_url:
        return "email is not configured"
    if channel == "sms" and not settings.sms_webhook_url:
        return "text messages are not configured"
    return None


def state(settings: Settings, message: OutboxMessage) -> tuple[str, str]:
    """A message's delivery state and its words for staff: never 'queued' for what nothing will send."""
    if message.sent_at is not None:
        return "sent", "sent"
    if message.attempts >= MAX_ATTEMPTS:
        return "undelivered", "not delivered: every attempt failed"
    if message.attempts:  # a sender tried it (and says why in last_error): it is retried
        return "retrying", "retrying"
    reason = not_sent_reason(settings, message.channel)
    if reason is not None:
        return "not_sent", f"not sent: {reason}"
    return "queued", "queued"


def enqueue(
    session,
    channel: str,
    recipient: str,
    body: str,
    idempotency_key: str,
    subject: str = "",
    rma_id: int | None = None,
    rma_number: str | None = None,
) -> None:
    """Add a message to the outbox unless one with the same key exists (one message per milestone)."""
    enqueue_many(
        session,
        [
            dict(
                channel=channel,
                recipient=recipient,
                body=body,
                idempotency_key=idempotency_key,
                subject=subject,
                rma_id=rma_id,
                rma_number=rma_number,
            )
        ],
    )


def enqueue_many(session, messages: list[dict]) -> None:
    """`enqueue` for several messages (keyword arguments of `enqueue` each): keys already queued are skipped."""
    now = utcnow()
    rows = [
        dict(
            rma_id=m.get("rma_id"),
            rma_number=m.get("rma_number"),
            channel=m["channel"],
            recipient=m["recipient"],
            subject=m.get("subject", ""),
            body=m["body"],
            idempotency_key=m["idempotency_key"],
            created_at=now,
            attempts=0,
        )
        for m in messages
    ]
    # One INSERT ... ON CONFLICT DO NOTHING in the command's transaction (no look-up of the keys first;
    # nothing needs the rows as objects in the session), for the email and the text message of a milestone.
    session.execute(insert_ignoring(session, OutboxMessage.__table__, "idempotency_key"), rows)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 6 * 3600))


def send_pending(orc: Orchestrator, senders: dict, now: datetime | None = None, limit: int = 50) -> dict:
    """Send what is due; returns counts {sent, failed}. Each message is its own transaction."""
    counts = {"sent": 0, "failed": 0}
    skip_locked = orc.db.dialect.name == "postgresql"
    channels = list(senders)
    for _ in range(limit):
        with orc.uow() as uow:
            s = uow.session
            moment = now or utcnow()
            query = (
                select(OutboxMessage)
                .where(
                    OutboxMessage.sent_at.is_(None),
                    OutboxMessage.channel.in_(channels),
                    OutboxMessage.attempts < MAX_ATTEMPTS,
                    or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= moment),
                )
                .order_by(OutboxMessage.id)
                .limit(1)
            )
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
                if isinstance(exc, Undeliverable):  # failed for good, with its reason: not retried in vain
                    message.attempts, message.next_attempt_at = MAX_ATTEMPTS, None
                counts["failed"] += 1
            else:
                message.sent_at, message.last_error = utcnow(), None
                counts["sent"] += 1
            uow.commit()
    return counts
