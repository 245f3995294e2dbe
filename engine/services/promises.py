"""Promises kept or broken honestly (issue 16.10): a customer whose estimate is about to be broken is told once.

The worker sweeps (engine.worker, every `SWEEP_EVERY`): an open RMA whose estimate's later date ends within
RMA_ETA_SLIP_NOTICE_HOURS (the end of that day in the centre's time zone) is estimated again from now; when the
new range ends later than the date the customer was given, in one unit of work under the instance's lock:

- the estimate row takes the new range (what the tracking page shows),
- an `eta_slipped` event (customer visible) records the date that was promised, the new range and the stage:
  the tracking page shows the slip from it,
- the customer gets the message `eta_slipped` (email, and SMS as for the milestones) with the new range and the
  stage it is in, through the outbox.

Once per slip: the new range ends later, so the RMA is not picked again until that new date is about to pass in
turn (the range moved again: a second message then, with the range after it); never twice for the same promised
date (the event is checked under the lock and the outbox key names the date). An RMA the new estimate still
finishes in time is left as it is; a closed one, one without an estimate, and an online request whose unit has not
arrived yet (`BEFORE_THE_UNIT`) are never picked.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import literal_column, select
from sqlalchemy.orm import Session

from engine.customer import customer_text, estimates, eta, notifications, slips
from engine.services import stage_tables
from engine.services.locks import lock_instance
from engine.store.audit import append_event
from engine.store.model import AuditEvent, Centre, Instance, Rma, RmaEstimate, utcnow

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

log = logging.getLogger("rma.promises")
SLIPPED = slips.SLIPPED  # its languages: slips.MESSAGES (declared there, for the deploy check without a cycle)
SWEEP_EVERY = timedelta(minutes=5)
# An online request not yet accepted, or a unit the customer has not sent yet: the centre promised nothing yet
# that it could break (the estimate then counts from intake).
BEFORE_THE_UNIT = ("requested", "awaiting_unit")
# The RMAs whose promise ends at most this long after the notice horizon in UTC (time zones run up to 14 hours
# ahead): the coarse, date-only filter of the query; each one is then checked in its centre's time zone.
_ZONES = timedelta(days=1)


def notify_slipped_promises(orc: Orchestrator, now: datetime | None = None, limit: int = 100) -> int:
    """Tell the customers whose estimate is about to be broken (once per slip); returns how many were told."""
    now = now or utcnow()
    horizon = (now + timedelta(hours=orc.settings.eta_slip_notice_hours) + _ZONES).date()
    with orc.reading() as s:
        candidates = list(
            s.scalars(
                select(Rma.id)
                .join(RmaEstimate, RmaEstimate.rma_id == Rma.id)
                .where(
                    Rma.closed_at.is_(None),
                    Rma.status.not_in(BEFORE_THE_UNIT),
                    # written out, not a parameter: the partial index ix_rma_estimates_open_latest (migration 0022)
                    # is used only where the query's own condition implies the index's
                    RmaEstimate.source != literal_column("'done'"),
                    RmaEstimate.latest <= horizon,
                )
                .order_by(RmaEstimate.latest, Rma.id)
                .limit(limit)
            )
        )
    told = 0
    for rma_id in candidates:
        try:
            told += notify_if_slipped(orc, rma_id, now)
        except Exception:  # one RMA must not stop the sweep; it is looked at again next time
            log.exception("checking the estimate of RMA %s failed", rma_id)
    return told


def promise_end(promised: date, timezone: str | None) -> datetime:
    """The end of the promised day in the centre's time zone."""
    return datetime.combine(promised + timedelta(days=1), time(), ZoneInfo(timezone or "UTC"))


def notify_if_slipped(orc: Orchestrator, rma_id: int, now: datetime | None = None) -> bool:
    """Estimate the RMA again and tell its customer when the new range ends after the promised date (a command:
    under the instance's lock, once per promised date)."""
    now = now or utcnow()
    with orc.uow() as uow:
        s = uow.session
        instance = lock_instance(s, rma_id)
        rma = s.get(Rma, rma_id)
        row = s.get(RmaEstimate, rma_id, populate_existing=True)
        if rma is None or rma.closed_at is not None or rma.status in BEFORE_THE_UNIT or row is None:
            return False
        if row.source == "done":
            return False
        centre = s.get(Centre, rma.centre_code)
        timezone = centre.timezone if centre else "UTC"
        promised = row.latest
        if promise_end(promised, timezone) - now > timedelta(hours=orc.settings.eta_slip_notice_hours):
            return False  # not about to pass yet
        if _told(s, rma_id, promised):
            return False
        stages = stage_tables.of_rma(orc, s, rma)
        data = _process_data(orc, s, instance)
        new = estimates.refresh(
            s, rma, data, now, settings=eta.EtaSettings.of(orc.settings), centre=centre, stages=stages
        )
        if new.latest <= promised:
            return False  # it will still be done in time: nothing is written (the unit of work rolls back)
        lang = customer_text.language(rma.customer_language)
        stage = slips.stage_name(stages, rma.stage, rma.status, lang)
        slip = {
            "promised": promised.isoformat(),
            "earliest": new.earliest.isoformat(),
            "latest": new.latest.isoformat(),
            "stage": rma.stage,
        }
        append_event(
            s,
            rma.id,
            "system",
            SLIPPED,
            f"estimate slipped: promised by {promised.isoformat()}, now {slip['earliest']} to {slip['latest']}"
            f" ({rma.stage or rma.status})",
            data=slip,
            customer_visible=True,
        )
        if rma.customer_email:
            _send(orc, s, rma, instance.bundle_id, data, new, centre, promised, stage)
        uow.commit()
        return True


def _told(session: Session, rma_id: int, promised: date) -> bool:
    """Whether the customer was told already that this promised date slips."""
    found = session.scalars(
        select(AuditEvent.data).where(AuditEvent.rma_id == rma_id, AuditEvent.kind == SLIPPED)
    ).all()
    return any(isinstance(d, dict) and d.get("promised") == promised.isoformat() for d in found)


def _process_data(orc: Orchestrator, session: Session, instance: Instance) -> dict:
    """The RMA's process data (warranty, fault, the customer's answer: the ways it may still go)."""
    return orc.runtime.current_data(orc.runtime.load(orc.parsed_bundle(session, instance.bundle_id), instance.state))


def _send(
    orc: Orchestrator,
    session: Session,
    rma: Rma,
    bundle_id: int,
    data: dict,
    new: RmaEstimate,
    centre: Centre | None,
    promised: date,
    stage: str,
) -> None:
    from engine.services.customers import milestone_context

    context = milestone_context(orc, session, rma, data, new, centre=centre)
    lang = customer_text.language(rma.customer_language)
    context["slip"] = {"promised": promised, "promised_text": customer_text.day(lang, promised), "stage": stage}
    templates = notifications.templates_of(orc, session, bundle_id)
    rendered = notifications.render(templates, SLIPPED, lang, context)
    if rendered is None:  # a bundle deployed before this message: the processes folder's texts
        templates = notifications.folder_templates(orc.settings.processes_dir)
        rendered = notifications.render(templates, SLIPPED, lang, context)
    if rendered is not None:
        notifications.send(session, rma, SLIPPED, promised.isoformat(), rendered)
