"""Extension points run inside a command's unit of work, after the projections are refreshed.

Features such as customer notifications or integrator webhooks subscribe here instead of editing
the core step: whatever a hook adds to the session (outbox rows, audit events) commits or rolls
back with the command itself, so nothing is sent for work that was rolled back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


NOT_KNOWN = object()  # a StepContext value that the step did not work out


@dataclass
class StepContext:
    orc: Any
    session: Any
    rma: Any                      # engine.model.Rma, already updated
    workflow: Any                 # SpiffWorkflow BpmnWorkflow (hooks should prefer `data` and names)
    data: dict                    # process data as of now
    actor: Any
    previous_status: str | None
    new_tasks: list = field(default_factory=list)      # ReadyTask objects that opened in this step
    completed_task: str | None = None                   # BPMN id of the human task this command completed
    closed: bool = False                                # the RMA closed in this step
    opened: bool = False                                # the RMA was opened in this step
    snapshot: Any = None                                # engine.runtime.Snapshot of the workflow after the step
    open_since: Any = NOT_KNOWN                         # created_at of the RMA's oldest open task row (None: none)

    @property
    def ready_tasks(self) -> list:
        """ReadyTask objects of every human task open after the step."""
        if self.snapshot is not None:
            return self.snapshot.ready
        return self.orc.runtime.ready_tasks(self.workflow)

    @property
    def completed_tasks(self) -> list:
        """SpiffWorkflow Tasks in COMPLETED state after the step, in the order `get_tasks` gives them."""
        if self.snapshot is not None:
            return self.snapshot.completed
        from SpiffWorkflow.util.task import TaskState
        return self.workflow.get_tasks(state=TaskState.COMPLETED)

    @property
    def status_changed(self) -> bool:
        return self.previous_status != self.rma.status


_hooks: list[Callable[[StepContext], None]] = []


def after_step(fn: Callable[[StepContext], None]) -> Callable[[StepContext], None]:
    """Decorator: run `fn(ctx)` after every instance step (opening, completing, timers)."""
    if fn not in _hooks:
        _hooks.append(fn)
    return fn


def run(ctx: StepContext) -> None:
    for fn in list(_hooks):
        fn(ctx)
