"""Load an instance, let the runtime apply a command, and refresh every projection in the same unit of work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.errors import NotFound, ProcessScriptError
from engine.execution.runtime import CommandRolledBack, ReadyTask, instance_status
from engine.services import incidents, reactions
from engine.services.context import StepContext
from engine.services.locks import lock_instance as lock_instance  # the commands import it from here
from engine.store.audit import audit
from engine.store.model import Bundle, HumanTask, Instance, Rma, utcnow

if TYPE_CHECKING:
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

    from engine.orchestrator import Orchestrator

_T = TypeVar("_T")


def _instance(instance: Instance | None, rma_id: int) -> Instance:
    if instance is None:
        raise NotFound(f"RMA {rma_id} has no process instance")
    return instance


def save_new(
    orc: Orchestrator, session: Session, rma: Rma, bundle: Bundle, workflow: BpmnWorkflow, actor: Actor
) -> None:
    """Store a freshly started instance and its projections (in incident when a script failed as it started)."""
    instance = Instance(
        rma_id=rma.id, bundle_id=bundle.id, serializer_version=orc.runtime.serializer_version, state=b"", version=1
    )
    session.add(instance)
    with session.no_autoflush:
        failure = getattr(workflow, "failure", None)
        _project(orc, session, rma, instance, workflow, actor, opened=True, failure=failure)
    orc.instances.stage(session, instance, workflow)


def apply(
    orc: Orchestrator,
    session: Session,
    rma: Rma,
    actor: Actor,
    command: Callable[[BpmnWorkflow], _T],
    completed_task: str | None = None,
) -> _T | None:
    """Load the RMA's workflow, run `command(workflow)`, save state and projections (version-checked).

    Returns what the command returned, None when it failed with an incident. A command that went over its
    budget (CommandRolledBack) keeps nothing: the transaction is rolled back, the half-run workflow is
    dropped, the RMA goes to incident at its last committed state in a unit of work of its own, and the
    error is raised on to the caller."""
    # No autoflush: the pending audit rows, state and projections go out in the one flush at commit.
    with session.no_autoflush:
        instance = _instance(session.get(Instance, rma.id), rma.id)
        parsed = orc.parsed_bundle(session, instance.bundle_id)
        workflow = orc.instances.take(rma.id, instance.version, parsed)
        if workflow is None:
            workflow = orc.runtime.load(parsed, instance.state, instance.serializer_version)
        result: _T | None
        failure: ProcessScriptError | None
        try:
            result, failure = command(workflow), None
        except CommandRolledBack as exc:
            _roll_back(orc, session, rma.id, actor, exc)
            raise
        except ProcessScriptError as exc:
            # An incident (engine.services.incidents): the command's own effects are kept, the failed task waits.
            result, failure = None, exc
        _project(orc, session, rma, instance, workflow, actor, completed_task=completed_task, failure=failure)
    orc.instances.stage(session, instance, workflow)
    return result


def _roll_back(orc: Orchestrator, session: Session, rma_id: int, actor: Actor, failure: CommandRolledBack) -> None:
    """Undo everything the command did (its workflow was taken out of the instance cache and is never put
    back), then open the RMA's incident on what was last committed (its lock released meanwhile)."""
    session.rollback()
    orc.instances.discard(session)
    with orc.uow() as uow:
        incidents.open_after_rollback(uow.session, rma_id, actor.username, failure)
        uow.commit()


