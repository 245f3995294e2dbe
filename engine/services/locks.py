"""The lock a command that changes an RMA takes first: its instance's row, with the RMA read again under it.

Its own module (re-exported by engine.services.instances) so that the services the instance's reactions
import, such as the loans, can take it too without an import cycle.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.store.model import Instance, Rma


def lock_instance(session: Session, rma_id: int) -> Instance:
    """Take the instance's row lock first, before any task row (on PostgreSQL; SQLite has one writer anyway).

    Every writer of an RMA locks in the same order as the timer sweep (instance, then its task rows), so a
    customer's answer or a task completion racing the sweep waits for it instead of deadlocking with it.
    The RMA (and the instance) are then read again, under the lock: a command that read the RMA before
    waiting sees what the one it waited for committed (twenty cancels at once: one cancels, nineteen find it
    closed), never the state from before it waited.
    """
    instance = session.get(Instance, rma_id, with_for_update=True, populate_existing=True)
    session.get(Rma, rma_id, populate_existing=True)
    if instance is None:
        raise NotFound(f"RMA {rma_id} has no process instance")
    return instance
