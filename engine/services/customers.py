"""What staff and messages need about an RMA's customer side: message context, history, delivery log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.customer import customer_text, estimates, notifications
from engine.errors import RmaNotFound
from engine.services import stage_tables
from engine.store import outbox
from engine.store.model import (
    Centre,
    Milestone,
    OutboxMessage,
    Quote,
    Rma,
    RmaEstimate,
    RmaPhoto,
)

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.orchestrator import Orchestrator
    from engine.process.messages import MessageTemplates

CONDITION_KEYS = ("condition_grade", "condition_notes", "accessories")
SHIPPING_KEYS = ("carrier", "tracking_number")


def tracking_url(orc: Orchestrator, rma: Rma) -> str:
    return f"{orc.settings.base_url}/track/{rma.tracking_token}"


def request_url(orc: Orchestrator, rma: Rma) -> str:
    """The customer's page of an online request (self-help, packing slip, offers)."""
    return f"{orc.settings.base_url}/request/{rma.tracking_token}"


def quote_view(quote: Quote | None) -> dict | None:
    if quote is None:
        return None
    return {
        "version": quote.version,
        "lines": quote.lines,
        "total": quote.total,
        "currency": quote.currency,
        "status": quote.status,
        "created_at": quote.created_at,
        "decided_at": quote.decided_at,
    }


# Built once: executing a prepared statement with parameters skips rebuilding it and its cache key.
_LATEST_QUOTE = select(Quote).where(Quote.rma_id == bindparam("rma_id")).order_by(Quote.version.desc()).limit(1)
_PHOTOS = select(RmaPhoto).where(RmaPhoto.rma_id == bindparam("rma_id")).order_by(RmaPhoto.id)


def latest_quote(session: Session, rma_id: int) -> Quote | None:
    return session.scalar(_LATEST_QUOTE, {"rma_id": rma_id})


def photos_of(session: Session, rma_id: int) -> list[RmaPhoto]:
    return list(session.scalars(_PHOTOS, {"rma_id": rma_id}))


def photo_view(photo: RmaPhoto) -> dict:
    return {
        "sha256": photo.sha256,
        "content_type": photo.content_type,
        "size": photo.size,
        "filename": photo.filename,
        "task": photo.task_name,
        "uploaded_at": photo.uploaded_at,
        "uploaded_by": photo.uploaded_by,
    }


def milestone_context(
    orc: Orchestrator,
    session: Session,
    rma: Rma,
    data: dict,
    estimate: RmaEstimate | None = None,
    quote: Quote | bool | None = None,
    centre: Centre | None = None,
    names: frozenset[str] | None = None,
) -> dict:
    """Everything a message template may use; nothing internal (no notes of staff, no staff names).

    `quote`: a new quote (else the latest is read; engine.services.milestones.sync_quotes gives True for another
    change); `centre`: the RMA's Centre row when the caller has it already (else it is read); `names`: the names
    the templates to render read (engine.customer.notifications.names_used): the photos and the quote are read
    from the database only when one of them is among these (None: any may be)."""
    lang = customer_text.language(rma.customer_language)
    stages = stage_tables.of_rma(orc, session, rma)  # its status and stage names: its bundle version's
    if centre is None:
        centre = session.get(Centre, rma.centre_code)
    estimate = estimate if estimate is not None else session.get(RmaEstimate, rma.id)
    photos = []
    if names is None or "photos" in names:
        uploaded = photos_of(session, rma.id)
        photos = [p for p in uploaded if p.task_name == "record_condition"] or uploaded
    if not isinstance(quote, Quote) and (names is None or "quote" in names):
        quote = latest_quote(session, rma.id)
    return {
        "rma": {
            "number": rma.number,
            "customer_name": rma.customer_name,
            "product_model": rma.product_model,
            "serial_number": rma.serial_number,
            "fault_description": rma.fault_description,
            "status": rma.status,
            "outcome": data.get("outcome") or rma.outcome,
            "status_text": customer_text.status_text(lang, rma.status, stages),
            "received_on": rma.created_at,
        },
        "centre": {"name": centre.name if centre else rma.centre_code, "code": rma.centre_code},
        "tracking_url": tracking_url(orc, rma),
        "request_url": request_url(orc, rma),
        "packing_slip_url": f"{request_url(orc, rma)}/packing-slip",
        "eta": estimates.view(estimate, lang, stages),
        "quote": quote_view(quote if isinstance(quote, Quote) else None),
        "intake": {key: data.get(key) for key in CONDITION_KEYS},
        "photos": [photo_view(p) for p in photos],
        "shipping": {key: data.get(key) for key in SHIPPING_KEYS},
        "warranty": {
            "in_warranty": data.get("in_warranty", rma.in_warranty),
            "no_fault": data.get("fault_category") == "no_fault_found",
        },
        "approval_expired": bool(data.get("approval_expired")),
    }


