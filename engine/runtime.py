"""The only module that speaks SpiffWorkflow's workflow API.

Instances are stored as the serializer's plain dict *without* the specs: the specs belong to the
bundle (parsed once, cached by hash) and are re-attached on load.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION, BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from . import sandbox
from .definitions import LANE_ROLES, ParsedBundle
from .errors import ProcessScriptError, TaskAlreadyCompleted, TaskNotFound

STATUS_PROPERTY = "rmaStatus"


class StateOnlyWorkflowConverter(BpmnWorkflowConverter):
    """Serialize a workflow without its specs; restore it onto specs given by the caller."""

    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["spec_name"] = workflow.spec.name
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = StateOnlyWorkflowConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


SERIALIZER = _make_serializer()


@dataclass(frozen=True)
class ReadyTask:
    """A human task the workflow is waiting on."""

    id: str
    name: str
    title: str
    lane: str | None
    role: str
    stage: str
    form_file: str | None
    properties: dict


def stage_key(process_id: str) -> str:
    return process_id[4:] if process_id.startswith("rma_") else process_id


class Runtime:
    """Start, restore, advance and inspect workflow instances of parsed bundles."""

    def __init__(self):
        self.script_engine = sandbox.script_engine()

    def start(self, bundle: ParsedBundle, data: dict) -> BpmnWorkflow:
        workflow = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=self.script_engine)
        workflow.task_tree.data.update(data)
        start = workflow.get_next_task(state=TaskState.READY)
        if start is not None:
            start.data.update(data)
        self._advance(workflow)
        return workflow

    def dump(self, workflow: BpmnWorkflow) -> bytes:
        registry = SERIALIZER.registry
        registry._encoder_mode = True
        try:
            dct = SERIALIZER.to_dict(workflow)
            return json.dumps(dct, cls=SERIALIZER._encoder_cls, separators=(",", ":")).encode("utf-8")
        finally:
            registry._encoder_mode = False

    def load(self, bundle: ParsedBundle, state: bytes) -> BpmnWorkflow:
        dct = json.loads(state, cls=SERIALIZER.json_decoder_cls)
        workflow = SERIALIZER.from_dict(dct, spec=bundle.spec, subprocess_specs=bundle.subprocess_specs)
        workflow.script_engine = self.script_engine
        return workflow

    serializer_version = SERIALIZER_VERSION

    def ready_tasks(self, workflow: BpmnWorkflow) -> list[ReadyTask]:
        result = []
        for task in workflow.get_tasks(state=TaskState.READY, manual=True):
            spec = task.task_spec
            props = dict((getattr(spec, "extensions", None) or {}).get("properties", {}))
            lane = getattr(spec, "lane", None)
            result.append(ReadyTask(
                id=str(task.id), name=spec.bpmn_id, title=spec.bpmn_name or spec.bpmn_id, lane=lane,
                role=LANE_ROLES.get(lane, "reception") if lane else "reception",
                stage=stage_key(task.workflow.spec.name), form_file=props.get("formJsonSchemaFilename"),
                properties=props,
            ))
        return result

    def complete(self, workflow: BpmnWorkflow, task_id: str, data: dict) -> None:
        try:
            task = workflow.get_task_from_id(UUID(task_id))
        except (ValueError, KeyError, SpiffWorkflowException):
            task = None
        if task is None:
            raise TaskNotFound(f"task {task_id} is not part of this process")
        if task.state != TaskState.READY or not task.task_spec.manual:
            raise TaskAlreadyCompleted(f"task {task.task_spec.bpmn_id} is no longer open")
        task.set_data(**data)
        self._run(task)
        self._advance(workflow)

    def fire_due_timers(self, workflow: BpmnWorkflow) -> list[str]:
        """Fire every timer whose time has come; returns the ids of the timer events that fired."""
        waiting = {t.id: t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.WAITING)}
        self._advance(workflow)
        still = {t.id for t in workflow.get_tasks(state=TaskState.WAITING)}
        return sorted(name for task_id, name in waiting.items() if task_id not in still and name)

    def next_timer_at(self, workflow: BpmnWorkflow) -> datetime | None:
        times = []
        for event in workflow.waiting_events():
            value = getattr(event, "value", None)
            if isinstance(value, str):
                try:
                    times.append(datetime.fromisoformat(value).astimezone(timezone.utc))
                except ValueError:
                    continue
        return min(times) if times else None

    def current_data(self, workflow: BpmnWorkflow) -> dict:
        """The process data as of now: the open human task's data, or the end's when completed."""
        task = workflow.get_next_task(state=TaskState.READY, manual=True)
        if task is None:
            task = workflow.last_task
        data = dict(workflow.data)
        if task is not None:
            data.update(task.data)
        return data

    def _run(self, task) -> None:
        try:
            task.run()
        except (SpiffWorkflowException, sandbox.SandboxViolation) as exc:
            raise _script_error(exc) from None

    def _advance(self, workflow: BpmnWorkflow) -> None:
        try:
            workflow.do_engine_steps()
            workflow.refresh_waiting_tasks()
            workflow.do_engine_steps()
        except (SpiffWorkflowException, sandbox.SandboxViolation) as exc:
            raise _script_error(exc) from None


def _script_error(exc: Exception) -> ProcessScriptError:
    task = getattr(exc, "task", None)
    name = task.task_spec.bpmn_id if task is not None else None
    message = getattr(exc, "error_msg", None) or str(exc)
    return ProcessScriptError(f"{name or 'process'}: {message}", task=name)


def instance_status(runtime: Runtime, workflow: BpmnWorkflow, ready: list[ReadyTask], previous: str | None) -> str:
    """The RMA status: 'closed' when the process ended, else the open task's `rmaStatus` property."""
    if workflow.is_completed():
        return "closed"
    for task in ready:
        if task.properties.get(STATUS_PROPERTY):
            return task.properties[STATUS_PROPERTY]
    return previous or "received"
