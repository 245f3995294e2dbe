"""What a partner sees of its units: its organisation's RMAs with status, estimate and quote, and its figures
(issue 17, points 1 and 6). Managers of the organisation's centre see the same."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.errors import InvalidInput, RmaNotFound, text_refusal
from engine.services.partners import OrganisationNotFound, visible_organisation
from engine.services.views import page_bounds
from engine.store.model import Batch, Quote, Rma, RmaEstimate

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

NO_FAULT = "no_fault_found"
STATUS_MAX = 32


def unit_views(session: Session, rmas: Sequence[Rma]) -> list[dict]:
    """Each RMA as a partner sees it: status, stage, site, its reference, estimate and latest quote (three reads)."""
    ids = [r.id for r in rmas]
    estimates = {e.rma_id: e for e in session.scalars(select(RmaEstimate).where(RmaEstimate.rma_id.in_(ids)))}
    quotes: dict[int, Quote] = {}
    for q in session.scalars(select(Quote).where(Quote.rma_id.in_(ids), Quote.status != "void").order_by(Quote.id)):
        quotes[q.rma_id] = q  # the newest version wins
    batch_ids = {r.batch_id for r in rmas if r.batch_id is not None}
    batches = (
        dict(session.execute(select(Batch.id, Batch.number).where(Batch.id.in_(batch_ids))).all()) if batch_ids else {}
    )
    return [
        _unit_view(r, estimates.get(r.id), quotes.get(r.id), batches.get(r.batch_id) if r.batch_id else None)
        for r in rmas
    ]


def _unit_view(rma: Rma, estimate: RmaEstimate | None, quote: Quote | None, batch_number: str | None) -> dict:
    return {
        "rma_id": rma.id,
        "number": rma.number,
        "status": rma.status,
        "stage": rma.stage,
        "outcome": rma.outcome,
        "product_model": rma.product_model,
        "serial_number": rma.serial_number,
        "site": rma.site,
        "customer_reference": rma.customer_reference,
        "fault_description": rma.fault_description,
        "batch_id": rma.batch_id,
        "batch_number": batch_number,
        "created_at": rma.created_at,
        "closed_at": rma.closed_at,
        "estimate": (
            {"earliest": estimate.earliest, "latest": estimate.latest}
            if estimate is not None and rma.closed_at is None
            else None
        ),
        "quote": (
            {"version": quote.version, "total": quote.total, "currency": quote.currency, "status": quote.status}
            if quote is not None
            else None
        ),
    }


def _organisation_of(session: Session, actor: Actor, organisation: int | None) -> int:
    """The organisation whose RMAs are read: a partner's own; for a manager, the one named (404 if not theirs)."""
    if actor.is_partner:
        if actor.organisation is None or organisation not in (None, actor.organisation):
            raise OrganisationNotFound(f"organisation {organisation} not found")
        return actor.organisation
    if organisation is None:
        raise InvalidInput("name the organisation", {"organisation": ["Required."]})
    return visible_organisation(session, actor, organisation).id


def list_partner_rmas(
    orc: Orchestrator,
    actor: Actor,
    organisation: int | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> dict:
    """The organisation's RMAs, newest first, by the (organisation_id, id) index; filter by status."""
    page, per_page = page_bounds(page, per_page)
    if status is not None and (len(status) > STATUS_MAX or text_refusal(status)):
        raise InvalidInput("unknown status", {"status": ["Not a status."]})
    with orc.reading() as s:
        org_id = _organisation_of(s, actor, organisation)
        query = select(Rma).where(Rma.organisation_id == org_id)
        if status:
            query = query.where(Rma.status == status)
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        rows = s.scalars(query.order_by(Rma.id.desc()).limit(per_page).offset((page - 1) * per_page)).all()
        return {"items": unit_views(s, rows), "total": total, "page": page, "per_page": per_page}


def get_partner_rma(orc: Orchestrator, actor: Actor, rma_id: int, organisation: int | None = None) -> dict:
    """One of the organisation's RMAs; another organisation's (or a consumer's) is 404, as if it did not exist."""
    with orc.reading() as s:
        org_id = _organisation_of(s, actor, organisation) if organisation is not None or actor.is_partner else None
        rma = s.get(Rma, rma_id)
        if rma is None or rma.organisation_id is None or org_id not in (None, rma.organisation_id):
            raise RmaNotFound(f"RMA {rma_id} not found")
        if org_id is None:
            visible_organisation(s, actor, rma.organisation_id)
        return unit_views(s, [rma])[0]


def partner_figures(orc: Orchestrator, actor: Actor, organisation: int | None = None) -> dict:
    """Units returned (every unit the organisation sent in), how many are open, the no-fault-found rate and the
    median turnaround (days from opening to closing) of the closed ones, and its quotes awaiting an answer."""
    with orc.reading() as s:
        org_id = _organisation_of(s, actor, organisation)
        rmas = Rma.__table__.c
        returned, open_units = s.execute(
            select(func.count(), func.count().filter(rmas.closed_at.is_(None))).where(rmas.organisation_id == org_id)
        ).one()
        closed = s.execute(
            select(rmas.created_at, rmas.closed_at, rmas.outcome).where(
                rmas.organisation_id == org_id, rmas.closed_at.is_not(None)
            )
        ).all()
        open_quotes = s.scalar(
            select(func.count())
            .select_from(Quote)
            .join(Rma, Rma.id == Quote.rma_id)
            .where(Rma.organisation_id == org_id, Quote.status == "pending", Rma.closed_at.is_(None))
        )
    days = [(c - o).total_seconds() / 86400 for o, c, _ in closed if c is not None and o is not None]
    no_fault = sum(1 for *_, outcome in closed if outcome == NO_FAULT)
    return {
        "organisation": org_id,
        "units_returned": returned,
        "open_units": open_units,
        "closed_units": len(closed),
        "no_fault_found": no_fault,
        "no_fault_found_rate": round(no_fault / len(closed), 4) if closed else None,
        "median_turnaround_days": round(statistics.median(days), 1) if days else None,
        "open_quotes": open_quotes or 0,
    }
