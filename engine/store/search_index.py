"""Keep each RMA's search terms (engine.store.search) in step with its fields, in the command's transaction.

The unit of work calls `index_changes` when a command commits: RMAs created in the command get their terms,
and RMAs whose number, serial, customer name or e-mail, or centre changed get theirs replaced.
"""

from __future__ import annotations

from sqlalchemy import inspect

from engine.store import search
from engine.store.model import Rma, RmaSearchTerm

SEARCH_FIELDS = ("number", "serial_number", "customer_name", "customer_email")
_TERMS = RmaSearchTerm.__table__


def rma_search_rows(rma_id: int, centre_code: str, number, serial_number, customer_name, customer_email) -> list[dict]:
    return [
        {"rma_id": rma_id, "term": term, "centre_code": centre_code}
        for term in sorted(search.terms_for(number, serial_number, customer_name, customer_email))
    ]


def index_rma(session, rma: Rma, new: bool = False) -> None:
    """Write `rma`'s terms, replacing those it had; `new`: it has none yet (no DELETE first)."""
    if not new:
        session.execute(_TERMS.delete().where(_TERMS.c.rma_id == rma.id))
    rows = rma_search_rows(rma.id, rma.centre_code, *(getattr(rma, f) for f in SEARCH_FIELDS))
    if rows:
        session.execute(_TERMS.insert(), rows)


def index_changes(session, created) -> None:
    """Index the RMAs `created` in this transaction (and any still pending) and re-index the changed ones."""
    pending = [obj for obj in session.new if isinstance(obj, Rma)]
    if pending:
        session.flush()  # their ids
    fresh = set(created).union(pending)
    changed = [obj for obj in session.dirty if isinstance(obj, Rma) and obj not in fresh and _fields_changed(obj)]
    for rma in fresh:
        index_rma(session, rma, new=True)
    for rma in changed:
        index_rma(session, rma)


def _fields_changed(rma: Rma) -> bool:
    state = inspect(rma)
    return any(state.attrs[f].history.has_changes() for f in SEARCH_FIELDS + ("centre_code",))
