"""The service record: what was entered at each visit of a stage, and the context a task's worker needs.

Everything comes from the completed task rows (each keeps what was submitted, `tasks.data`), ordered by
completion: consecutive tasks of one stage form one visit of it, so a failed QA and the repair after it show as
the second visits of repair and QA. The forms are the RMA's bundle version's, for the fields' titles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.errors import TaskNotFound
from engine.services import task_instructions
from engine.services.customers import earlier_rmas, latest_quote, photo_view, photos_of, quote_view
from engine.services.register import serial_flags
from engine.services.rmas import _bundle_id, _visible_rma
from engine.services.tasks import _visible_task
from engine.services.views import task_view
from engine.store.model import HumanTask, Instance, Rma

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator
    from engine.process.definitions import ParsedBundle

INTAKE_TASK = "record_condition"
QA_TASK = "qa_check"

_COMPLETED = (
    select(HumanTask)
    .where(HumanTask.rma_id == bindparam("rma_id"), HumanTask.status == "completed")
    .order_by(HumanTask.completed_at, HumanTask.id)
)


def visits(tasks: list[dict]) -> list[dict]:
    """Completed task views in completion order -> [{stage, visit, tasks}], one per uninterrupted stay in a stage."""
    result: list[dict] = []
    count: dict[str | None, int] = {}
    for task in tasks:
        if not result or result[-1]["stage"] != task["stage"]:
            count[task["stage"]] = count.get(task["stage"], 0) + 1
            result.append({"stage": task["stage"], "visit": count[task["stage"]], "tasks": []})
        result[-1]["tasks"].append(task)
    return result


def _completed(session: Session, parsed: ParsedBundle | None, rma_id: int) -> list[dict]:
    return [
        task_view(t) | {"data": t.data, "form": parsed.form(t.form_file) if parsed is not None else None}
        for t in session.scalars(_COMPLETED, {"rma_id": rma_id})
    ]


def service_record(orc: Orchestrator, actor: Actor, rma_id: int) -> dict:
    """The RMA's visits of its stages with what each completed task submitted, who and when."""
    with orc.reading() as s:
        rma = _visible_rma(s, actor, rma_id)
        bundle_id = s.scalar(select(Instance.bundle_id).where(Instance.rma_id == rma.id))
        parsed = orc.parsed_bundle(s, bundle_id) if bundle_id is not None else None  # none yet: nothing done
        return {"currency": rma.currency, "visits": visits(_completed(s, parsed, rma.id))}


def task_page(orc: Orchestrator, actor: Actor, task_id: str) -> dict:
    """A task with its form, what it was completed with, and what its worker needs to know about the RMA."""
    with orc.reading() as s:
        task = _visible_task(s, actor, task_id)
        rma = s.get(Rma, task.rma_id)
        if rma is None:
            raise TaskNotFound(f"task {task_id} not found")
        parsed = orc.parsed_bundle(s, _bundle_id(s, rma.id))
        done = _completed(s, parsed, rma.id)
        view = task_view(task, form=parsed.form(task.form_file), rma=rma)
        view["data"] = task.data
        view["serial_flags"] = serial_flags(s, rma)  # issue 17.5: two open RMAs, another serial, not registered
        view |= task_instructions.view(orc, s, parsed, task)
        view["context"] = _context(orc, s, actor, rma, parsed, task, done)
        return view


def _context(
    orc: Orchestrator, s: Session, actor: Actor, rma: Rma, parsed: ParsedBundle, task: HumanTask, done: list[dict]
) -> dict:
    before = [t for t in done if t["completed_at"] is not None and t["completed_at"] <= task.created_at]
    intake = next((t for t in reversed(done) if t["name"] == INTAKE_TASK), None)
    qa = next((t for t in reversed(before) if t["name"] == QA_TASK), None)
    rework = qa if qa is not None and task.name != QA_TASK and (qa["data"] or {}).get("qa_passed") is False else None
    decision = next((t for t in reversed(done) if t["role"] == "customer" and "approve" in (t["data"] or {})), None)
    data = _process_data(orc, s, rma, parsed)
    return {
        "fault_description": rma.fault_description,
        "currency": rma.currency,
        "intake": intake,
        "photos": [photo_view(p) for p in photos_of(s, rma.id)],
        "warranty": {"in_warranty": rma.in_warranty, "reason": data.get("warranty_reason")},
        "diagnosis": next((t for t in reversed(done) if t["name"] == "diagnose"), None),
        "quote": quote_view(latest_quote(s, rma.id)),
        "decision": decision,
        "rework": rework,
        "earlier": earlier_rmas(s, actor, rma),
    }


def _process_data(orc: Orchestrator, s: Session, rma: Rma, parsed: ParsedBundle) -> dict:
    """The RMA's process data (the warranty decision's reason lives only there)."""
    state = s.scalar(select(Instance.state).where(Instance.rma_id == rma.id))
    if state is None:
        return {}
    return orc.runtime.current_data(orc.runtime.load(parsed, state))
