"""Staff task inbox: list, claim, unclaim and complete human tasks."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, cast

from sqlalchemy import CursorResult, Select, bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine.actors import Actor
from engine.errors import (
    NotAllowed,
    RmaNotFound,
    TaskAlreadyCompleted,
    TaskClaimedByOther,
    TaskNotFound,
    text_refusal,
)
from engine.process import forms
from engine.services import task_instructions
from engine.services.goodwill import check_four_eyes, not_own_goodwill_approval
from engine.services.instances import apply
from engine.services.rmas import _bundle_id
from engine.services.views import page_bounds, task_view
from engine.store import search
from engine.store.audit import audit
from engine.store.model import Centre, HumanTask, Instance, Rma, RmaSearchTerm, utcnow
from engine.store.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator


def _may_work(actor: Actor, task: HumanTask) -> bool:
    # A manager without a centre works the (escalation) tasks of every centre; everyone else their centre's.
    return actor.role == task.role and actor.may_see_centre(task.centre_code)


def _may_see(actor: Actor, task: HumanTask) -> bool:
    return _may_work(actor, task) or (actor.role == "manager" and actor.may_see_centre(task.centre_code))


SORTS = ("age", "due")  # oldest first (the API's default); due soonest first, tasks without a due time last


def list_tasks(
    orc: Orchestrator,
    actor: Actor,
    rma_id: int | None = None,
    mine: bool = False,
    status: str = "open",
    page: int = 1,
    per_page: int = 50,
    sort: str = "age",
    stage: str | None = None,
    q: str | None = None,
) -> dict:
    """Tasks the actor may work (managers: may see), oldest first (`sort="due"`: due soonest first).

    `stage` keeps one stage's tasks; `q` those whose RMA's number, serial number, customer name or email has a
    word starting with it (the RMA search's term index, engine.store.search) or whose product model contains it."""
    page, per_page = page_bounds(page, per_page)
    offset = (page - 1) * per_page
    search_for = (q or "").strip()
    if text_refusal(search_for) is not None or (stage and text_refusal(stage) is not None):
        # a NUL: no stage and no search term holds one (and PostgreSQL refuses it in a query)
        return {"items": [], "total": 0, "page": page, "per_page": per_page}
    page_query, count_query = _inbox_queries(
        actor.role == "manager",
        actor.role == "manager" and actor.is_global,
        rma_id is not None,
        bool(mine),
        sort == "due",
        bool(stage),
        bool(search_for),
    )
    params = {
        "status": status,
        "role": actor.role,
        "centre": actor.centre,
        "rma_id": rma_id,
        "assignee": actor.username,
        "stage": stage,
        "limit": per_page,
        "offset": offset,
    }
    if search_for:
        params |= _search_params(search_for)
    with orc.reading() as s:  # no write lock on SQLite, no transaction round trips on PostgreSQL
        rows = s.execute(page_query, params).all()
        if len(rows) < per_page and (rows or offset == 0):
            total = offset + len(rows)  # a short page is the last one: nothing left to count
        else:
            total = s.scalar(count_query, params)
        return {"items": [task_view(t, rma=r) for t, r in rows], "total": total, "page": page, "per_page": per_page}


def _search_params(q: str) -> dict:
    prefix = search.search_prefix(q)
    # only punctuation: no term starts with it (an empty range); U+10FFFF closes the range of a prefix ending in it
    low, high = search.prefix_range(prefix) if prefix else ("", "")
    escaped = q[: search.MAX_TERM].lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return {"q_low": low, "q_high": high if high is not None else low + "\U0010ffff", "q_like": f"%{escaped}%"}


@functools.cache  # statements only (128 shapes at most), executed with the values as parameters
def _inbox_queries(
    manager: bool,
    global_manager: bool,
    for_rma: bool,
    mine: bool,
    by_due: bool = False,
    for_stage: bool = False,
    searching: bool = False,
) -> tuple[Select, Select]:
    """The inbox page's SELECT and its count for one shape of filter."""
    where = _offered(manager, global_manager)
    if for_rma:
        where.append(HumanTask.rma_id == bindparam("rma_id"))
    if mine:
        where.append(HumanTask.assignee == bindparam("assignee"))
    if for_stage:
        where.append(HumanTask.stage == bindparam("stage"))
    if searching:
        terms = RmaSearchTerm.__table__.c
        matches = select(terms.rma_id).where(terms.term >= bindparam("q_low"), terms.term < bindparam("q_high"))
        where.append(
            HumanTask.rma_id.in_(matches) | func.lower(Rma.product_model).like(bindparam("q_like"), escape="\\")
        )
    order = (HumanTask.due_at.asc().nulls_last(),) if by_due else ()
    page = (
        select(HumanTask, Rma)
        .join(Rma, Rma.id == HumanTask.rma_id)
        .where(*where)
        .order_by(*order, HumanTask.created_at, HumanTask.id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    # Every task has its RMA (foreign key), so the count needs no join (an index-only scan) unless it searches models.
    count = select(func.count()).select_from(HumanTask)
    if searching:
        count = count.join(Rma, Rma.id == HumanTask.rma_id)
    return page, count.where(*where)


def _offered(manager: bool, global_manager: bool) -> list:
    """The conditions of the tasks an actor's inbox holds (parameters: status, role, centre, assignee)."""
    where = [HumanTask.status == bindparam("status")]
    if manager:
        if not global_manager:
            where.append(HumanTask.centre_code == bindparam("centre"))
        # four eyes: a goodwill approval is not offered to the manager who proposed it
        where.append(not_own_goodwill_approval(bindparam("assignee")))
    else:
        where += [HumanTask.role == bindparam("role"), HumanTask.centre_code == bindparam("centre")]
    return where


def inbox_stages(orc: Orchestrator, actor: Actor) -> list[str]:
    """The stages of the actor's open inbox tasks (the inbox's stage filter offers them)."""
    where = _offered(actor.role == "manager", actor.role == "manager" and actor.is_global)
    params = {"status": "open", "role": actor.role, "centre": actor.centre, "assignee": actor.username}
    query = select(HumanTask.stage).where(*where, HumanTask.stage.is_not(None)).distinct().order_by(HumanTask.stage)
    with orc.reading() as s:
        return [stage for stage in s.scalars(query, params) if stage]


def next_task(orc: Orchestrator, actor: Actor) -> dict | None:
    """The task the actor should work next: their own claimed one due soonest, else the unclaimed one due soonest
    that they may work (None: the inbox is done)."""
    mine = list_tasks(orc, actor, mine=True, sort="due", per_page=1)["items"]
    if mine:
        return mine[0]
    for page in range(1, 5):  # managers also see tasks of other roles; look a few pages further
        items = list_tasks(orc, actor, sort="due", page=page, per_page=50)["items"]
        for task in items:
            if task["assignee"] is None and actor.role == task["role"] and actor.may_see_centre(task["centre"]):
                return task
        if len(items) < 50:
            break
    return None


def get_task(orc: Orchestrator, actor: Actor, task_id: str) -> dict:
    with orc.reading() as s:
        task = _visible_task(s, actor, task_id)
        parsed = orc.parsed_bundle(s, _bundle_id(s, task.rma_id))
        view = task_view(task, form=parsed.form(task.form_file), rma=s.get(Rma, task.rma_id))
        return view | task_instructions.view(orc, s, parsed, task)


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
