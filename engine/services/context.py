"""What the reactions after a step are given: plain data about the RMA and the step, no SpiffWorkflow objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.customer import notifications
from engine.execution.runtime import CompletedElement, ReadyTask
from engine.process.messages import MessageTemplates
from engine.store.model import Rma

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

NOT_KNOWN: Any = object()  # a StepContext value that the step did not work out


@dataclass(eq=False)
class StepContext:
    """One step of one instance (opening it, completing a task, a timer, a message, a retry), after the
    projections (task rows, status, stage) were refreshed."""

    orc: Orchestrator
    session: Session
    rma: Rma  # already updated by the projections
    data: dict  # the process data as of now
    actor: Actor
    previous_status: str | None
    ready_tasks: list[ReadyTask]  # every human task open after the step
    bundle_id: int  # the instance's bundle version: its message templates (see `messages`)
    new_tasks: list[ReadyTask] = field(default_factory=list)  # those that opened in this step
    completed_task: str | None = None  # BPMN id of the human task this command completed
    closed: bool = False  # the RMA closed in this step
    opened: bool = False  # the RMA was opened in this step
    open_since: datetime | None = NOT_KNOWN  # created_at of the oldest open task row (None: none)
    # the completed elements, worked out only when a reaction asks (see `completed`)
    completed_elements: Callable[[], list[CompletedElement]] = field(default=list, repr=False)

    @cached_property
    def completed(self) -> list[CompletedElement]:
        """Every completed BPMN element of the instance, in the order SpiffWorkflow lists them."""
        return self.completed_elements()

    @cached_property
    def messages(self) -> MessageTemplates:
        """The message templates of the RMA's own bundle version (compiled once per version)."""
        return notifications.templates_of(self.orc, self.session, self.bundle_id)

    @cached_property
    def bundle_has_templates(self) -> bool:
        """False for a bundle deployed before message templates were bundle files (see engine.services.beyond)."""
        return bool(self.orc.parsed_bundle(self.session, self.bundle_id).messages)

    @property
    def status_changed(self) -> bool:
        return self.previous_status != self.rma.status
