"""Before and beyond the repair, on every step (a reaction after each step, engine.services.reactions).

In the command's own transaction: the inbound stage shows as such while the parcel is awaited, and a
manager's goodwill answer lands on its proposal and the audit trail. The customer's messages before the
repair (request received, shipment authorised with the packing slip, parcel overdue, closed without a
repair) are declared in the BPMN like every other message; only RMAs on bundles from before that still get
them from the code triggers below.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.customer import notifications
from engine.services.context import StepContext
from engine.store.audit import audit
from engine.store.model import GoodwillProposal, Rma, utcnow
from engine.store.outbox import enqueue

# The messages before the repair (request_received, ship_in, parcel_reminder, resolved_remotely, request_expired,
# new_unit_shipped) are declared in the BPMN (`notifyCustomer`) and sent with the milestones (engine.services.
# milestones). A bundle deployed before messages were bundle files declares none of them; for its RMAs these code
# triggers send them as before, with the keys they had (so nothing already sent goes out again), rendered from the
# templates of the processes folder. Remove them when no open RMA runs on such a bundle.
LEGACY_CLOSING = {
    "resolved_remotely": "resolved_remotely",
    "expired": "request_expired",
    "replaced": "new_unit_shipped",
    "traded_in": "new_unit_shipped",
}


def _legacy_send(ctx: StepContext, message: str, key: str) -> None:
    from engine.services.customers import milestone_context

    rma = ctx.rma
    rendered = notifications.render(
        ctx.messages, message, rma.customer_language, milestone_context(ctx.orc, ctx.session, rma, ctx.data)
    )
    if rendered is not None:
        notifications.report_unrendered(ctx.session, rma.id, message, rendered)
    if rendered is not None and rendered.body:
        enqueue(
            ctx.session,
            "email",
            rma.customer_email,
            rendered.body,
            key,
            subject=rendered.subject,
            rma_id=rma.id,
            rma_number=rma.number,
        )


def _legacy_messages(ctx: StepContext) -> None:
    rma, data = ctx.rma, ctx.data
    if ctx.opened and data.get("channel") == "online":
        _legacy_send(ctx, "request_received", f"{rma.number}:request_received")
    if ctx.completed_task == "review_request" and data.get("review_decision") == "ship_in":
        _legacy_send(ctx, "ship_in", f"{rma.number}:ship_in:1")
    if rma.status == "awaiting_unit":
        for occurrence in (e.id for e in ctx.completed if e.element == "parcel_reminder"):
            _legacy_send(ctx, "parcel_reminder", f"{rma.number}:parcel_reminder:{occurrence}")
    if ctx.closed and rma.outcome in LEGACY_CLOSING:
        _legacy_send(ctx, LEGACY_CLOSING[rma.outcome], f"{rma.number}:{rma.outcome}:closed")


def before_and_beyond(ctx: StepContext) -> None:
    rma, data = ctx.rma, ctx.data
    if ctx.completed_task == "approve_goodwill":
        actor = ctx.actor if isinstance(ctx.actor, Actor) else Actor(str(ctx.actor), "manager")
        record_decision(
            ctx.session, rma, actor, data.get("goodwill_approved") is True, data.get("goodwill_notes") or ""
        )
    if rma.customer_email is not None and rma.number is not None and not ctx.bundle_has_templates:
        _legacy_messages(ctx)


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
