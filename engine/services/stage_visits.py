"""Stage visits: per RMA and stage, how long its human tasks stood open (the dashboard's lead time per stage).

After every step that completes a task, the RMA's visits are recomputed from its completed task rows (a
handful, read by ix_tasks_rma_id) and replace its rows in stage_visits, so the projection always equals
what grouping the task table would give. Escalation reviews (role `manager`) are not stage work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from engine.services.context import StepContext
from engine.store.model import HumanTask, StageVisit

_T = HumanTask.__table__.c
_COMPLETED = select(_T.centre_code, _T.stage, _T.created_at, _T.completed_at).where(
    _T.rma_id == bindparam("rma_id"), _T.status == "completed", _T.role != "manager", _T.completed_at.is_not(None)
)
_DELETE = delete(StageVisit.__table__).where(StageVisit.__table__.c.rma_id == bindparam("rma_id"))
_INSERT = insert(StageVisit.__table__)


def visits(rma_id: int, tasks: Iterable[Sequence[Any]]) -> list[dict]:
    """Rows of stage_visits from (centre_code, stage, created_at, completed_at) of completed tasks (aware UTC)."""
    found: dict = {}
    for centre, stage, created, completed in tasks:
        visit = found.setdefault(
            (centre, stage),
            {"rma_id": rma_id, "centre_code": centre, "stage": stage, "done_at": completed, "seconds": 0.0},
        )
        visit["seconds"] += (completed - created).total_seconds()
        visit["done_at"] = max(visit["done_at"], completed)
    for visit in found.values():
        visit["month"] = visit["done_at"].astimezone(UTC).strftime("%Y-%m")
    return list(found.values())


def refresh(session: Session, rma_id: int) -> None:
    rows = visits(rma_id, session.execute(_COMPLETED, {"rma_id": rma_id}).all())
    session.execute(_DELETE, {"rma_id": rma_id})
    if rows:
        session.execute(_INSERT, rows)


def record_stage_visits(ctx: StepContext) -> None:
    """A completed task adds its time to its stage visit (engine.store.model.StageVisit)."""
    if ctx.completed_task is not None:
        refresh(ctx.session, ctx.rma.id)
