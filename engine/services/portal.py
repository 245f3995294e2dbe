"""The customer's side: a tracking view and the quote decision, by unguessable token, no login."""
from __future__ import annotations

import hmac

from sqlalchemy import select, update

from .. import forms
from ..actors import Actor
from ..errors import NoDecisionPending, RmaNotFound
from ..model import AuditEvent, HumanTask, Rma, utcnow
from .instances import apply, audit

STATUS_WORDS = {
    "requested": "Request received", "received": "Received at the service centre",
    "diagnosing": "Being diagnosed by a technician", "awaiting_approval": "Waiting for your approval of the quote",
    "repairing": "Being repaired", "quality_check": "In final quality check", "returning": "On its way back to you",
    "closed": "Completed",
}
OUTCOME_WORDS = {"repaired": "Repaired", "returned_unrepaired": "Returned without repair",
                 "no_fault_found": "No fault found"}


def _by_token(session, token: str) -> Rma:
    rma = session.scalar(select(Rma).where(Rma.tracking_token == token)) if token and len(token) < 100 else None
    if rma is None or not hmac.compare_digest(rma.tracking_token, token):
        raise RmaNotFound("no RMA for this tracking link")
    return rma


def _pending_decision(session, rma: Rma) -> HumanTask | None:
    return session.scalar(select(HumanTask).where(HumanTask.rma_id == rma.id, HumanTask.role == "customer",
                                                  HumanTask.status == "open"))


def portal_view(orc, token: str) -> dict:
    """What the customer may see: no internal notes, no staff names."""
    with orc.uow() as uow:
        s = uow.session
        rma = _by_token(s, token)
        pending = _pending_decision(s, rma)
        events = s.scalars(select(AuditEvent).where(AuditEvent.rma_id == rma.id, AuditEvent.customer_visible)
                           .order_by(AuditEvent.id)).all()
        quote = None
        if rma.quote_total is not None:
            quote = {"total": rma.quote_total, "currency": rma.currency, "in_warranty": rma.in_warranty}
        return {
            "number": rma.number, "status": rma.status, "status_text": STATUS_WORDS.get(rma.status, rma.status),
            "stage": rma.stage, "outcome": rma.outcome, "outcome_text": OUTCOME_WORDS.get(rma.outcome or ""),
            "product": {"model": rma.product_model, "serial_number": rma.serial_number},
            "quote": quote, "decision_pending": pending is not None, "language": rma.customer_language,
            "history": [{"at": e.at, "kind": e.kind, "detail": _customer_detail(e)} for e in events],
            "created_at": rma.created_at, "closed_at": rma.closed_at,
        }


def _customer_detail(event: AuditEvent) -> str:
    if event.kind == "status_changed" and event.data:
        return STATUS_WORDS.get(event.data.get("to"), event.data.get("to", ""))
    if event.kind == "rma_opened":
        return "Repair request registered"
    if event.kind == "quote_decided" and event.data:
        return "You approved the quote" if event.data.get("approve") else "You declined the quote"
    if event.kind == "rma_closed" and event.data:
        return OUTCOME_WORDS.get(event.data.get("outcome") or "", "Completed")
    return ""


def record_customer_decision(orc, token: str, approve, ip: str | None = None) -> dict:
    """Approve or decline the pending quote; 409 when no decision is pending."""
    with orc.uow() as uow:
        s = uow.session
        rma = _by_token(s, token)
        task = _pending_decision(s, rma)
        if task is None:
            raise NoDecisionPending(f"{rma.number} has no quote waiting for a decision")
        bundle_form = forms.validate_submission({"type": "object", "required": ["approve"],
                                                 "properties": {"approve": {"type": "boolean"}}},
                                                {"approve": approve})
        actor = Actor.customer(rma.number)
        result = s.execute(update(HumanTask).where(HumanTask.id == task.id, HumanTask.status == "open")
                           .values(status="completed", completed_by=actor.username, completed_at=utcnow())
                           .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            raise NoDecisionPending(f"{rma.number} has no quote waiting for a decision")
        audit(s, rma.id, actor, "quote_decided", "quote approved" if bundle_form["approve"] else "quote declined",
              task_name=task.name, data={"approve": bundle_form["approve"], "quote_total": str(rma.quote_total),
                                         "currency": rma.currency, "ip": ip})
        apply(orc, s, rma, actor, lambda wf: orc.runtime.complete(wf, task.id, bundle_form), completed_task=task.name)
        uow.commit()
    return portal_view(orc, token)