def _project(
    orc: Orchestrator,
    session: Session,
    rma: Rma,
    instance: Instance,
    workflow: BpmnWorkflow,
    actor: Actor,
    completed_task: str | None = None,
    opened: bool = False,
    failure: ProcessScriptError | None = None,
) -> None:
    now = utcnow()
    runtime = orc.runtime
    snapshot = runtime.snapshot(workflow)  # one walk of the task tree for everything below and the reactions
    ready, failed = snapshot.ready, snapshot.failed
    in_incident = bool(failed) or failure is not None
    completed = workflow.is_completed() and not in_incident
    instance.state = runtime.dump(workflow)
    instance.completed = completed
    # an instance in incident has its timers paused until it is retried (no sweep fails it in a loop)
    instance.next_timer_at = None if in_incident else runtime.next_timer_at(workflow)
    new_tasks, open_since = _sync_tasks(session, rma, ready, now, new_instance=opened)

    data = runtime.current_data(workflow, snapshot)
    previous = rma.status
    settled = incidents.settled_status(session, rma)  # the status before an open incident
    rma.status = (
        incidents.INCIDENT if in_incident else instance_status(runtime, workflow, ready, settled, snapshot.waiting)
    )
    # no human task open: the stage of the event it waits on (a batch unit's parcel, in `inbound`), else as it was
    rma.stage = ready[0].stage if ready else (None if completed else runtime.waiting_stage(snapshot) or rma.stage)
    quote_total = data.get("quote_total")
    if isinstance(quote_total, (int, float, Decimal)) and not isinstance(quote_total, bool) and _finite(quote_total):
        rma.quote_total = Decimal(str(quote_total))
    if "in_warranty" in data:
        rma.in_warranty = bool(data["in_warranty"])
    rma.updated_at = now
    if rma.status != settled and not in_incident:  # incidents are audited as such, not shown to customers
        audit(
            session,
            rma.id,
            actor,
            "status_changed",
            f"{settled} → {rma.status}",
            data={"from": settled, "to": rma.status},
        )
    incidents.record(session, rma, actor.username, previous == incidents.INCIDENT, settled, failed, failure)
    closed = completed and rma.closed_at is None
    if closed:
        rma.outcome = data.get("outcome")
        rma.closed_at = now
        audit(session, rma.id, actor, "rma_closed", f"closed: {rma.outcome or 'done'}", data={"outcome": rma.outcome})
    reactions.run(
        StepContext(
            orc,
            session,
            rma,
            data,
            actor,
            previous,
            ready_tasks=ready,
            new_tasks=new_tasks,
            completed_task=completed_task,
            closed=closed,
            opened=opened,
            open_since=open_since,
            completed_elements=lambda: runtime.completed_elements(snapshot),
            bundle_id=instance.bundle_id,
        )
    )


def _finite(number: int | float | Decimal) -> bool:
    return Decimal(str(number)).is_finite() if not isinstance(number, int) else True


# Built once: executing a prepared statement with parameters skips rebuilding it and its cache key.
_TASKS = HumanTask.__table__
_OPEN_TASKS = select(_TASKS.c.id, _TASKS.c.created_at).where(
    _TASKS.c.rma_id == bindparam("rma_id"), _TASKS.c.status == "open"
)
_INSERT_TASK = insert(_TASKS)


def _sync_tasks(
    session: Session, rma: Rma, ready: list[ReadyTask], now: datetime, new_instance: bool = False
) -> tuple[list[ReadyTask], datetime | None]:
    """Open rows for new ready tasks; rows whose task is no longer ready (e.g. cancelled by an event) close.

    Returns the new tasks and when the oldest task row still open was created (None when none is open).
    `new_instance`: the instance was just started, so it has no task rows to read."""
    opened_at = {} if new_instance else dict(session.execute(_OPEN_TASKS, {"rma_id": rma.id}).all())
    ready_ids = {t.id for t in ready}
    gone = opened_at.keys() - ready_ids
    if gone:
        session.execute(
            update(HumanTask)
            .where(HumanTask.id.in_(gone), HumanTask.status == "open")
            .values(status="cancelled", completed_at=now)
        )
    new_tasks = [task for task in ready if task.id not in opened_at]
    new_rows = [
        dict(
            id=task.id,
            rma_id=rma.id,
            name=task.name,
            title=task.title,
            lane=task.lane,
            role=task.role,
            centre_code=rma.centre_code,
            stage=task.stage,
            form_file=task.form_file,
            status="open",
            created_at=now,
            due_at=task.due_at,
        )
        for task in new_tasks
    ]
    if new_rows:  # a plain INSERT: nothing needs them as objects in this session
        session.execute(_INSERT_TASK, new_rows)
    still_open = [created for task_id, created in opened_at.items() if task_id in ready_ids and created is not None]
    if new_rows:
        still_open.append(now)
    return new_tasks, min(still_open, default=None)
