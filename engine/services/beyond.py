"""Before and beyond the repair, on every step (a reaction after each step, engine.services.reactions).

In the command's own transaction: the inbound stage shows as such while the parcel is awaited, a
manager's goodwill answer lands on its proposal and the audit trail, and the customer gets a message
when the shipment is authorised (with the packing slip), when the parcel is overdue, and when a
request closes without a repair (solved remotely, expired, replaced, traded in).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.services.context import StepContext
from engine.store.audit import audit
from engine.store.model import GoodwillProposal, Rma, utcnow
from engine.store.outbox import enqueue

MESSAGES = {
    "ship_in": (
        "Please send your unit: {number}",
        "We could not solve the fault remotely. Please pack your {model} with the packing slip, which "
        "carries the RMA number as a barcode, and send it to {centre}:\n{slip}\n",
    ),
    "parcel_reminder": (
        "We are still waiting for your unit: {number}",
        "We have not received your {model} yet. Please send it with the packing slip:\n{slip}\n"
        "Without a parcel the request closes 30 days after the shipment was authorised.\n",
    ),
    "resolved_remotely": (
        "Your request {number} is closed: solved",
        "Good news: the fault of your {model} is solved without a shipment, so we closed request {number}.\n",
    ),
    "expired": (
        "Your request {number} has expired",
        "We did not receive your {model} within 30 days, so request "
        "{number} is closed. You are welcome to send a new request any time.\n",
    ),
    "replaced": ("Your new unit is on its way: {number}", "As you chose, a new {model} is on its way to you.\n"),
    "traded_in": ("Your new unit is on its way: {number}", "As you chose, your trade-in unit is on its way to you.\n"),
}


def _send(ctx: StepContext, key: str, occurrence: str) -> None:
    rma = ctx.rma
    base = ctx.orc.settings.base_url
    words = {
        "number": rma.number,
        "model": rma.product_model,
        "centre": rma.centre_code,
        "slip": f"{base}/request/{rma.tracking_token}/packing-slip",
    }
    subject, body = MESSAGES[key]
    enqueue(
        ctx.session,
        "email",
        rma.customer_email,
        body.format(**words),
        f"{rma.number}:{key}:{occurrence}",
        subject=subject.format(**words),
        rma_id=rma.id,
        rma_number=rma.number,
    )


def _fired(ctx: StepContext, element: str) -> list[str]:
    return [e.id for e in ctx.completed if e.element == element]


def before_and_beyond(ctx: StepContext) -> None:
    rma, data = ctx.rma, ctx.data
    if rma.status == "awaiting_unit":
        rma.stage = "inbound"
    if ctx.completed_task == "approve_goodwill":
        actor = ctx.actor if isinstance(ctx.actor, Actor) else Actor(str(ctx.actor), "manager")
        record_decision(
            ctx.session, rma, actor, data.get("goodwill_approved") is True, data.get("goodwill_notes") or ""
        )
    if rma.customer_email is None or rma.number is None:
        return
    if ctx.completed_task == "review_request" and data.get("review_decision") == "ship_in":
        _send(ctx, "ship_in", "1")
    if rma.status == "awaiting_unit":
        for occurrence in _fired(ctx, "parcel_reminder"):
            _send(ctx, "parcel_reminder", occurrence)
    if ctx.closed and rma.outcome in ("resolved_remotely", "expired", "replaced", "traded_in"):
        _send(ctx, rma.outcome, "closed")


def record_decision(session: Session, rma: Rma, actor: Actor, approved: bool, notes: str) -> None:
    """The manager's answer (the `approve_goodwill` task): on the proposal and on the audit trail."""
    proposal = session.scalar(
        select(GoodwillProposal).where(GoodwillProposal.rma_id == rma.id, GoodwillProposal.status == "pending")
    )
    if proposal is None:
        return
    proposal.status = "approved" if approved else "rejected"
    proposal.decided_by, proposal.decided_at, proposal.decision_notes = actor.username, utcnow(), notes or ""
    audit(
        session,
        rma.id,
        actor,
        f"goodwill_{proposal.status}",
        f"{proposal.kind.replace('_', ' ')} of {proposal.amount} {proposal.currency} {proposal.status}",
        data={"proposal": proposal.id, "kind": proposal.kind, "amount": str(proposal.amount), "notes": notes or ""},
    )
