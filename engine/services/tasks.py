"""Staff task inbox: list, claim, unclaim and complete human tasks."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, cast

from sqlalchemy import CursorResult, Select, bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine.actors import Actor
from engine.errors import NotAllowed, RmaNotFound, TaskAlreadyCompleted, TaskClaimedByOther, TaskNotFound
from engine.process import forms
from engine.services.goodwill import check_four_eyes, not_own_goodwill_approval
from engine.services.instances import apply
from engine.services.rmas import _bundle_id
from engine.services.views import page_bounds, task_view
from engine.store.audit import audit
from engine.store.model import Centre, HumanTask, Instance, Rma, utcnow
from engine.store.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator


def _may_work(actor: Actor, task: HumanTask) -> bool:
    # A manager without a centre works the (escalation) tasks of every centre; everyone else their centre's.
    return actor.role == task.role and actor.may_see_centre(task.centre_code)


def _may_see(actor: Actor, task: HumanTask) -> bool:
    return _may_work(actor, task) or (actor.role == "manager" and actor.may_see_centre(task.centre_code))


def list_tasks(
    orc: Orchestrator,
    actor: Actor,
    rma_id: int | None = None,
    mine: bool = False,
    status: str = "open",
    page: int = 1,
    per_page: int = 50,
) -> dict:
    """Tasks the actor may work (managers: may see), oldest first."""
    page, per_page = page_bounds(page, per_page)
    offset = (page - 1) * per_page
    page_query, count_query = _inbox_queries(
        actor.role == "manager", actor.role == "manager" and actor.is_global, rma_id is not None, bool(mine)
    )
    params = {
        "status": status,
        "role": actor.role,
        "centre": actor.centre,
        "rma_id": rma_id,
        "assignee": actor.username,
        "limit": per_page,
        "offset": offset,
    }
    with orc.reading() as s:  # no write lock on SQLite, no transaction round trips on PostgreSQL
        rows = s.execute(page_query, params).all()
        if len(rows) < per_page and (rows or offset == 0):
            total = offset + len(rows)  # a short page is the last one: nothing left to count
        else:
            total = s.scalar(count_query, params)
        return {"items": [task_view(t, rma=r) for t, r in rows], "total": total, "page": page, "per_page": per_page}


@functools.cache  # statements only (16 shapes at most), executed with the values as parameters
def _inbox_queries(manager: bool, global_manager: bool, for_rma: bool, mine: bool) -> tuple[Select, Select]:
    """The inbox page's SELECT and its count for one shape of filter."""
    where = [HumanTask.status == bindparam("status")]
    if manager:
        if not global_manager:
            where.append(HumanTask.centre_code == bindparam("centre"))
    else:
        where += [HumanTask.role == bindparam("role"), HumanTask.centre_code == bindparam("centre")]
    if for_rma:
        where.append(HumanTask.rma_id == bindparam("rma_id"))
    if mine:
        where.append(HumanTask.assignee == bindparam("assignee"))
    if manager:  # four eyes: a goodwill approval is not offered to the manager who proposed it
        where.append(not_own_goodwill_approval(bindparam("assignee")))
    page = (
        select(HumanTask, Rma)
        .join(Rma, Rma.id == HumanTask.rma_id)
        .where(*where)
        .order_by(HumanTask.created_at, HumanTask.id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    # Every task has its RMA (foreign key), so the count needs no join: an index-only scan.
    count = select(func.count()).select_from(HumanTask).where(*where)
    return page, count


def get_task(orc: Orchestrator, actor: Actor, task_id: str) -> dict:
    with orc.reading() as s:
        task = _visible_task(s, actor, task_id)
        return task_view(task, form=_form_of(orc, s, task), rma=s.get(Rma, task.rma_id))


def _visible_task(session: Session, actor: Actor, task_id: str) -> HumanTask:
    task = session.get(HumanTask, task_id)
    if task is None or not (_may_see(actor, task) or actor.may_see_centre(task.centre_code)):
        raise TaskNotFound(f"task {task_id} not found")
    return task


def _form_of(orc: Orchestrator, session: Session, task: HumanTask) -> dict | None:
    return orc.parsed_bundle(session, _bundle_id(session, task.rma_id)).form(task.form_file)


def _workable_task(session: Session, actor: Actor, task_id: str) -> HumanTask:
    # Acting on a task of another role or centre is 403, not 404 (the API contract); task ids are
    # random UUIDs, so this reveals nothing guessable. Reading such a task stays 404 (_visible_task).
    task = session.get(HumanTask, task_id)
    if task is None:
        raise TaskNotFound(f"task {task_id} not found")
    if not _may_work(actor, task):
        raise NotAllowed(f"task '{task.name}' is for role {task.role} at centre {task.centre_code}")
    check_four_eyes(session, actor, task.rma_id, task.name)
    if task.status != "open":
        raise TaskAlreadyCompleted(f"task '{task.name}' is already {task.status}")
    return task


def claim_task(orc: Orchestrator, actor: Actor, task_id: str) -> dict:
    """Take a task; exactly one of two people claiming at once wins, the other gets 409."""
    with orc.uow() as uow:
        s = uow.session
        task = _workable_task(s, actor, task_id)
        result = s.execute(
            update(HumanTask)
            .where(HumanTask.id == task_id, HumanTask.status == "open", HumanTask.assignee.is_(None))
            .values(assignee=actor.username)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult, result).rowcount != 1:  # an UPDATE's result (Session.execute is typed for rows)
            s.refresh(task)
            if task.status != "open":
                raise TaskAlreadyCompleted(f"task '{task.name}' is already {task.status}")
            if task.assignee == actor.username:  # claimed again by its holder (a double click): the same answer
                return task_view(task)
            raise TaskClaimedByOther(f"task '{task.name}' is claimed by {task.assignee}")
        audit(s, task.rma_id, actor, "task_claimed", f"{task.title} claimed", task_name=task.name)
        uow.commit()
        s.refresh(task)
        return task_view(task)


def unclaim_task(orc: Orchestrator, actor: Actor, task_id: str) -> dict:
    with orc.uow() as uow:
        s = uow.session
        task = _workable_task(s, actor, task_id)
        if task.assignee not in (None, actor.username):
            raise TaskClaimedByOther(f"task '{task.name}' is claimed by {task.assignee}")
        result = s.execute(
            update(HumanTask)
            .where(
                HumanTask.id == task_id,
                HumanTask.status == "open",
                HumanTask.assignee == actor.username,
            )
            .values(assignee=None)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult, result).rowcount == 1:  # an UPDATE's result (Session.execute is typed for rows)
            audit(s, task.rma_id, actor, "task_unclaimed", f"{task.title} released", task_name=task.name)
        uow.commit()
        s.refresh(task)
        return task_view(task)


def complete_task(orc: Orchestrator, actor: Actor, task_id: str, data: dict) -> dict:
    """Validate the form data, complete the task and run the process until it waits again."""
    with orc.uow() as uow:
        s = uow.session
        # The task, its RMA, its instance and the RMA's centre in one SELECT: the lookups below, in apply()
        # and in the reactions after the step (the estimate, the messages) then find them in the session instead of
        # querying one by one (`found` keeps them referenced).
        found = s.execute(_TASK_RMA_INSTANCE, {"task_id": task_id}).first()
        if found is None:
            raise TaskNotFound(f"task {task_id} not found")
        task = _workable_task(s, actor, task_id)
        if task.assignee not in (None, actor.username):
            raise TaskClaimedByOther(f"task '{task.name}' is claimed by {task.assignee}")
        instance = found[2]  # the task's instance row, locked by the SELECT above
        clean = forms.validate_submission(orc.parsed_bundle(s, instance.bundle_id).form(task.form_file), data)
        return _complete(orc, uow, actor, task, clean)


# Built once: executing a prepared statement with parameters skips rebuilding it and its cache key.
_TASK_RMA_INSTANCE = (
    select(HumanTask, Rma, Instance, Centre)
    .join(Rma, Rma.id == HumanTask.rma_id)
    .join(Instance, Instance.rma_id == HumanTask.rma_id)
    .outerjoin(Centre, Centre.code == Rma.centre_code)
    .where(HumanTask.id == bindparam("task_id"))
    # the instance row locked before the task row, in the timer sweep's order (no deadlock)
    .with_for_update(of=Instance)
)
_TASKS = HumanTask.__table__
_COMPLETE_OPEN_TASK = update(_TASKS).where(_TASKS.c.id == bindparam("task_id"), _TASKS.c.status == "open")


def _complete(orc: Orchestrator, uow: UnitOfWork, actor: Actor, task: HumanTask, clean: dict) -> dict:
    s = uow.session
    # The guarded update takes the row: a concurrent completion of the same task finds it no
    # longer open (or fails the instance's version check), so exactly one of them commits.
    # A Core UPDATE on the table (the ORM's bulk-update machinery costs more than the statement);
    # the loaded `task` then takes the same values, as a refresh would have given it.
    values = {
        "status": "completed",
        "completed_by": actor.username,
        "completed_at": utcnow(),
        "assignee": task.assignee or actor.username,
        "data": clean,
    }
    result = s.execute(_COMPLETE_OPEN_TASK, {"task_id": task.id, **values})
    if cast(CursorResult, result).rowcount != 1:  # an UPDATE's result (Session.execute is typed for rows)
        raise TaskAlreadyCompleted(f"task '{task.name}' is no longer open")
    for key, value in values.items():
        set_committed_value(task, key, value)
    rma = s.get(Rma, task.rma_id)
    if rma is None:
        raise RmaNotFound(f"RMA {task.rma_id} not found")
    audit(s, rma.id, actor, "task_completed", f"{task.title} completed", task_name=task.name, data=clean)
    apply(orc, s, rma, actor, lambda wf: orc.runtime.complete(wf, task.id, clean), completed_task=task.name)
    uow.commit()
    return {
        "task": task_view(task),
        "rma": {"id": rma.id, "number": rma.number, "status": rma.status, "stage": rma.stage, "outcome": rma.outcome},
    }
