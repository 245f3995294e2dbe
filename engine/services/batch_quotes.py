"""Quotes at batch scale (issue 17, point 4): the partner approves or declines its units' quotes one by one or all
at once. Each decision is the customer's own quote decision command (engine.services.portal.record_customer_decision)
on that unit, under that unit's lock, so the customer-approval gate of each unit's process applies unchanged; "all"
is a loop of the same command over the units with a quote waiting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from engine.actors import Actor
from engine.errors import Conflict, InvalidInput, NotAllowed
from engine.services import portal
from engine.services.batches import _visible_batch
from engine.store.model import HumanTask, Quote, Rma

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

MAX_DECISIONS = 500


def _partner_units(orc: Orchestrator, actor: Actor, batch_id: int) -> dict[int, tuple[str, str, int | None]]:
    """rma id -> (number, tracking token, pending quote version) of the batch's units waiting for a decision."""
    if not actor.is_partner:
        raise NotAllowed("only the partner decides its quotes (the customer-approval gate)")
    with orc.reading() as s:
        batch = _visible_batch(s, actor, batch_id)
        rows = s.execute(
            select(Rma.id, Rma.number, Rma.tracking_token, Quote.version)
            .join(HumanTask, HumanTask.rma_id == Rma.id)
            .outerjoin(Quote, (Quote.rma_id == Rma.id) & (Quote.task_id == HumanTask.id) & (Quote.status == "pending"))
            .where(
                Rma.batch_id == batch.id,
                HumanTask.name == "customer_approval",
                HumanTask.role == "customer",
                HumanTask.status == "open",
            )
            .order_by(Rma.id)
        ).all()
    return {r[0]: (r[1] or "", r[2], r[3]) for r in rows}


def decide_quotes(
    orc: Orchestrator, actor: Actor, batch_id: int, decisions: object = None, approve_all: object = None
) -> dict:
    """`decisions` [{"rma_id", "approve", "quote_version"?}] or `approve_all` true/false for every waiting quote.
    Each unit is decided by its own command; the answer lists what was decided and what was skipped (and why)."""
    pending = _partner_units(orc, actor, batch_id)
    if approve_all is not None:
        if not isinstance(approve_all, bool) or decisions:
            raise InvalidInput("all is true or false", {"all": ["true or false, without decisions."]})
        chosen = [(rma_id, approve_all, version) for rma_id, (_, _, version) in pending.items()]
        if not chosen:
            raise Conflict("no quote of this batch is waiting for a decision")
    else:
        chosen = _chosen(decisions)
    decided, skipped = [], []
    for rma_id, approve, version in chosen:
        unit = pending.get(rma_id)
        if unit is None:
            skipped.append({"rma_id": rma_id, "reason": "no quote waiting for a decision"})
            continue
        number, token, _ = unit
        try:
            portal.record_customer_decision(orc, token, approve, quote_version=version)
        except Conflict as exc:  # decided meanwhile, or the quote changed: that unit only
            skipped.append({"rma_id": rma_id, "number": number, "reason": str(exc)})
            continue
        decided.append({"rma_id": rma_id, "number": number, "approve": approve})
    return {"decided": decided, "skipped": skipped}


def _chosen(decisions: object) -> list[tuple[int, bool, int | None]]:
    if not isinstance(decisions, list) or not decisions or len(decisions) > MAX_DECISIONS:
        raise InvalidInput("decisions are a list", {"decisions": [f"1 to {MAX_DECISIONS} decisions."]})
    out: list[tuple[int, bool, int | None]] = []
    for item in decisions:
        rma_id = item.get("rma_id") if isinstance(item, dict) else None
        approve = item.get("approve") if isinstance(item, dict) else None
        version = item.get("quote_version") if isinstance(item, dict) else None
        if isinstance(rma_id, bool) or not isinstance(rma_id, int) or not isinstance(approve, bool):
            raise InvalidInput("each decision names rma_id and approve", {"decisions": ["{rma_id, approve}."]})
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise InvalidInput("quote_version is a number", {"decisions": ["quote_version is a number."]})
        out.append((rma_id, approve, version))
    return out