def notify_milestone(
    templates: MessageTemplates, session: Session, rma: Rma, milestone: Milestone, context: dict
) -> list[str]:
    """Render the milestone's message with the templates of the RMA's bundle version and enqueue it."""
    rendered = notifications.render(
        templates,
        milestone.message,
        rma.customer_language,
        {**context, "milestone": milestone.message},
    )
    if rendered is None:
        return []
    return notifications.send(session, rma, milestone.message, milestone.task_id, rendered)


def delivery_log(session: Session, settings: Settings, rma_id: int) -> list[dict]:
    """The RMA's messages with their body and a true state (`not_sent` when the channel is not configured)."""
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.rma_id == rma_id).order_by(OutboxMessage.id))
    return [
        {
            "id": m.id,
            "channel": m.channel,
            "recipient": m.recipient,
            "subject": m.subject,
            "created_at": m.created_at,
            "sent_at": m.sent_at,
            "attempts": m.attempts,
            "last_error": m.last_error,
            "next_attempt_at": m.next_attempt_at,
            "key": m.idempotency_key,
            "body": m.body,
            **dict(zip(("state", "state_text"), outbox.state(settings, m), strict=True)),
        }
        for m in rows
    ]


def _summary(rma: Rma) -> dict:
    return {
        "id": rma.id,
        "number": rma.number,
        "centre": rma.centre_code,
        "status": rma.status,
        "outcome": rma.outcome,
        "product_model": rma.product_model,
        "serial_number": rma.serial_number,
        "customer_name": rma.customer_name,
        "created_at": rma.created_at,
        "closed_at": rma.closed_at,
    }


def earlier_rmas(session: Session, actor: Actor, rma: Rma, limit: int = 20) -> dict:
    """The customer's earlier RMAs (same email or phone) and the unit's (same serial number), newest first,
    in the centres the actor may see: no centre sees another's customers."""
    same_customer = [Rma.customer_email == rma.customer_email]
    if rma.customer_phone:
        same_customer.append(Rma.customer_phone == rma.customer_phone)
    seen = [Rma.id < rma.id] if actor.is_global else [Rma.id < rma.id, Rma.centre_code == actor.centre]
    customer = session.scalars(select(Rma).where(or_(*same_customer), *seen).order_by(Rma.id.desc()).limit(limit)).all()
    unit = session.scalars(
        select(Rma).where(Rma.serial_number == rma.serial_number, *seen).order_by(Rma.id.desc()).limit(limit)
    ).all()
    return {"customer": [_summary(r) for r in customer], "unit": [_summary(r) for r in unit]}


def repeat_of(session: Session, actor: Actor, rma: Rma) -> dict | None:
    if rma.repeat_of_id is None:
        return None
    earlier = session.get(Rma, rma.repeat_of_id)
    return _summary(earlier) if earlier and actor.may_see_centre(earlier.centre_code) else None


def customer_side(orc: Orchestrator, actor: Actor, rma_id: int) -> dict:
    """The staff RMA page's customer-side panels: ETA, photos, quotes, messages, history, loans."""
    from engine.services import loans

    with orc.reading() as s:
        rma = s.get(Rma, rma_id)
        if rma is None or not actor.may_see_centre(rma.centre_code):
            raise RmaNotFound(f"RMA {rma_id} not found")
        quotes = s.scalars(select(Quote).where(Quote.rma_id == rma.id).order_by(Quote.version.desc())).all()
        milestones = s.scalars(select(Milestone).where(Milestone.rma_id == rma.id).order_by(Milestone.id)).all()
        return {
            "eta": estimates.view(s.get(RmaEstimate, rma.id), "en", stage_tables.of_rma(orc, s, rma)),
            "photos": [photo_view(p) for p in photos_of(s, rma.id)],
            "quotes": [(quote_view(q) or {}) | {"decided_ip": q.decided_ip} for q in quotes],
            "deliveries": delivery_log(s, orc.settings, rma.id),
            "milestones": [{"message": m.message, "element": m.element, "at": m.reached_at} for m in milestones],
            "earlier": earlier_rmas(s, actor, rma),
            "repeat_of": repeat_of(s, actor, rma),
            "sms_opt_out": rma.sms_opt_out,
            "loans": loans.loan_panel(orc, s, rma),
        }
