"""Integrator webhook subscriptions (managers): register, list, delete, and read the delivery log."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.adapters.address_policy import OutboundPolicy
from engine.errors import InvalidInput, NotAllowed, NotFound
from engine.services.webhook_events import EVENTS
from engine.store.model import Centre, OutboxMessage, WebhookDelivery, WebhookSubscription, utcnow
from engine.store.outbox import MAX_ATTEMPTS

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

MANAGERS = ("manager",)


def _require_manager(actor: Actor) -> None:
    if actor.role not in MANAGERS:
        raise NotAllowed("only managers may manage webhook subscriptions")


def subscription_view(sub: WebhookSubscription, with_secret: bool = False) -> dict:
    view = {
        "id": sub.id,
        "url": sub.url,
        "events": list(sub.events or EVENTS),
        "centre": sub.centre_code,
        "description": sub.description,
        "active": sub.active,
        "created_by": sub.created_by,
        "created_at": sub.created_at,
    }
    if with_secret:
        view["secret"] = sub.secret
    return view


def _check(url: str, events: list | None, centre: str | None) -> dict:
    errors = {}
    parsed = urlparse(url or "")
    if parsed.scheme not in ("http", "https") or not parsed.hostname or len(url) > 2000:
        errors["url"] = ["An http:// or https:// URL of at most 2000 characters."]
    unknown = sorted(set(events or []) - set(EVENTS))
    if unknown:
        errors["events"] = [f"Unknown events: {', '.join(unknown)}; known: {', '.join(EVENTS)}."]
    return errors


def create_subscription(
    orc: Orchestrator,
    actor: Actor,
    url: str,
    events: list | None = None,
    centre: str | None = None,
    description: str = "",
    secret: str | None = None,
) -> dict:
    """Register a URL for RMA events; the answer carries the signing secret (shown only here)."""
    _require_manager(actor)
    centre = centre or actor.centre  # a centre's manager subscribes to that centre's RMAs only
    allowed = actor.may_see_centre(centre) if centre else actor.is_global
    if not allowed:
        raise NotAllowed(f"you may subscribe only to centre {actor.centre}")
    errors = _check(url, events, centre)
    # the outbound address policy: no loopback, private, link-local or metadata address unless the operator
    # names the host in RMA_SERVICE_TASK_HOSTS (a name is checked again, resolved, at every delivery)
    refusal = None if "url" in errors else OutboundPolicy.from_settings(orc.settings).url_refusal(url)
    if refusal is not None:
        errors["url"] = [f"{refusal[0].upper()}{refusal[1:]}."]
    if secret is not None and not 16 <= len(secret) <= 200:
        errors["secret"] = ["Between 16 and 200 characters (or leave it out to get a generated one)."]
    if errors:
        raise InvalidInput("the subscription has invalid fields", errors)
    with orc.uow() as uow:
        s = uow.session
        if centre and s.get(Centre, centre) is None:
            raise InvalidInput(f"unknown centre {centre}", {"centre": [f"Unknown centre '{centre}'."]})
        sub = WebhookSubscription(
            url=url,
            secret=secret or secrets.token_urlsafe(32),
            events=sorted(set(events or EVENTS)),
            centre_code=centre,
            description=(description or "")[:200],
            active=True,
            created_by=actor.username,
            created_at=utcnow(),
        )
        s.add(sub)
        uow.commit()
        return subscription_view(sub, with_secret=True)


def _visible(session: Session, actor: Actor, sub_id: int, deleted_too: bool = False) -> WebhookSubscription:
    sub = session.get(WebhookSubscription, sub_id)
    gone = sub is None or (sub.deleted_at is not None and not deleted_too)
    if sub is None or gone or not (actor.is_global or sub.centre_code == actor.centre):
        raise NotFound(f"webhook subscription {sub_id} not found")
    return sub


def list_subscriptions(orc: Orchestrator, actor: Actor) -> list[dict]:
    _require_manager(actor)
    query = select(WebhookSubscription).where(WebhookSubscription.deleted_at.is_(None))
    if not actor.is_global:
        query = query.where(WebhookSubscription.centre_code == actor.centre)
    with orc.reading() as s:
        return [subscription_view(sub) for sub in s.scalars(query.order_by(WebhookSubscription.id))]


def delete_subscription(orc: Orchestrator, actor: Actor, sub_id: int) -> None:
    """Stop deliveries: the subscription is kept (its delivery log stays readable) but sends nothing more."""
    _require_manager(actor)
    with orc.uow() as uow:
        s = uow.session
        sub = _visible(s, actor, sub_id)
        sub.active, sub.deleted_at = False, utcnow()
        s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.channel == "webhook",
                OutboxMessage.recipient == str(sub.id),
                OutboxMessage.sent_at.is_(None),
            )
            .values(attempts=MAX_ATTEMPTS, last_error="subscription deleted")
        )
        uow.commit()


def list_deliveries(orc: Orchestrator, actor: Actor, sub_id: int, limit: int = 100) -> list[dict]:
    """The delivery log of one subscription, newest first: every attempt with its answer or error."""
    _require_manager(actor)
    with orc.reading() as s:
        _visible(s, actor, sub_id, deleted_too=True)
        rows = s.execute(
            select(WebhookDelivery, OutboxMessage.rma_number, OutboxMessage.sent_at)
            .join(OutboxMessage, OutboxMessage.id == WebhookDelivery.outbox_id)
            .where(WebhookDelivery.subscription_id == sub_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(max(1, min(limit, 500)))
        ).all()
        return [
            {
                "id": d.id,
                "event": d.event,
                "rma_number": number,
                "attempt": d.attempt,
                "at": d.at,
                "status_code": d.status_code,
                "error": d.error,
                "duration_ms": d.duration_ms,
                "delivered": d.error is None,
                "message_delivered": sent_at is not None,
            }
            for d, number, sent_at in rows
        ]
