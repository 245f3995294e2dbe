"""Integrator webhook events of a step, put in the outbox in the command's own transaction (one reaction).

One `webhook` outbox row per matching subscription and event; engine.adapters.webhooks delivers them.
"""

from __future__ import annotations

import json
import uuid

from sqlalchemy import bindparam, or_, select

from engine.services.context import StepContext
from engine.store.model import WebhookSubscription, utcnow
from engine.store.outbox import enqueue

EVENTS = ("rma.opened", "rma.status_changed", "rma.quote_decided", "rma.closed", "rma.sla_breached")


# --- events, in the command's transaction ---------------------------------------------------------

# Built once (it runs at every step): executing it with parameters skips rebuilding it and its cache key.
_SUBSCRIPTIONS = select(WebhookSubscription.id, WebhookSubscription.events).where(
    WebhookSubscription.active.is_(True),
    WebhookSubscription.deleted_at.is_(None),
    or_(WebhookSubscription.centre_code.is_(None), WebhookSubscription.centre_code == bindparam("centre")),
)


def enqueue_events(ctx: StepContext) -> None:
    events = _events(ctx)
    if not events:
        return
    rma = ctx.rma
    subscriptions = ctx.session.execute(_SUBSCRIPTIONS, {"centre": rma.centre_code}).all()
    if not subscriptions:
        return
    now = utcnow().isoformat()
    summary = {
        "id": rma.id,
        "number": rma.number,
        "centre": rma.centre_code,
        "status": rma.status,
        "stage": rma.stage,
        "outcome": rma.outcome,
    }
    for kind, data in events:
        event_id = f"evt_{uuid.uuid4().hex}"
        body = json.dumps(
            {"id": event_id, "type": kind, "created_at": now, "rma": summary, "data": data},
            separators=(",", ":"),
            default=str,
        )
        for sub_id, wanted in subscriptions:
            if kind in (wanted or EVENTS):
                enqueue(
                    ctx.session,
                    "webhook",
                    str(sub_id),
                    body,
                    f"webhook:{sub_id}:{event_id}",
                    subject=kind,
                    rma_id=rma.id,
                    rma_number=rma.number,
                )


def _events(ctx: StepContext) -> list[tuple[str, dict]]:
    rma, data = ctx.rma, ctx.data
    events: list[tuple[str, dict]] = []
    if ctx.opened:
        events.append(("rma.opened", {"product_model": rma.product_model, "serial_number": rma.serial_number}))
    left_approval = ctx.previous_status == "awaiting_approval" and rma.status != "awaiting_approval"
    if "approve" in data and (ctx.completed_task == "customer_approval" or left_approval):
        events.append(
            (
                "rma.quote_decided",
                {"approve": bool(data["approve"]), "quote_total": rma.quote_total, "currency": rma.currency},
            )
        )
    for task in ctx.new_tasks:
        if task.properties.get("escalation"):
            events.append(("rma.sla_breached", {"escalation": task.properties["escalation"], "stage": task.stage}))
    if ctx.status_changed and not ctx.opened:
        events.append(("rma.status_changed", {"from": ctx.previous_status, "to": rma.status}))
    if ctx.closed:
        events.append(("rma.closed", {"outcome": rma.outcome}))
    return events
