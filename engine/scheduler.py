"""Due timers: one indexed query finds them; each instance fires in its own locked unit of work."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from .actors import Actor
from .model import Instance, Rma, utcnow
from .services.instances import apply, audit


def _next_due(session, now: datetime, skip_locked: bool):
    query = (select(Instance).where(Instance.next_timer_at <= now, Instance.completed.is_(False))
             .order_by(Instance.next_timer_at).limit(1))
    if skip_locked:
        # Several workers may sweep at once: each takes a different row, and a row whose
        # timer another worker just fired no longer matches once that worker commits.
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).first()


def fire_due_timers(orc, now: datetime | None = None, limit: int = 100) -> int:
    """Fire the timers due by `now` (default: the wall clock), at most `limit` instances; returns how many."""
    fired = 0
    actor = Actor.system()
    skip_locked = orc.db.dialect.name == "postgresql"
    for _ in range(limit):
        with orc.uow() as uow:
            s = uow.session
            instance = _next_due(s, now or utcnow(), skip_locked)
            if instance is None:
                break
            rma = s.get(Rma, instance.rma_id)
            due = instance.next_timer_at

            fired_names = apply(orc, s, rma, actor, orc.runtime.fire_due_timers)
            if fired_names:
                audit(s, rma.id, actor, "timer_fired", f"timer fired: {', '.join(fired_names)}",
                      data={"due": due.isoformat(), "events": fired_names})
            if instance.next_timer_at is not None and instance.next_timer_at <= due:
                # SpiffWorkflow's clock does not consider it due yet: look again later, not in a loop.
                instance.next_timer_at = max(due, utcnow()) + timedelta(seconds=30)
            uow.commit()
            fired += 1
    return fired

