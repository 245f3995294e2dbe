"""Goodwill: staff propose a discount or fee waiver, a manager approves or rejects it, managers see the sums."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.errors import Conflict, InvalidInput, NotAllowed
from engine.services.instances import apply, lock_instance
from engine.services.rmas import _visible_rma
from engine.store.audit import audit
from engine.store.model import GoodwillProposal, HumanTask, utcnow

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

PROPOSING_ROLES = ("reception", "technician", "manager")
KINDS = ("discount", "fee_waiver")
APPROVAL_TASK = "approve_goodwill"


def proposal_view(p: GoodwillProposal) -> dict:
    return {
        "id": p.id,
        "rma_id": p.rma_id,
        "centre": p.centre_code,
        "kind": p.kind,
        "amount": p.amount,
        "currency": p.currency,
        "reason": p.reason,
        "status": p.status,
        "proposed_by": p.proposed_by,
        "proposed_at": p.proposed_at,
        "decided_by": p.decided_by,
        "decided_at": p.decided_at,
        "decision_notes": p.decision_notes,
    }


def propose_goodwill(
    orc: Orchestrator, actor: Actor, rma_id: int, kind: str, reason: str, amount: Decimal | float | str | None = None
) -> dict:
    """Propose goodwill on a quote the customer has not decided yet; a manager must approve it."""
    if actor.role not in PROPOSING_ROLES:
        raise NotAllowed("only reception, technicians or a manager may propose goodwill")
    errors: dict[str, list[str]] = {}
    if kind not in KINDS:
        errors["kind"] = [f"Choose one of: {', '.join(KINDS)}."]
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 2000:
        errors["reason"] = ["Say why (at most 2000 characters)."]
    if errors:
        raise InvalidInput("the proposal has invalid fields", errors)
    with orc.uow() as uow:
        s = uow.session
        rma = _visible_rma(s, actor, rma_id)
        if actor.centre is not None and actor.centre != rma.centre_code:
            raise NotAllowed(f"you may propose goodwill only for centre {actor.centre}")
        if s.scalar(
            select(GoodwillProposal.id).where(GoodwillProposal.rma_id == rma.id, GoodwillProposal.status == "pending")
        ):
            raise Conflict(f"{rma.number} already has a goodwill proposal waiting for a manager")
        instance = lock_instance(s, rma.id)  # before any task row, in the timer sweep's order
        workflow = orc.runtime.load(
            orc.parsed_bundle(s, instance.bundle_id), instance.state, instance.serializer_version
        )
        if "goodwill_proposed" not in orc.runtime.awaited_messages(workflow):
            raise Conflict(f"{rma.number} has no quote waiting for the customer's decision")
        data = orc.runtime.current_data(workflow)
        value = _amount(kind, amount, data)
        proposal = GoodwillProposal(
            rma_id=rma.id,
            centre_code=rma.centre_code,
            kind=kind,
            amount=value,
            currency=rma.currency,
            reason=reason.strip(),
            status="pending",
            proposed_by=actor.username,
            proposed_at=utcnow(),
            decision_notes="",
        )
        s.add(proposal)
        uow.flush()
        audit(
            s,
            rma.id,
            actor,
            "goodwill_proposed",
            f"{kind.replace('_', ' ')} of {value} {rma.currency} proposed",
            data={"proposal": proposal.id, "kind": kind, "amount": str(value), "reason": proposal.reason},
        )
        payload = {"proposal": proposal.id, "kind": kind, "amount": float(value), "reason": proposal.reason}
        apply(orc, s, rma, actor, lambda wf: orc.runtime.deliver_message(wf, "goodwill_proposed", payload))
        uow.commit()
        return proposal_view(proposal)


def check_four_eyes(session: Session, actor: Actor, rma_id: int, task_name: str) -> None:
    """Goodwill needs four eyes: whoever proposed it may not approve it (the task stays with other managers)."""
    if task_name != APPROVAL_TASK:
        return
    proposer = session.scalar(
        select(GoodwillProposal.proposed_by).where(
            GoodwillProposal.rma_id == rma_id, GoodwillProposal.status == "pending"
        )
    )
    if proposer == actor.username:
        raise NotAllowed("you proposed this goodwill: another manager must approve or reject it (four eyes)")


def not_own_goodwill_approval(username: ColumnElement[str]) -> ColumnElement[bool]:
    """Inbox filter: leaves out the `approve_goodwill` tasks whose pending proposal `username` made."""
    own = (
        select(GoodwillProposal.id)
        .where(
            GoodwillProposal.rma_id == HumanTask.rma_id,
            GoodwillProposal.status == "pending",
            GoodwillProposal.proposed_by == username,
        )
        .exists()
    )
    return or_(HumanTask.name != APPROVAL_TASK, ~own)


def _amount(kind: str, amount: Decimal | float | str | None, data: dict) -> Decimal:
    quote = Decimal(str(data.get("quote_total") or 0))
    if kind == "fee_waiver":  # the labour of the quote is waived; parts are still charged
        value = Decimal(str(data.get("labour_hours") or 0)) * Decimal(str(data.get("labour_rate") or 0))
    else:
        try:
            value = Decimal(str(amount))
        except (InvalidOperation, TypeError):
            raise InvalidInput("amount missing", {"amount": ["Give the discount as an amount."]}) from None
    value = value.quantize(Decimal("0.01"))
    if not value.is_finite() or value <= 0 or value > quote:
        raise InvalidInput("amount out of range", {"amount": [f"Must be more than 0 and at most the quote ({quote})."]})
    return value


def proposals_for(orc: Orchestrator, actor: Actor, rma_id: int) -> list[dict]:
    with orc.reading() as s:
        _visible_rma(s, actor, rma_id)
        rows = s.scalars(
            select(GoodwillProposal).where(GoodwillProposal.rma_id == rma_id).order_by(GoodwillProposal.id)
        )
        return [proposal_view(p) for p in rows]


def goodwill_summary(orc: Orchestrator, actor: Actor) -> list[dict]:
    """Per centre and currency: how many proposals were approved, rejected or wait, and the sums given."""
    if actor.role != "manager":
        raise NotAllowed("only managers see the goodwill summary")
    with orc.reading() as s:
        query = select(
            GoodwillProposal.centre_code,
            GoodwillProposal.currency,
            GoodwillProposal.status,
            func.count(GoodwillProposal.id),
            func.sum(GoodwillProposal.amount),
        ).group_by(GoodwillProposal.centre_code, GoodwillProposal.currency, GoodwillProposal.status)
        if not actor.is_global:
            query = query.where(GoodwillProposal.centre_code == actor.centre)
        result: dict[tuple, dict] = {}
        for centre, currency, status, n, total in s.execute(query):
            row = result.setdefault(
                (centre, currency),
                {
                    "centre": centre,
                    "currency": currency,
                    "approved": 0,
                    "rejected": 0,
                    "pending": 0,
                    "approved_total": Decimal("0"),
                    "proposed_total": Decimal("0"),
                },
            )
            row[status] = row.get(status, 0) + n
            row["proposed_total"] += Decimal(str(total or 0))
            if status == "approved":
                row["approved_total"] += Decimal(str(total or 0))
        return [result[k] for k in sorted(result)]
