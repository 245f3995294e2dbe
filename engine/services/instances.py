"""Load an instance, let the runtime apply a command, and refresh every projection in the same unit of work."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from ..actors import Actor
from ..model import AuditEvent, HumanTask, Instance, Rma, utcnow
from ..runtime import ReadyTask, instance_status

CUSTOMER_VISIBLE = {"rma_opened", "status_changed", "quote_decided", "rma_closed"}


def audit(session, rma_id: int | None, actor: Actor | str, kind: str, detail: str = "",
          task_name: str | None = None, data: dict | None = None) -> None:
    """Append one audit event (the trail is append-only: nothing updates or deletes it)."""
    session.add(AuditEvent(rma_id=rma_id, at=utcnow(), actor=actor if isinstance(actor, str) else actor.username,
                           kind=kind, task_name=task_name, detail=detail, data=data,
                           customer_visible=kind in CUSTOMER_VISIBLE))


def save_new(orc, session, rma: Rma, bundle, workflow, actor: Actor) -> None:
    """Store a freshly started instance and its projections."""
    instance = Instance(rma_id=rma.id, bundle_id=bundle.id, serializer_version=orc.runtime.serializer_version,
                        state=b"", version=1)
    session.add(instance)
    _project(orc, session, rma, instance, workflow, actor)


def apply(orc, session, rma: Rma, actor: Actor, command):
    """Load the RMA's workflow, run `command(workflow)`, save state and projections (version-checked)."""
    instance = session.get(Instance, rma.id)
    parsed = orc.parsed_bundle(session, instance.bundle_id)
    workflow = orc.runtime.load(parsed, instance.state)
    result = command(workflow)
    _project(orc, session, rma, instance, workflow, actor)
    return result


def _project(orc, session, rma: Rma, instance: Instance, workflow, actor: Actor) -> None:
    now = utcnow()
    runtime = orc.runtime
    ready = runtime.ready_tasks(workflow)
    instance.state = runtime.dump(workflow)
    instance.completed = workflow.is_completed()
    instance.next_timer_at = runtime.next_timer_at(workflow)
    _sync_tasks(session, rma, ready, now)

    data = runtime.current_data(workflow)
    previous = rma.status
    rma.status = instance_status(runtime, workflow, ready, previous)
    rma.stage = ready[0].stage if ready else (None if workflow.is_completed() else rma.stage)
    if "quote_total" in data and data["quote_total"] is not None:
        rma.quote_total = Decimal(str(data["quote_total"]))
    if "in_warranty" in data:
        rma.in_warranty = bool(data["in_warranty"])
    rma.updated_at = now
    if rma.status != previous:
        audit(session, rma.id, actor, "status_changed", f"{previous} → {rma.status}",
              data={"from": previous, "to": rma.status})
    if workflow.is_completed() and rma.closed_at is None:
        rma.outcome = data.get("outcome")
        rma.closed_at = now
        audit(session, rma.id, actor, "rma_closed", f"closed: {rma.outcome or 'done'}", data={"outcome": rma.outcome})


def _sync_tasks(session, rma: Rma, ready: list[ReadyTask], now) -> None:
    """Open rows for new ready tasks; rows whose task is no longer ready (e.g. cancelled by an event) close."""
    open_rows = {t.id: t for t in session.scalars(
        select(HumanTask).where(HumanTask.rma_id == rma.id, HumanTask.status == "open"))}
    ready_ids = {t.id for t in ready}
    for task_id, row in open_rows.items():
        if task_id not in ready_ids:
            row.status, row.completed_at = "cancelled", now
    for task in ready:
        if task.id in open_rows:
            continue
        session.add(HumanTask(id=task.id, rma_id=rma.id, name=task.name, title=task.title, lane=task.lane,
                              role=task.role, centre_code=rma.centre_code, stage=task.stage,
                              form_file=task.form_file, status="open", created_at=now))
