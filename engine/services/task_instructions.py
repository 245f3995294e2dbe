"""The instructions of a task (`spiffworkflow:instructionsForEndUser`), filled in with the task's data.

For `GET /api/tasks/<id>` and the staff task page: `instructions` (the Markdown, filled in), `instructions_html`
(rendered safely by engine.process.instructions) and `instructions_error` (why the raw text is shown, else None).
A task without instructions has none of these keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.process import instructions
from engine.store.model import HumanTask, Instance

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator
    from engine.process.definitions import ParsedBundle


def source_of(parsed: ParsedBundle, task: HumanTask) -> str | None:
    """The task's instructions as written in its RMA's version, None when it has none."""
    found = [info for info in parsed.tasks.values() if info.name == task.name and info.instructions]
    if not found:
        return None
    by_stage = [info for info in found if task.stage and info.process_id.endswith(task.stage)]
    return (by_stage or found)[0].instructions


def view(orc: Orchestrator, session: Session, parsed: ParsedBundle, task: HumanTask) -> dict:
    """{instructions, instructions_html, instructions_error} of `task`, or {} when it has none."""
    source = source_of(parsed, task)
    if source is None:
        return {}
    state = session.scalar(select(Instance.state).where(Instance.rma_id == task.rma_id))
    data = orc.runtime.task_data(orc.runtime.load(parsed, state), task.id) if state is not None else None
    if data is None:  # the task is gone from the instance (moved to another version): what it was completed with
        data = dict(task.data or {})
    rendered = instructions.render(source, data)
    return {"instructions": rendered.text, "instructions_html": rendered.html, "instructions_error": rendered.error}
