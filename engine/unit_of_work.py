"""One transaction per command: nothing is saved unless the service commits."""
from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from .errors import ConcurrentUpdate


class UnitOfWork:
    """`with UnitOfWork(factory) as uow: ...; uow.commit()` — leaving without commit rolls back."""

    def __init__(self, session_factory: sessionmaker):
        self._factory = session_factory
        self.session: Session | None = None

    def __enter__(self) -> "UnitOfWork":
        self.session = self._factory()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()
        if isinstance(exc, StaleDataError) or _lost_a_lock_race(exc):
            raise ConcurrentUpdate("someone else changed this RMA at the same moment; reload and try again") from exc

    def flush(self) -> None:
        try:
            self.session.flush()
        except StaleDataError as exc:
            raise ConcurrentUpdate("someone else changed this RMA at the same moment; reload and try again") from exc

    def commit(self) -> None:
        self.flush()
        self.session.commit()


# PostgreSQL's deadlock_detected and serialization_failure: the transaction lost a race and was rolled back
# whole, exactly like a failed version check, so the caller gets the same 409 and may simply try again.
_RACE_SQLSTATES = {"40P01", "40001"}


def _lost_a_lock_race(exc) -> bool:
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _RACE_SQLSTATES
