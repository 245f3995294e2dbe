"""Operations: incidents (list, retry, cancel the RMA), undeliverable messages, the audit trail's check."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.errors import Conflict, InvalidInput, NotAllowed, NotFound, RmaNotFound
from engine.services import incidents
from engine.services.instances import apply, lock_instance
from engine.services.processes import current_bundle
from engine.services.views import page_bounds
from engine.store import outbox
from engine.store.audit import audit, verify_chain
from engine.store.model import AuditEvent, Incident, Instance, OutboxMessage, Rma, utcnow
from engine.store.outbox import MAX_ATTEMPTS

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

OPERATORS = ("manager", "process_owner")  # process owners fix the processes incidents come from
CANCELLERS = ("manager",)


class NoOpenIncident(Conflict):
    code = "no_open_incident"


class CannotMove(Conflict):
    code = "cannot_move_version"


def _require(actor: Actor, roles: tuple) -> None:
    if actor.role not in roles:
        raise NotAllowed(f"only a {' or '.join(r.replace('_', ' ') for r in roles)} may do this")


def _rma(session: Session, actor: Actor, rma_id: int) -> Rma:
    rma = session.get(Rma, rma_id)
    if rma is None or not actor.may_see_centre(rma.centre_code):
        raise RmaNotFound(f"RMA {rma_id} not found")
    return rma


def incident_view(incident: Incident, rma: Rma | None = None) -> dict:
    view = {
        "id": incident.id,
        "rma_id": incident.rma_id,
        "centre": incident.centre_code,
        "task": incident.task_name,
        "task_title": incident.task_title,
        "stage": incident.stage,
        "error": incident.error,
        "detail": incident.detail,  # what the other side answered, bounded: operators only (see _require)
        "status": incident.status,
        "status_before": incident.status_before,
        "attempts": incident.attempts,
        "opened_at": incident.opened_at,
        "last_failed_at": incident.last_failed_at,
        "resolved_at": incident.resolved_at,
        "resolved_by": incident.resolved_by,
        "resolution": incident.resolution,
    }
    if rma is not None:
        view["rma_number"] = rma.number
    return view


def list_incidents(orc: Orchestrator, actor: Actor, status: str = "open", page: int = 1, per_page: int = 50) -> dict:
    """Incidents of the centres the actor may see, newest first."""
    _require(actor, OPERATORS)
    page, per_page = page_bounds(page, per_page)
    where = [Incident.status == status]
    if not actor.is_global:
        where.append(Incident.centre_code == actor.centre)
    with orc.reading() as s:
        total = s.scalar(select(func.count()).select_from(Incident).where(*where))
        rows = s.execute(
            select(Incident, Rma)
            .join(Rma, Rma.id == Incident.rma_id)
            .where(*where)
            .order_by(Incident.opened_at.desc(), Incident.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
        return {"items": [incident_view(i, r) for i, r in rows], "total": total, "page": page, "per_page": per_page}


def retry_incident(orc: Orchestrator, actor: Actor, rma_id: int, on_current_version: bool = False) -> dict:
    """Run the failed task again; with `on_current_version`, first move the RMA to its centre's latest bundle."""
    _require(actor, OPERATORS)
    with orc.uow() as uow:
        s = uow.session
        rma = _rma(s, actor, rma_id)
        lock_instance(s, rma.id)  # before any task row, in the timer sweep's order
        incident = incidents.open_incident(s, rma.id)
        if incident is None:
            raise NoOpenIncident(f"{rma.number} has no open incident")
        if on_current_version:
            _move_to_current_version(orc, s, rma, actor)
        audit(
            s,
            rma.id,
            actor,
            "incident_retried",
            f"retry of {incident.task_name or 'the process'} (attempt {incident.attempts + 1})",
            task_name=incident.task_name,
        )
        apply(orc, s, rma, actor, orc.runtime.retry)
        uow.commit()
        return {
            "rma": {"id": rma.id, "number": rma.number, "status": rma.status, "stage": rma.stage},
            "incident": incident_view(incident, rma),
        }


def _move_to_current_version(orc: Orchestrator, session: Session, rma: Rma, actor: Actor) -> None:
    instance = session.get(Instance, rma.id)
    if instance is None:
        raise NotFound(f"RMA {rma.id} has no process instance")
    bundle = current_bundle(session, rma.centre_code)
    if bundle is None or bundle.id == instance.bundle_id:
        return
    old = orc.parsed_bundle(session, instance.bundle_id)
    workflow = orc.runtime.load(old, instance.state, instance.serializer_version)
    problems = orc.runtime.move_problems(workflow, orc.parsed_bundle(session, bundle.id))
    if problems:
        raise CannotMove(f"{rma.number} cannot continue on version {bundle.version}: {'; '.join(problems)}", problems)
    from engine.store.model import Bundle

    before = session.get(Bundle, instance.bundle_id)
    if before is None:
        raise NotFound(f"no process version with id {instance.bundle_id}")
    instance.bundle_id = bundle.id
    audit(
        session,
        rma.id,
        actor,
        "process_version_moved",
        f"moved from version {before.version} to {bundle.version}",
        data={
            "from_bundle": before.id,
            "to_bundle": bundle.id,
            "from_version": before.version,
            "to_version": bundle.version,
        },
    )


