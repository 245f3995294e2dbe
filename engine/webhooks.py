"""Integrator webhooks: RMA events, HMAC-signed, delivered through the outbox with retries and a delivery log.

Events are put in the outbox by an after-step hook, in the command's own transaction (nothing is sent
for work that was rolled back): one `webhook` outbox row per matching subscription and event. The
worker's `WebhookSender` POSTs the JSON body with

    X-RMA-Event: rma.status_changed            X-RMA-Delivery: <event id, the same on every retry>
    X-RMA-Timestamp: <unix seconds>            X-RMA-Signature: sha256=<hex HMAC-SHA256>
    Idempotency-Key: <outbox key>

where the HMAC is over `"<timestamp>.<raw body>"` with the subscription's secret (`verify_signature`
shows the receiver's side: recompute, compare in constant time, refuse stale timestamps). A 2xx
answer is a delivery; anything else (an error status, a refused connection, a timeout) is logged in
`webhook_deliveries` and retried with the outbox's backoff. Redirects are not followed.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import object_session

from .model import OutboxMessage, WebhookDelivery, WebhookSubscription, utcnow
from .notify import enqueue
from .services import hooks
from .signing import SIGNATURE_TOLERANCE, sign, verify_signature  # noqa: F401  (receivers' side, documented here)

EVENTS = ("rma.opened", "rma.status_changed", "rma.quote_decided", "rma.closed", "rma.sla_breached")


# --- events, in the command's transaction ---------------------------------------------------------

# Built once (it runs at every step): executing it with parameters skips rebuilding it and its cache key.
_SUBSCRIPTIONS = select(WebhookSubscription.id, WebhookSubscription.events).where(
    WebhookSubscription.active.is_(True), WebhookSubscription.deleted_at.is_(None),
    or_(WebhookSubscription.centre_code.is_(None), WebhookSubscription.centre_code == bindparam("centre")))


@hooks.after_step
def enqueue_events(ctx: hooks.StepContext) -> None:
    events = _events(ctx)
    if not events:
        return
    rma = ctx.rma
    subscriptions = ctx.session.execute(_SUBSCRIPTIONS, {"centre": rma.centre_code}).all()
    if not subscriptions:
        return
    now = utcnow().isoformat()
    summary = {"id": rma.id, "number": rma.number, "centre": rma.centre_code, "status": rma.status,
               "stage": rma.stage, "outcome": rma.outcome}
    for kind, data in events:
        event_id = f"evt_{uuid.uuid4().hex}"
        body = json.dumps({"id": event_id, "type": kind, "created_at": now, "rma": summary, "data": data},
                          separators=(",", ":"), default=str)
        for sub_id, wanted in subscriptions:
            if kind in (wanted or EVENTS):
                enqueue(ctx.session, "webhook", str(sub_id), body, f"webhook:{sub_id}:{event_id}", subject=kind,
                        rma_id=rma.id, rma_number=rma.number)


def _events(ctx) -> list[tuple[str, dict]]:
    rma, data, events = ctx.rma, ctx.data, []
    if ctx.opened:
        events.append(("rma.opened", {"product_model": rma.product_model, "serial_number": rma.serial_number}))
    left_approval = ctx.previous_status == "awaiting_approval" and rma.status != "awaiting_approval"
    if "approve" in data and (ctx.completed_task == "customer_approval" or left_approval):
        events.append(("rma.quote_decided", {"approve": bool(data["approve"]), "quote_total": rma.quote_total,
                                              "currency": rma.currency}))
    for task in ctx.new_tasks:
        if task.properties.get("escalation"):
            events.append(("rma.sla_breached", {"escalation": task.properties["escalation"], "stage": task.stage}))
    if ctx.status_changed and not ctx.opened:
        events.append(("rma.status_changed", {"from": ctx.previous_status, "to": rma.status}))
    if ctx.closed:
        events.append(("rma.closed", {"outcome": rma.outcome}))
    return events


# --- delivery, by the worker ------------------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx is an answer to log, not a place to re-send a signed payload


class WebhookSender:
    """POSTs one outbox message to its subscription's URL and logs the attempt (outbox channel `webhook`)."""

    def __init__(self, timeout: float = 10):
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect)

    def __call__(self, message: OutboxMessage) -> None:
        session = object_session(message)
        subscription = session.get(WebhookSubscription, int(message.recipient))
        if subscription is None or subscription.deleted_at is not None or not subscription.active:
            raise RuntimeError(f"webhook subscription {message.recipient} is gone")
        body = message.body.encode("utf-8")
        timestamp = str(int(time.time()))
        event_id = json.loads(message.body).get("id", "")
        request = urllib.request.Request(subscription.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "rma-orchestrator-webhooks/1",
            "X-RMA-Event": message.subject, "X-RMA-Delivery": event_id, "X-RMA-Timestamp": timestamp,
            "X-RMA-Signature": sign(subscription.secret, timestamp, body), "Idempotency-Key": message.idempotency_key})
        started, status, error = time.monotonic(), None, None
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except Exception as exc:  # refused, unreachable, timed out: logged, then retried by the outbox
            error = f"{type(exc).__name__}: {exc}"
        if error is None and not 200 <= status < 300:
            error = f"HTTP {status}"
        session.add(WebhookDelivery(subscription_id=subscription.id, outbox_id=message.id, event=message.subject,
                                    attempt=message.attempts, at=utcnow(), status_code=status, error=error,
                                    duration_ms=int((time.monotonic() - started) * 1000)))
        if error is not None:
            raise RuntimeError(error)
