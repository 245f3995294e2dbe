"""Integrator webhooks: RMA events, HMAC-signed, delivered through the outbox with retries and a delivery log.

Events are put in the outbox by a reaction (engine.services.webhook_events), in the command's own
transaction (nothing is sent
for work that was rolled back): one `webhook` outbox row per matching subscription and event. The
worker's `WebhookSender` POSTs the JSON body with

    X-RMA-Event: rma.status_changed            X-RMA-Delivery: <event id, the same on every retry>
    X-RMA-Timestamp: <unix seconds>            X-RMA-Signature: sha256=<hex HMAC-SHA256>
    Idempotency-Key: <outbox key>

where the HMAC is over `"<timestamp>.<raw body>"` with the subscription's secret (`verify_signature`
shows the receiver's side: recompute, compare in constant time, refuse stale timestamps). A 2xx
answer is a delivery; anything else (an error status, a refused connection, a timeout) is logged in
`webhook_deliveries` and retried with the outbox's backoff. Redirects are not followed.

A manager chose the URL, so every delivery goes through the outbound address policy
(engine/adapters/address_policy.py): the host is resolved, every address checked, and the connection made to
a checked one; a loopback, private, link-local or metadata address is refused (logged as the attempt's error,
nothing sent) unless `RMA_SERVICE_TASK_HOSTS` names the host. The subscription itself refuses such a URL (422).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from sqlalchemy.orm import object_session

from engine.adapters.address_policy import OutboundPolicy, refusal_of
from engine.adapters.service_tasks import excerpt
from engine.adapters.signing import SIGNATURE_TOLERANCE, sign, verify_signature  # noqa: F401  (receivers' side)
from engine.store.model import OutboxMessage, WebhookDelivery, WebhookSubscription, utcnow


class WebhookSender:
    """POSTs one outbox message to its subscription's URL and logs the attempt (outbox channel `webhook`)."""

    def __init__(self, timeout: float = 10, policy: OutboundPolicy | None = None):
        self.timeout = timeout
        self.policy = policy or OutboundPolicy()
        self._opener = self.policy.opener()  # checked, pinned addresses; a 3xx is an answer to log, not followed

    def __call__(self, message: OutboxMessage) -> None:
        session = object_session(message)
        if session is None:
            raise RuntimeError(f"outbox message {message.id} is not in a session")
        subscription = session.get(WebhookSubscription, int(message.recipient))
        if subscription is None or subscription.deleted_at is not None or not subscription.active:
            raise RuntimeError(f"webhook subscription {message.recipient} is gone")
        body = message.body.encode("utf-8")
        timestamp = str(int(time.time()))
        event_id = json.loads(message.body).get("id", "")
        request = urllib.request.Request(
            subscription.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "rma-orchestrator-webhooks/1",
                "X-RMA-Event": message.subject,
                "X-RMA-Delivery": event_id,
                "X-RMA-Timestamp": timestamp,
                "X-RMA-Signature": sign(subscription.secret, timestamp, body),
                "Idempotency-Key": message.idempotency_key,
            },
        )
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except Exception as exc:  # refused, unreachable, timed out: logged, then retried by the outbox
            refused = refusal_of(exc)
            # bounded and without control characters: a broken answer's text is the other side's words
            error = f"refused: {refused}" if refused is not None else f"{type(exc).__name__}: {excerpt(str(exc))}"
        if error is None and status is not None and not 200 <= status < 300:
            error = f"HTTP {status}"
        session.add(
            WebhookDelivery(
                subscription_id=subscription.id,
                outbox_id=message.id,
                event=message.subject,
                attempt=message.attempts,
                at=utcnow(),
                status_code=status,
                error=error,
                duration_ms=int((time.monotonic() - started) * 1000),
            )
        )
        if error is not None:
            raise RuntimeError(error)
