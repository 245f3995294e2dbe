"""One transaction per command: nothing is saved unless the service commits.

The unit of work owns what every command does at its end, in this order: index the search terms of the RMAs
it created or changed (`engine.store.search_index`), flush the command's writes (row locks and version
checks first), chain and insert its audit events (`engine.store.audit`), commit, and only then hand the
workflows it staged to the instance cache (`engine.store.instance_cache`). Leaving
without a commit rolls everything back and forgets what was staged.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from engine.errors import ConcurrentUpdate
from engine.store import audit, search_index
from engine.store.model import Rma


class UnitOfWork:
    """`with orc.uow() as uow: ...; uow.commit()` — leaving without commit rolls back."""

    def __init__(self, session_factory: sessionmaker, instances=None):
        self._factory = session_factory
        self._instances = instances  # engine.store.instance_cache.InstanceCache, or None
        self.session: Session = None  # type: ignore[assignment]  # opened by __enter__
        self._created: list[Rma] = []  # RMAs inserted by an explicit flush (their search terms are written at commit)

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.session.rollback()
            if self._instances is not None:
                self._instances.discard(self.session)
        finally:
            self.session.close()
        if isinstance(exc, StaleDataError) or _lost_a_lock_race(exc):
            raise ConcurrentUpdate("someone else changed this RMA at the same moment; reload and try again") from exc

    def flush(self) -> None:
        self._created += [obj for obj in self.session.new if isinstance(obj, Rma)]
        try:
            self.session.flush()
        except StaleDataError as exc:
            raise ConcurrentUpdate("someone else changed this RMA at the same moment; reload and try again") from exc

    def commit(self) -> None:
        search_index.index_changes(self.session, self._created)
        self.flush()
        audit.write_pending(self.session)  # last: the chain head is read under the transaction's last lock
        self.session.commit()
        if self._instances is not None:
            self._instances.committed(self.session)


# PostgreSQL's deadlock_detected and serialization_failure: the transaction lost a race and was rolled back
# whole, exactly like a failed version check, so the caller gets the same 409 and may simply try again.
_RACE_SQLSTATES = {"40P01", "40001"}


def _lost_a_lock_race(exc) -> bool:
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _RACE_SQLSTATES
