"""The customer's side of every step (a reaction after each step, engine.services.reactions).

In the command's own transaction: record each BPMN element marked `notifyCustomer` that completed
(once per occurrence), keep quote versions, link intake photos, flag repeat repairs, refuse to close
while a loan unit is out, recompute the estimate, and put the milestone's messages in the outbox.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from engine.customer import estimates, eta
from engine.errors import Conflict, InvalidFormData
from engine.execution.runtime import CompletedElement
from engine.services import stage_tables
from engine.services.context import NOT_KNOWN, StepContext
from engine.store.audit import audit
from engine.store.db import insert_ignoring
from engine.store.model import Centre, Loan, Milestone, Quote, Rma, RmaPhoto, utcnow

NOTIFY_PROPERTY = "notifyCustomer"
QUOTE_TASK = "customer_approval"
REPEAT_WINDOW = timedelta(days=90)


class LoanOutstanding(Conflict):
    code = "loan_outstanding"


def completed_milestones(completed: list[CompletedElement]) -> list[tuple[str, str, str, datetime]]:
    """(task id, element id, message, when) of every completed element that carries `notifyCustomer`."""
    return [
        (e.id, e.element, e.properties[NOTIFY_PROPERTY], e.completed_at)
        for e in completed
        if e.properties.get(NOTIFY_PROPERTY)
    ]


def _eta_settings(ctx: StepContext) -> eta.EtaSettings:
    return eta.EtaSettings.of(ctx.orc.settings)


def customer_side(ctx: StepContext) -> None:
    s, rma = ctx.session, ctx.rma
    if ctx.opened:
        flag_repeat_repair(s, rma)
    if ctx.completed_task and ctx.data.get("photos") and ctx.completed_task == "record_condition":
        link_photos(s, rma, ctx.data["photos"], ctx.completed_task)
    quote_changed = sync_quotes(ctx)
    if ctx.closed:
        refuse_close_with_loan_out(s, rma)
    reached = record_milestones(ctx)
    estimate = None
    if reached or ctx.status_changed or ctx.opened or quote_changed:
        centre = s.get(Centre, rma.centre_code)  # read once for the estimate and the messages
        opened = estimates.UNKNOWN if ctx.open_since is NOT_KNOWN else ctx.open_since
        estimate = estimates.refresh(
            s,
            rma,
            ctx.data,
            settings=_eta_settings(ctx),
            opened=opened,
            centre=centre,
            first=ctx.opened,
            stages=stage_tables.of_rma(ctx.orc, s, rma),  # the steps and standard times of its bundle version
        )
    if reached:
        from engine.customer.notifications import names_used
        from engine.services.customers import milestone_context, notify_milestone

        templates = ctx.messages  # the texts of the RMA's own bundle version
        names: frozenset[str] | None = frozenset()
        for milestone in reached:
            used = names_used(templates, milestone.message, rma.customer_language)
            names = None if used is None or names is None else names | used
        context = milestone_context(
            ctx.orc, s, rma, ctx.data, estimate, quote_changed or None, centre=centre, names=names
        )
        for milestone in reached:
            notify_milestone(templates, s, rma, milestone, context)


# Built once: executing a prepared statement with parameters skips rebuilding it and its cache key.
_REPEAT_OF = (
    select(Rma.id)
    .where(
        Rma.serial_number == bindparam("serial"),
        Rma.id != bindparam("rma_id"),
        Rma.outcome == "repaired",
        Rma.closed_at >= bindparam("since"),
    )
    .order_by(Rma.closed_at.desc())
    .limit(1)
)
_PENDING_QUOTES = select(Quote).where(Quote.rma_id == bindparam("rma_id"), Quote.status == "pending")
_VOID_QUOTES = (
    update(Quote)
    .where(Quote.rma_id == bindparam("key"), Quote.status.in_(("pending", "approved")))
    .values(status="void")
    .execution_options(synchronize_session=False)
)
_LAST_QUOTE_VERSION = select(func.max(Quote.version)).where(Quote.rma_id == bindparam("rma_id"))
_LOANS_OUT = (
    select(func.count()).select_from(Loan).where(Loan.rma_id == bindparam("rma_id"), Loan.returned_at.is_(None))
)
_MILESTONES = Milestone.__table__


def record_milestones(ctx: StepContext) -> list[Milestone]:
    """Insert the completed milestones not recorded yet; returns those (the ones reached by this step)."""
    found = completed_milestones(ctx.completed)
    if not found:
        return []
    rows = [
        dict(rma_id=ctx.rma.id, task_id=task_id, element=element, message=message, reached_at=when)
        for task_id, element, message, when in found
    ]
    # One INSERT ... ON CONFLICT DO NOTHING RETURNING for all (no read of the known ones first): what it
    # returns is what was new. The rows are not needed as objects in the session.
    stmt = insert_ignoring(ctx.session, _MILESTONES, "rma_id", "task_id", returning="task_id")
    new = set(ctx.session.scalars(stmt, rows))
    return [Milestone(**row) for row in rows if row["task_id"] in new]


def flag_repeat_repair(session: Session, rma: Rma) -> None:
    """A unit repaired here or elsewhere within 90 days before this RMA is a repeat repair."""
    since = (rma.created_at or utcnow()) - REPEAT_WINDOW
    rma.repeat_of_id = session.scalar(_REPEAT_OF, {"serial": rma.serial_number, "rma_id": rma.id, "since": since})


def link_photos(session: Session, rma: Rma, hashes: Iterable[str], task_name: str) -> None:
    """The photos a completed form cites must be this RMA's uploads; they are marked as that task's."""
    wanted = set(hashes)
    have = set(session.scalars(select(RmaPhoto.sha256).where(RmaPhoto.rma_id == rma.id, RmaPhoto.sha256.in_(wanted))))
    if wanted - have:
        raise InvalidFormData(
            "the form cites photos that were not uploaded for this RMA",
            {"photos": ["Upload the photos for this RMA first."]},
        )
    session.execute(
        update(RmaPhoto)
        .where(RmaPhoto.rma_id == rma.id, RmaPhoto.sha256.in_(wanted))
        .values(task_name=task_name)
        .execution_options(synchronize_session=False)
    )


def sync_quotes(ctx: StepContext) -> Quote | bool:
    """A new approval task means a new quote version (older ones are void); one that went away unanswered expired.

    Returns the new quote (not flushed yet), True when a quote changed otherwise, else False."""
    s, rma = ctx.session, ctx.rma
    changed: Quote | bool = False
    leaving = ctx.status_changed and ctx.previous_status == "awaiting_approval"
    if leaving:
        open_ids = {t.id for t in ctx.ready_tasks if t.name == QUOTE_TASK}
        for quote in s.scalars(_PENDING_QUOTES, {"rma_id": rma.id}):
            if quote.status == "pending" and quote.task_id not in open_ids:  # (a decision in this step set it)
                quote.status = "expired" if ctx.data.get("approval_expired") else "void"
                quote.decided_at = utcnow()
                changed = True
                if quote.status == "expired":
                    audit(
                        s,
                        rma.id,
                        ctx.actor,
                        "quote_decided",
                        f"quote v{quote.version} expired without an answer",
                        data={
                            "approve": False,
                            "expired": True,
                            "quote_version": quote.version,
                            "quote_total": str(quote.total),
                            "currency": quote.currency,
                        },
                    )
    for task in ctx.new_tasks:
        if task.name != QUOTE_TASK:
            continue
        s.execute(_VOID_QUOTES, {"key": rma.id})
        version = (s.scalar(_LAST_QUOTE_VERSION, {"rma_id": rma.id}) or 0) + 1
        changed = Quote(
            rma_id=rma.id,
            version=version,
            task_id=task.id,
            lines=quote_lines(ctx.data, rma.currency),
            total=Decimal(str(ctx.data.get("quote_total") or 0)).quantize(Decimal("0.01")),
            currency=ctx.data.get("currency") or rma.currency,
            status="pending",
            created_at=utcnow(),
        )
        s.add(changed)
    return changed


def quote_lines(data: dict, currency: str) -> list[dict]:
    parts = Decimal(str(data.get("parts_cost") or 0))
    hours = Decimal(str(data.get("labour_hours") or 0))
    rate = Decimal(str(data.get("labour_rate") or 0))
    return [
        {"kind": "parts", "description": "Parts", "amount": str(parts.quantize(Decimal("0.01")))},
        {
            "kind": "labour",
            "description": "Labour",
            "hours": str(hours),
            "rate": str(rate),
            "amount": str((hours * rate).quantize(Decimal("0.01"))),
        },
    ]


def refuse_close_with_loan_out(session: Session, rma: Rma) -> None:
    out = session.scalar(_LOANS_OUT, {"rma_id": rma.id})
    if out:
        raise LoanOutstanding(
            f"{rma.number} cannot be closed: a loan unit is still with the customer; record its return first"
        )
