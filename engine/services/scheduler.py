"""Due timers: one indexed query finds them; each instance fires in its own locked unit of work.

Exactly once across any number of workers: on PostgreSQL a worker takes the earliest due instance
with `FOR UPDATE SKIP LOCKED` (others skip it and take the next), fires it, and commits the new state
whose `next_timer_at` no longer matches; on SQLite `BEGIN IMMEDIATE` serialises the writers. The
instance's version counter is the second guard: a stale write fails instead of firing twice.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.errors import RmaNotFound
from engine.execution.runtime import CommandRolledBack
from engine.services import incidents
from engine.services.instances import apply
from engine.store.audit import audit
from engine.store.model import Instance, Rma, utcnow
from engine.store.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

log = logging.getLogger("rma.scheduler")
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
RETRY_LATER = timedelta(seconds=30)


def _next_due(session: Session, now: datetime, skip_locked: bool) -> Instance | None:
    query = (
        select(Instance)
        .where(Instance.next_timer_at <= now, Instance.completed.is_(False))
        .order_by(Instance.next_timer_at)
        .limit(1)
    )
    if skip_locked:
        # Several workers may sweep at once: each takes a different row, and a row whose
        # timer another worker just fired no longer matches once that worker commits.
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).first()


def fire_due_timers(orc: Orchestrator, now: datetime | None = None, limit: int = 100) -> int:
    """Fire the timers due by `now` (default: the wall clock), at most `limit` instances; returns how many."""
    fired = 0
    skip_locked = orc.db.dialect.name == "postgresql"
    for _ in range(limit):
        with orc.uow() as uow:
            instance = _next_due(uow.session, now or utcnow(), skip_locked)
            if instance is None:
                break
            rma_id, due = instance.rma_id, instance.next_timer_at
            assert due is not None  # the query selects only instances with a timer due
            try:
                _fire(orc, uow, instance, due)
            except CommandRolledBack as exc:
                # expected (a timer's branch ran away, or the engine could not run it): `apply` rolled it back
                # and the RMA waits in an incident with its timers paused; one line, the next RMA goes on
                log.warning("the timers of RMA %s were rolled back into an incident: %s", rma_id, exc.message)
            except Exception as exc:  # not the process's own failure (that is an incident already): a bug,
                log.exception("firing the timers of RMA %s failed", rma_id)  # a lost connection...
                uow.session.rollback()
                _park(orc, rma_id, due, exc)
        fired += 1
    return fired


def _fire(orc: Orchestrator, uow: UnitOfWork, instance: Instance, due: datetime) -> None:
    s = uow.session
    actor = Actor.system()
    rma = s.get(Rma, instance.rma_id)
    if rma is None:
        raise RmaNotFound(f"RMA {instance.rma_id} not found")
    fired_names = apply(orc, s, rma, actor, orc.runtime.fire_due_timers)
    if fired_names:
        audit(
            s,
            rma.id,
            actor,
            "timer_fired",
            f"timer fired: {', '.join(fired_names)}",
            data={"due": due.isoformat(), "events": fired_names, "worker": WORKER_ID},
        )
    if instance.next_timer_at is not None and instance.next_timer_at <= due:
        # SpiffWorkflow's clock does not consider it due yet: look again later, not in a loop.
        instance.next_timer_at = max(due, utcnow()) + RETRY_LATER
    uow.commit()


def _park(orc: Orchestrator, rma_id: int, due: datetime, exc: Exception) -> None:
    """An instance whose timers cannot be fired must not block the sweep: it becomes an incident."""
    with orc.uow() as uow:
        s = uow.session
        instance, rma = s.get(Instance, rma_id), s.get(Rma, rma_id)
        if instance is None or rma is None or instance.next_timer_at != due:
            return  # someone else dealt with it meanwhile
        instance.next_timer_at = None
        settled = incidents.settled_status(s, rma)
        was_incident = rma.status == incidents.INCIDENT
        rma.status = incidents.INCIDENT
        incidents.record(s, rma, "system", was_incident, settled, [], exc)
        uow.commit()