def cancel_rma(orc: Orchestrator, actor: Actor, rma_id: int, reason: str) -> dict:
    """Close an open RMA now with outcome `cancelled` (its open tasks and any incident end with it)."""
    _require(actor, CANCELLERS)
    reason = (reason or "").strip()
    if not reason or len(reason) > 2000:
        raise InvalidInput("give a reason for cancelling", {"reason": ["Required, at most 2000 characters."]})
    with orc.uow() as uow:
        s = uow.session
        rma = _rma(s, actor, rma_id)
        lock_instance(s, rma.id)  # before any task row, in the timer sweep's order
        if rma.closed_at is not None:
            raise Conflict(f"{rma.number} is already closed")
        audit(s, rma.id, actor, "rma_cancelled", f"cancelled: {reason}", data={"reason": reason})
        incidents.resolve_next_as(s, "cancelled", reason)
        apply(orc, s, rma, actor, orc.runtime.cancel)
        uow.commit()
        return {
            "id": rma.id,
            "number": rma.number,
            "status": rma.status,
            "outcome": rma.outcome,
            "closed_at": rma.closed_at,
        }


def list_undelivered(orc: Orchestrator, actor: Actor, limit: int = 100) -> list[dict]:
    """Messages the outbox gave up on after every retry (visible here, never silently dropped)."""
    _require(actor, OPERATORS)
    query = (
        select(OutboxMessage, Rma.centre_code)
        .outerjoin(Rma, Rma.id == OutboxMessage.rma_id)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.attempts >= MAX_ATTEMPTS)
    )
    if not actor.is_global:
        query = query.where(Rma.centre_code == actor.centre)
    with orc.reading() as s:
        rows = s.execute(query.order_by(OutboxMessage.id.desc()).limit(limit)).all()
        return [
            {
                "id": m.id,
                "rma_id": m.rma_id,
                "rma_number": m.rma_number,
                "centre": centre,
                "channel": m.channel,
                "recipient": m.recipient,
                "subject": m.subject,
                "attempts": m.attempts,
                "last_error": m.last_error,
                "created_at": m.created_at,
            }
            for m, centre in rows
        ]


def unsendable(orc: Orchestrator, actor: Actor) -> list[dict]:
    """Channels nothing sends on (no SMTP or SMS configured) with the unsent messages waiting on each: the
    operations page says so instead of claiming delivery."""
    _require(actor, OPERATORS)
    channels = {c: r for c in ("email", "sms") if (r := outbox.not_sent_reason(orc.settings, c)) is not None}
    if not channels:
        return []
    query = (
        select(OutboxMessage.channel, func.count())
        .outerjoin(Rma, Rma.id == OutboxMessage.rma_id)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.channel.in_(list(channels)))
        .group_by(OutboxMessage.channel)
    )
    if not actor.is_global:
        query = query.where(Rma.centre_code == actor.centre)
    with orc.reading() as s:
        waiting = {channel: count for channel, count in s.execute(query).all()}
    return [{"channel": c, "reason": r, "unsent": int(waiting.get(c, 0))} for c, r in channels.items()]


def requeue_message(orc: Orchestrator, actor: Actor, message_id: int) -> dict:
    """Give an undelivered message a fresh round of retries, starting now (audited)."""
    _require(actor, OPERATORS)
    with orc.uow() as uow:
        s = uow.session
        message = s.get(OutboxMessage, message_id)
        centre = (
            s.scalar(select(Rma.centre_code).where(Rma.id == message.rma_id)) if message and message.rma_id else None
        )
        if message is None or (not actor.is_global and centre != actor.centre):
            raise NotFound(f"message {message_id} not found")
        if message.sent_at is not None:
            raise Conflict(f"message {message_id} was delivered already")
        # guarded: only a message the outbox gave up on; of two operators requeueing it at once, one gives it
        # its fresh round and the other finds it being retried again (409)
        requeued = s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message.id,
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.attempts >= MAX_ATTEMPTS,
            )
            .values(attempts=0, next_attempt_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult, requeued).rowcount != 1:  # an UPDATE's result (Session.execute is typed for rows)
            raise Conflict(f"message {message_id} is not undelivered: it is being retried or was requeued already")
        audit(
            s,
            message.rma_id,
            actor,
            "message_requeued",
            f"{message.channel} to {message.recipient} requeued after {message.attempts} attempts",
            data={"message_id": message.id, "last_error": message.last_error},
        )
        uow.commit()
        return {"id": message.id, "attempts": 0}


def verify_audit_trail(orc: Orchestrator, number: str | None = None) -> tuple[list[dict], dict[int, str | None], int]:
    """Recompute the audit hash chains (of one RMA by its number, or all): the breaks, the numbers of the RMAs
    they are in, and how many events were checked (`rma audit verify`)."""
    with orc.uow() as uow:  # one snapshot for the whole walk (it streams the events)
        s = uow.session
        rma_id = None
        if number is not None:
            rma_id = s.scalar(select(Rma.id).where(Rma.number == number))
            if rma_id is None:
                raise RmaNotFound(f"no RMA numbered {number}")
        breaks = verify_chain(s, rma_id)
        numbers = dict(s.execute(select(Rma.id, Rma.number).where(Rma.id.in_({b["rma_id"] for b in breaks}))).all())
        counted = select(func.count(AuditEvent.id))
        events = s.scalar(counted.where(AuditEvent.rma_id == rma_id) if rma_id is not None else counted) or 0
    return breaks, numbers, events
