"""Integrator webhooks against a real local HTTP server that checks the HMAC signature like a receiver would."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from engine import Actor
from engine.adapters.senders import senders_from_settings
from engine.adapters.signing import verify_signature
from engine.services import integrations, portal, rmas
from engine.store.model import OutboxMessage, WebhookDelivery, utcnow
from engine.store.outbox import send_pending
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload
from tests.http_receiver import RECEIVER_HOSTS

MANAGER = Actor("manager", "manager")
SECRET = "s3cret-for-tests-0123456789"


@pytest.fixture
def settings(settings):
    """The receivers listen on 127.0.0.1: named in RMA_SERVICE_TASK_HOSTS, as an integrator on the LAN is."""
    return dataclasses.replace(settings, service_task_hosts=RECEIVER_HOSTS)


class Receiver:
    """An integrator's endpoint: verifies each request's signature independently, then answers."""

    def __init__(self):
        self.received, self.rejected, self.fail_next = [], [], 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp, signature = self.headers["X-RMA-Timestamp"], self.headers["X-RMA-Signature"]
                expected = (
                    "sha256=" + hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
                )
                fresh = abs(time.time() - int(stamp)) < 300
                if not (hmac.compare_digest(expected, signature) and fresh):
                    receiver.rejected.append(dict(self.headers))
                    self.send_response(401)
                elif receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(503)
                else:
                    receiver.received.append(
                        {"headers": {k.lower(): v for k, v in self.headers.items()}, "event": json.loads(body)}
                    )
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/rma-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def types(self) -> list[str]:
        return [r["event"]["type"] for r in self.received]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _send(orc, now=None) -> dict:
    return send_pending(orc, {"webhook": senders_from_settings(orc.settings)["webhook"]}, now=now)


def _walk_to_quote(orc):
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=40))
    complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
    complete_open_task(
        orc,
        "sg.tech",
        rma["id"],
        data={"diagnosis": "Lens motor", "fault_category": "mechanical", "parts_cost": 50, "labour_hours": 1},
    )
    return rma


def test_events_are_signed_delivered_once_and_logged(orc, receiver):
    sub = integrations.create_subscription(orc, MANAGER, receiver.url, secret=SECRET, description="ERP")
    rma = _walk_to_quote(orc)
    portal.record_customer_decision(orc, rma["tracking_token"], True)
    assert _send(orc) == {"sent": 5, "failed": 0}
    assert _send(orc) == {"sent": 0, "failed": 0}
    assert receiver.rejected == []
    assert receiver.types() == [
        "rma.opened",
        "rma.status_changed",
        "rma.status_changed",
        "rma.quote_decided",
        "rma.status_changed",
    ]  # in the order they happened
    first = receiver.received[0]
    assert first["event"]["rma"]["number"] == rma["number"] and first["headers"]["x-rma-event"] == "rma.opened"
    assert first["headers"]["x-rma-delivery"] == first["event"]["id"]
    assert first["headers"]["idempotency-key"] == f"webhook:{sub['id']}:{first['event']['id']}"
    decided = receiver.received[3]["event"]
    assert decided["data"]["approve"] is True and decided["data"]["currency"] == "SGD"
    assert [e["event"]["data"] for e in receiver.received if e["event"]["type"] == "rma.status_changed"] == [
        {"from": "received", "to": "diagnosing"},
        {"from": "diagnosing", "to": "awaiting_approval"},
        {"from": "awaiting_approval", "to": "repairing"},
    ]
    log = integrations.list_deliveries(orc, MANAGER, sub["id"])
    assert len(log) == 5 and all(d["status_code"] == 204 and d["delivered"] for d in log)


def test_a_failing_receiver_is_retried_with_the_same_event_id_and_the_attempts_are_logged(orc, receiver):
    sub = integrations.create_subscription(orc, MANAGER, receiver.url, events=["rma.opened"], secret=SECRET)
    receiver.fail_next = 1
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    assert _send(orc) == {"sent": 0, "failed": 1}
    assert _send(orc) == {"sent": 0, "failed": 0}  # backing off
    assert _send(orc, now=utcnow() + timedelta(minutes=2)) == {"sent": 1, "failed": 0}
    [delivered] = receiver.received
    assert delivered["event"]["rma"]["id"] == rma["id"]
    log = integrations.list_deliveries(orc, MANAGER, sub["id"])
    assert [(d["attempt"], d["status_code"], d["error"]) for d in reversed(log)] == [
        (1, 503, "HTTP 503"),
        (2, 204, None),
    ]
    assert rmas.get_rma(orc, MANAGER, rma["id"])["status"] == "received"  # a delivery problem is not an incident


def test_an_unreachable_receiver_is_logged_and_kept_for_retry(orc):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    sub = integrations.create_subscription(orc, MANAGER, f"http://127.0.0.1:{dead_port}/x", events=["rma.opened"])
    rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    assert _send(orc) == {"sent": 0, "failed": 1}
    [entry] = integrations.list_deliveries(orc, MANAGER, sub["id"])
    assert entry["status_code"] is None and "Connection" in entry["error"] and not entry["message_delivered"]
    with orc.uow() as uow:
        message = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.channel == "webhook"))
        assert message.sent_at is None and message.next_attempt_at > utcnow() and "Connection" in message.last_error


def test_subscriptions_are_scoped_to_a_centre_and_filter_events(orc, receiver):
    integrations.create_subscription(orc, Actor("de.manager", "manager", "DE"), receiver.url, secret=SECRET)
    only_closed = integrations.create_subscription(orc, MANAGER, receiver.url, events=["rma.closed"], secret=SECRET)
    rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    assert _send(orc) == {"sent": 0, "failed": 0}
    assert only_closed["events"] == ["rma.closed"]
    de = rmas.open_rma(orc, actor(orc, "de.reception"), rma_payload(centre="DE"))
    assert _send(orc) == {"sent": 1, "failed": 0}
    assert receiver.received[0]["event"]["rma"]["number"] == de["number"]


def test_deleting_a_subscription_stops_pending_deliveries(orc, receiver):
    sub = integrations.create_subscription(orc, MANAGER, receiver.url, secret=SECRET)
    rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    integrations.delete_subscription(orc, MANAGER, sub["id"])
    assert _send(orc) == {"sent": 0, "failed": 0}
    assert receiver.received == [] and integrations.list_subscriptions(orc, MANAGER) == []
    with orc.uow() as uow:
        assert uow.session.scalar(select(OutboxMessage.last_error)) == "subscription deleted"
        assert uow.session.scalar(select(WebhookDelivery.id)) is None


def test_the_receivers_check_refuses_tampering_and_replays():
    body, stamp = b'{"id":"evt_1"}', str(int(time.time()))
    from engine.adapters.signing import sign

    good = sign(SECRET, stamp, body)
    assert verify_signature(SECRET, stamp, body, good)
    assert not verify_signature(SECRET, stamp, body + b" ", good)
    assert not verify_signature("another-secret-0123456", stamp, body, good)
    assert not verify_signature(SECRET, stamp, body, good, now=time.time() + 3600)
