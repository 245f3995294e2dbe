"""The only module that speaks SpiffWorkflow's workflow API.

Instances are stored as the serializer's plain dict *without* the specs: the specs belong to the
bundle (parsed once, cached by hash) and are re-attached on load.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnSubWorkflowConverter, BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.defaults import EventBasedGateway
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition as BaseMessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import (
    ParallelMultiInstanceTask,
    SequentialMultiInstanceTask,
)
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity
from SpiffWorkflow.bpmn.util.diff import diff_workflow
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine import sandbox
from engine.errors import Conflict, EngineError, InvalidFormData, ProcessScriptError, TaskAlreadyCompleted, TaskNotFound
from engine.execution.stepping import EngineSubWorkflow, EngineWorkflow
from engine.process.definitions import LANE_ROLES, ParsedBundle
from engine.process.limits import MAX_INSTANCES
from engine.process.stages import enclosing_stage
from engine.sandbox.limits import BudgetExceeded, CommandBudget, current_command


class MessageNotAwaited(Conflict):
    """A message was delivered that no event of the instance waits for (HTTP 409)."""

    code = "message_not_awaited"


class StateFormatUnknown(Conflict):
    """An instance state stored by another serializer version than the one this engine reads (HTTP 409): it is
    refused by name, never read as the current format (a state of another format needs migrating first)."""

    code = "serializer_version_unknown"


class CommandRolledBack(ProcessScriptError):
    """The command went over its budget (engine steps, script time, tasks created), or the engine could not
    run it on the instance's data: nothing it did is kept, and the RMA waits in an incident at its last
    committed state that names the element (engine.services.instances). HTTP 409."""

    code, status = "command_rolled_back", 409


@dataclass(frozen=True)
class CommandLimits:
    """What one command may spend (settings RMA_COMMAND_MAX_STEPS, _SCRIPT_SECONDS and _TASKS)."""

    steps: int = 2_000  # the shipped process takes at most about 20 per command
    script_seconds: float = 5.0
    tasks: int = 5_000  # the shipped process creates at most about 40 per command


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
    registry = BpmnWorkflowSerializer.configure(config)
    # instances restore into the engine's workflow classes, stored under SpiffWorkflow's own type names
    StateOnlyWorkflowConverter(EngineWorkflow, registry, typename=BpmnWorkflow.__name__)
    BpmnSubWorkflowConverter(EngineSubWorkflow, registry, typename=BpmnSubWorkflow.__name__)
    # Decimals scripts leave in task data (finite and bounded: engine.sandbox refuses others) are stored as text
    registry.register(Decimal, lambda value: {"value": str(value)}, lambda dct: Decimal(dct["value"]))
    return BpmnWorkflowSerializer(registry)


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
    due_at: datetime | None = None  # when a timer on the task (an SLA) falls due


@dataclass(frozen=True)
class CompletedElement:
    """A completed BPMN element of an instance, as plain data (what the reactions after a step read)."""

    id: str  # the task instance id (the same across saves and restores)
    element: str  # the BPMN element id
    properties: dict  # its spiffworkflow:properties
    completed_at: datetime  # aware UTC


@dataclass(frozen=True)
class FailedTask:
    """A task that raised while the engine ran it: the instance waits in an incident until it is retried."""

    id: str
    name: str | None
    title: str | None
    stage: str


@dataclass
class Snapshot:
    """What one walk of the task tree finds after a step: everything the projections and reactions read.

    Each list holds the tasks, in order, that `workflow.get_tasks(state=...)` would return for that state
    (open human tasks, failed tasks, completed tasks, waiting events); built by `Runtime.snapshot`.
    """

    ready: list[ReadyTask]
    ready_task: object | None  # the first open human task (SpiffWorkflow Task), whose data is current
    failed: list[FailedTask]
    completed: list  # SpiffWorkflow Tasks in COMPLETED state
    waiting: list  # SpiffWorkflow Tasks in WAITING state


class Runtime:
    """Start, restore, advance and inspect workflow instances of parsed bundles."""

    def __init__(self, services=None, limits: CommandLimits | None = None):
        self.script_engine = sandbox.script_engine(services)
        self.limits = limits or CommandLimits()

    @contextmanager
    def _command(self) -> Iterator[CommandBudget]:
        """One command's budget. Going over it, or a fault in the engine itself (a signalling NaN left in the
        data, say, or any other exception that is not one of ours), is CommandRolledBack naming the element
        that ran: the workflow may be half way through a step and must not be saved."""
        budget = CommandBudget(self.limits.steps, self.limits.script_seconds, self.limits.tasks)
        try:
            with budget:
                yield budget
        except Exception as exc:
            # an EngineError is the command's own answer (an incident, a 409); anything else raised while the
            # engine ran (an arithmetic fault, a TypeError inside SpiffWorkflow on odd data) is never a 500
            if budget.exceeded is None and isinstance(exc, EngineError) and not isinstance(exc, BudgetExceeded):
                raise
            why = budget.exceeded or f"the engine could not continue ({type(exc).__name__})"
            element = budget.element or (getattr(exc, "task", None) if isinstance(exc, ProcessScriptError) else None)
            message = f"{element or 'process'}: {why}; the command was rolled back"
            raise CommandRolledBack(message, task=element) from None

    def start(self, bundle: ParsedBundle, data: dict) -> BpmnWorkflow:
        """A new instance run until it waits. A script, condition or decision failing on the way does not refuse
        the start: the workflow's `failure` holds it and the new RMA is saved in incident (like any step's)."""
        _strict_decisions(bundle)
        _capped_instances(bundle)
        _multiple_event_payloads(bundle)
        workflow = EngineWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=self.script_engine)
        with self._command() as budget:
            workflow.task_tree.data.update(data)
            start = workflow.get_next_task(state=TaskState.READY)
            if start is not None:
                start.data.update(data)
            try:
                self._advance(workflow)
            except ProcessScriptError as exc:
                if budget.exceeded is not None:
                    raise
                workflow.failure = exc
        return workflow

    def dump(self, workflow: BpmnWorkflow) -> bytes:
        registry = SERIALIZER.registry
        registry._encoder_mode = True
        try:
            dct = SERIALIZER.to_dict(workflow)
            return json.dumps(dct, cls=SERIALIZER._encoder_cls, separators=(",", ":")).encode("utf-8")
        finally:
            registry._encoder_mode = False

    def load(self, bundle: ParsedBundle, state: bytes, serializer_version: str | None = None) -> BpmnWorkflow:
        """The stored `state` restored onto the bundle's specs. `serializer_version`: the version the state was
        stored with (the instance row's); a state of another version is refused (StateFormatUnknown)."""
        if serializer_version is not None and serializer_version != SERIALIZER_VERSION:
            raise StateFormatUnknown(
                f"the instance state was stored by serializer version {serializer_version}; this engine reads "
                f"serializer version {SERIALIZER_VERSION} only: the state must be migrated before the RMA can go on"
            )
        dct = json.loads(state, cls=SERIALIZER.json_decoder_cls)
        workflow = SERIALIZER.from_dict(dct, spec=bundle.spec, subprocess_specs=bundle.subprocess_specs)
        workflow.script_engine = self.script_engine
        _strict_decisions(bundle)
        _capped_instances(bundle)
        _multiple_event_payloads(bundle)
        return workflow

    serializer_version = SERIALIZER_VERSION

    def ready_tasks(self, workflow: BpmnWorkflow) -> list[ReadyTask]:
        return [_ready_task(task) for task in workflow.get_tasks(state=TaskState.READY, manual=True)]

    def failed_tasks(self, workflow: BpmnWorkflow) -> list[FailedTask]:
        """Tasks left in ERROR by a script, condition or decision that raised (an incident)."""
        return [_failed_task(t) for t in workflow.get_tasks(state=TaskState.ERROR)]

    def snapshot(self, workflow: BpmnWorkflow) -> Snapshot:
        """Open, failed, completed and waiting tasks from one walk of the task tree (instead of one walk each)."""
        found = _walk(workflow)
        if found is None:  # a tree deeper than SpiffWorkflow's iterator descends: let it decide, walk by walk
            ready = workflow.get_tasks(state=TaskState.READY, manual=True)
            failed = workflow.get_tasks(state=TaskState.ERROR)
            completed = workflow.get_tasks(state=TaskState.COMPLETED)
            waiting = workflow.get_tasks(state=TaskState.WAITING)
        else:
            ready, failed, completed, waiting = found
        return Snapshot(
            [_ready_task(t) for t in ready],
            ready[0] if ready else None,
            [_failed_task(t) for t in failed],
            completed,
            waiting,
        )

    def waiting_stage(self, snapshot: Snapshot) -> str | None:
        """The stage of the first event the instance waits on (a parcel's arrival, a timer), for an RMA with no
        human task open; None when it waits on nothing."""
        for task in snapshot.waiting:
            if task.task_spec.bpmn_id:
                return task_stage(task)
        return None

    def completed_elements(self, snapshot: Snapshot) -> list[CompletedElement]:
        """The snapshot's completed tasks as plain data, in the order `get_tasks` gives them."""
        return [
            CompletedElement(
                str(task.id),
                task.task_spec.bpmn_id,
                (getattr(task.task_spec, "extensions", None) or {}).get("properties") or {},
                datetime.fromtimestamp(task.last_state_change, UTC),
            )
            for task in snapshot.completed
            if task.task_spec.bpmn_id
        ]

    def retry(self, workflow: BpmnWorkflow) -> None:
        """Run the failed tasks again (with the specs the instance has now), then continue until it waits."""
        with self._command():
            for task in workflow.get_tasks(state=TaskState.ERROR):
                if task.internal_data.pop(_FAILED_ON_UPDATE, False):
                    # it failed before it was ready (a multi-instance reading its collection): made ready again
                    task._set_state(TaskState.FUTURE)
                    try:
                        task.task_spec._update(task)
                    except (SpiffWorkflowException, sandbox.SandboxViolation) as exc:
                        raise _script_error(exc) from None
                    continue
                task._set_state(TaskState.READY)  # the sandbox changes task data only on success: nothing half-done
                if task.task_spec.manual:
                    self._run(task)  # a human task whose own completion failed: its submitted data is kept
            self._advance(workflow)

    def move_problems(self, workflow: BpmnWorkflow, bundle: ParsedBundle) -> list[str]:
        """Why the instance could not continue on `bundle`'s specs (none: it can, its state restores onto them).

        Task specs align by BPMN id: no element the instance has reached may be removed, and one that has
        run, is open or waits must be unchanged. A failed task may change (that is the fix being
        deployed), and so may tasks not reached yet.
        """
        problems = []
        may_change = TaskState.PREDICTED_MASK | TaskState.FUTURE | TaskState.ERROR | TaskState.CANCELLED
        top, subs = diff_workflow(SERIALIZER.registry, workflow, bundle.spec, bundle.subprocess_specs)
        for sp_id, diff in [(None, top), *subs.items()]:
            if diff is None:
                problems.append(f"process {workflow.subprocesses[sp_id].spec.name} is not in the new version")
                continue
            for task in diff.removed:
                problems.append(f"{task.task_spec.bpmn_id or task.task_spec.name} was removed")
            for task in diff.changed:
                if not task.has_state(may_change):
                    problems.append(
                        f"{task.task_spec.bpmn_id or task.task_spec.name} "
                        f"({TaskState.get_name(task.state).lower()}) was changed"
                    )
        return sorted(set(problems))

    def cancel(self, workflow: BpmnWorkflow, outcome: str = "cancelled") -> None:
        """End the instance now: every open, waiting or failed task is cancelled; `outcome` is recorded."""
        workflow.data["outcome"] = outcome
        if workflow.last_task is not None:
            workflow.last_task.data["outcome"] = outcome
        for task in workflow.get_tasks(state=TaskState.ERROR):
            task._set_state(TaskState.CANCELLED)
        workflow.cancel()

    def complete(self, workflow: BpmnWorkflow, task_id: str, data: dict) -> None:
        try:
            task = workflow.get_task_from_id(UUID(task_id))
        except (ValueError, KeyError, SpiffWorkflowException):
            task = None
        if task is None:
            raise TaskNotFound(f"task {task_id} is not part of this process")
        if task.state != TaskState.READY or not task.task_spec.manual:
            raise TaskAlreadyCompleted(f"task {task.task_spec.bpmn_id} is no longer open")
        try:
            sandbox.check_data(data)  # what a script may not leave in task data, a form may not put there
        except sandbox.SandboxViolation as exc:
            raise InvalidFormData(str(exc)) from None
        with self._command():
            task.set_data(**data)
            self._run(task)
            self._advance(workflow)

    def deliver_message(self, workflow: BpmnWorkflow, name: str, payload: dict | None = None) -> None:
        """Deliver the BPMN message `name` (a spiff message event), then run until the instance waits.

        Any waiting catch counts: a receive task, an intermediate or boundary catch event, a branch of an
        event-based gateway, one of a multiple event's definitions. `payload` lands in the task data as the
        catching event says (its `messageVariable`); the message's correlation properties are computed from the
        payload and must match the keys the instance already holds. Raises MessageNotAwaited when no event of
        the instance waits for that message, or for it with these correlation values (nothing changes then)."""
        body = dict(payload or {})
        definitions = [d for _task, d in _waiting_catches(workflow) if _is_message(d) and d.name == name]
        if not definitions:
            raise MessageNotAwaited(f"the process is not waiting for the message '{name}'")
        with self._command():
            correlations = _payload_correlations(workflow, definitions[0], body)
            try:
                workflow.send_event(BpmnEvent(definitions[0], payload=body, correlations=correlations))
            except WorkflowException:
                raise MessageNotAwaited(
                    f"the process is not waiting for the message '{name}' with these correlation values"
                ) from None
            self._advance(workflow)

    def awaited_messages(self, workflow: BpmnWorkflow) -> set[str]:
        """Names of the messages some waiting event of the instance would catch now (event-based gateways and
        multiple events included)."""
        return {d.name for _task, d in _waiting_catches(workflow) if _is_message(d)}

    def awaited_elements(self, workflow: BpmnWorkflow) -> list[tuple[str, str, str]]:
        """(message name, BPMN id and title of the waiting element) for each message the instance waits for."""
        found = []
        for task, d in _waiting_catches(workflow):
            spec = task.task_spec
            entry = (d.name, spec.bpmn_id, spec.bpmn_name or spec.bpmn_id)
            if _is_message(d) and entry not in found:
                found.append(entry)
        return found

    def fire_due_timers(self, workflow: BpmnWorkflow) -> list[str]:
        """Fire every timer whose time has come; returns the ids of the timer events that fired (for an
        event-based gateway, the branch's timer catch event, not the gateway)."""
        # timers only: a message event that a firing timer cancelled (it interrupted its activity) did not fire
        waiting = [
            (task, _timer_event(task, d))
            for task, d in _waiting_catches(workflow)
            if isinstance(d, TimerEventDefinition)
        ]
        with self._command():
            self._advance(workflow)
        still = {t.id for t in workflow.get_tasks(state=TaskState.WAITING)}
        fired = set()
        for task, (name, branch) in waiting:
            if task.id in still or not name:
                continue
            # a gateway keeps only the branches whose event came (SpiffWorkflow: EventBasedGateway._run_hook)
            if branch is None or any(child.task_spec is branch for child in task.children):
                fired.add(name)
        return sorted(fired)

    def next_timer_at(self, workflow: BpmnWorkflow) -> datetime | None:
        """The earliest due time of any waiting timer: timer catch and boundary events, and the timers of
        event-based gateways and multiple events (SpiffWorkflow lists those only as the gateway's event)."""
        return _earliest(
            getattr(d.details(task), "value", None)
            for task, d in _waiting_catches(workflow)
            if isinstance(d, TimerEventDefinition)
        )

    def current_data(self, workflow: BpmnWorkflow, snapshot: Snapshot | None = None) -> dict:
        """The process data as of now: the open human task's data, or the end's when completed."""
        if snapshot is None:
            task = workflow.get_next_task(state=TaskState.READY, manual=True)
        else:
            task = snapshot.ready_task
        if task is None:
            task = workflow.last_task
        data = dict(workflow.data)
        if task is not None:
            data.update(task.data)
        return data

    def task_data(self, workflow: BpmnWorkflow, task_id: str) -> dict | None:
        """One task's data (what its instructions are filled in with); None when the workflow has no such task."""
        try:
            task = workflow.get_task_from_id(UUID(task_id))
        except (ValueError, WorkflowException, KeyError):
            return None
        return {**workflow.data, **task.data} if task is not None else None

    def _run(self, task) -> None:
        try:
            _count_step(task)
            task.run()
        except (SpiffWorkflowException, sandbox.SandboxViolation) as exc:
            raise _script_error(exc) from None

    def _advance(self, workflow: EngineWorkflow) -> None:
        try:
            workflow.do_engine_steps(will_complete_task=_count_step)
            # do_engine_steps ends by refreshing timers: one that came due is READY now and runs in one more
            # round (skipped when nothing is: that round would refresh the timers again)
            if workflow.runnable():
                workflow.do_engine_steps(will_complete_task=_count_step)
        except (SpiffWorkflowException, sandbox.SandboxViolation) as exc:
            raise _script_error(exc) from None


def _leaf_definitions(definition):
    """An event definition, or each of a multiple event's (an event-based gateway's) definitions."""
    if isinstance(definition, MultipleEventDefinition):
        for inner in definition.event_definitions:
            yield from _leaf_definitions(inner)
    elif definition is not None:
        yield definition


def _waiting_catches(workflow: BpmnWorkflow):
    """(task, event definition) for every event definition a waiting catch of the instance holds."""
    for task in list(workflow.event_manager.tasks.values()):
        for definition in _leaf_definitions(getattr(task.task_spec, "event_definition", None)):
            yield task, definition


def _timer_event(task, definition) -> tuple[str | None, object | None]:
    """(BPMN id of the event that holds the timer `definition`, its gateway branch's spec or None).

    A waiting catch holds its own timer; an event-based gateway holds its branches' definitions, in the order of
    its outputs (SpiffWorkflow moves each branch's definition onto the gateway), so the timer belongs to the
    branch's intermediate catch event."""
    spec = task.task_spec
    if isinstance(spec, EventBasedGateway):
        for branch, held in zip(spec.outputs, spec.event_definition.event_definitions, strict=False):
            if any(leaf is definition for leaf in _leaf_definitions(held)):
                return branch.bpmn_id, branch
    return spec.bpmn_id, None


def _is_message(definition) -> bool:
    return isinstance(definition, BaseMessageEventDefinition)


def _payload_correlations(workflow: BpmnWorkflow, definition, payload: dict) -> dict:
    """The correlation keys a delivered message carries, computed from its payload by the message's correlation
    properties (a property the payload does not give is left out: it then matches no key the instance holds)."""
    correlations: dict = {}
    for prop in getattr(definition, "correlation_properties", None) or []:
        try:
            value = workflow.script_engine.environment.evaluate(prop.retrieval_expression, dict(payload))
        except Exception:  # noqa: BLE001 - the payload lacks what the expression reads
            continue
        for key in prop.correlation_keys:
            correlations.setdefault(key, {})[prop.name] = value
    return correlations


def _count_step(task) -> None:
    """One engine step of the running command, on the element `task` runs."""
    budget = current_command()
    if budget is not None:
        budget.step(task.task_spec.bpmn_id)


def _ready_task(task) -> ReadyTask:
    spec = task.task_spec
    props = dict((getattr(spec, "extensions", None) or {}).get("properties", {}))
    lane = getattr(spec, "lane", None)
    return ReadyTask(
        id=str(task.id),
        name=spec.bpmn_id,
        title=spec.bpmn_name or spec.bpmn_id,
        lane=lane,
        role=LANE_ROLES.get(lane, "reception") if lane else "reception",
        stage=task_stage(task),
        form_file=props.get("formJsonSchemaFilename"),
        properties=props,
        due_at=_timer_due(task),
    )


def task_stage(task) -> str:
    """The stage `task` belongs to: the process the skeleton called that it runs in, however deep
    (engine.process.stages.enclosing_stage)."""
    chain: list[tuple[str, bool]] = []
    workflow = task.workflow
    while workflow.parent_task_id is not None:
        parent = workflow.top_workflow.get_task_from_id(workflow.parent_task_id)
        chain.append((workflow.spec.name, isinstance(parent.task_spec, CallActivity)))
        workflow = parent.workflow
    chain.append((workflow.spec.name, False))
    return enclosing_stage(chain[::-1])


def _failed_task(task) -> FailedTask:
    spec = task.task_spec
    return FailedTask(str(task.id), spec.bpmn_id, spec.bpmn_name or spec.bpmn_id, task_stage(task))


_MAX_DEPTH = 1000  # SpiffWorkflow's TaskIterator default
_READY, _WAITING, _COMPLETED, _ERROR = TaskState.READY, TaskState.WAITING, TaskState.COMPLETED, TaskState.ERROR
_FUTURE, _FINISHED = TaskState.FUTURE, TaskState.FINISHED_MASK


def _walk(workflow: BpmnWorkflow, max_depth: int = _MAX_DEPTH):
    """One depth-first walk giving, in order, what `workflow.get_tasks(state=S)` gives for S = READY (manual
    tasks only), ERROR, COMPLETED and WAITING; None in the one case one walk cannot tell (below).

    SpiffWorkflow's BpmnTaskIterator is followed exactly. It descends into a task's children (a called
    process's root first) when the task has some and, when looking for READY or WAITING tasks, is not
    merely predicted, or when looking for ERROR or COMPLETED ones, is finished (a task with a called
    process always); it stops descending at a depth counter of `max_depth`, which goes up by one per
    descent and down, at each leaf, by the steps from the leaf's parent up to the next task's parent
    within the leaf's own process. Both walks (the "definite" one for READY and WAITING, the "finished"
    one for ERROR and COMPLETED) run at once, each with its own counter. The finished walk only ever
    visits tasks the definite one visits, unless the definite walk's counter stops it first somewhere
    the finished one would go on: then this returns None and the caller asks SpiffWorkflow walk by walk.
    """
    subprocesses = workflow.subprocesses
    ready, failed, completed, waiting = [], [], [], []
    stack = [(workflow.task_tree, 0, True)]  # (task, its level in its own process, on the finished walk)
    pop, push = stack.pop, stack.append
    depth = fin_depth = 0  # the two walks' depth counters
    fin_leaf = None  # (level, process) of the finished walk's last leaf: its decrement is pending
    while stack:
        task, level, on_fin = pop()
        state = task._state
        own = task.workflow
        if on_fin:
            if fin_leaf is not None:
                leaf_level, leaf_process = fin_leaf
                fin_depth -= leaf_level - level if (leaf_process is own and level > 0) else leaf_level
                fin_leaf = None
            if state & _ERROR and task.last_state_change >= 0:
                failed.append(task)
            elif state & _COMPLETED and task.last_state_change >= 0:
                completed.append(task)
        if state & _READY and task.task_spec.manual and task.last_state_change >= 0:
            ready.append(task)
        elif state & _WAITING and task.last_state_change >= 0:
            waiting.append(task)
        subprocess = subprocesses.get(task.id)
        children = task._children
        branches = bool(children) or subprocess is not None
        descends = branches and (state >= _FUTURE or subprocess is not None) and depth < max_depth
        fin_descends = on_fin and branches and (state >= _COMPLETED or subprocess is not None) and fin_depth < max_depth
        if fin_descends and not descends:
            return None
        if on_fin:
            if fin_descends:
                fin_depth += 1
            else:
                fin_leaf = (level, own)
        if descends:
            depth += 1
            tasks = own.tasks
            for child in reversed(children):
                push((tasks[child], level + 1, fin_descends))
            # (SpiffWorkflow skips a called process when `state >= FINISHED_MASK`, which no single state is)
            if subprocess is not None and not state >= _FINISHED:
                push((subprocess.task_tree, 0, fin_descends))
        elif stack:
            next_task, next_level, _ = stack[-1]
            depth -= level - next_level if (next_task.workflow is own and next_level > 0) else level
    return ready, failed, completed, waiting


def _timer_due(task) -> datetime | None:
    """The earliest due time of the timer boundary events armed on `task` (its SLA), if any."""
    split = task.parent
    if split is None or not isinstance(split.task_spec, BoundaryEventSplit):
        return None
    return _earliest(
        sibling._get_internal_data("event_value")
        for sibling in split.children
        if isinstance(getattr(sibling.task_spec, "event_definition", None), TimerEventDefinition)
    )


def _earliest(values) -> datetime | None:
    """The earliest of timer due values (ISO timestamps as SpiffWorkflow keeps them); others are skipped."""
    times = []
    for value in values:
        if isinstance(value, str):
            try:
                times.append(datetime.fromisoformat(value).astimezone(UTC))
            except ValueError:
                continue
    return min(times) if times else None


class StrictDecisionEngine(DMNEngine):
    """A decision table whose single-hit policy finds no rule raises (an incident) instead of deciding nothing."""

    def result(self, task):
        table = self.decision_table
        if table.hit_policy != "COLLECT" and not self.decide(task):
            inputs = []
            for item in table.inputs:
                try:
                    value = task.workflow.script_engine.evaluate(task, item.expression)
                except Exception:  # the message names the inputs; a missing one shows as such
                    value = "(not set)"
                inputs.append(f"{item.expression}={value!r}")
            raise WorkflowTaskException(
                f"no rule of decision table '{table.name or table.id}' matches ({', '.join(inputs)})", task=task
            )
        return super().result(task)


def _strict_decisions(bundle: ParsedBundle) -> None:
    """Once per parsed bundle: its business rule tasks use StrictDecisionEngine."""
    if getattr(bundle, "strict_decisions", False):
        return
    for spec in [bundle.spec, *bundle.subprocess_specs.values()]:
        for task_spec in spec.task_specs.values():
            engine = getattr(task_spec, "dmnEngine", None)
            if engine is not None and type(engine) is DMNEngine:
                engine.__class__ = StrictDecisionEngine
    bundle.strict_decisions = True


def _multiple_event_payloads(bundle: ParsedBundle) -> None:
    """Once per parsed bundle: a multiple event (a catch event with a message and a timer, say) that caught a
    message puts its payload in the task data as its message definition says (`messageVariable`), like a single
    message catch does; SpiffWorkflow's MultipleEventDefinition leaves it in the task's internal data."""
    if getattr(bundle, "multiple_payloads", False):
        return
    for spec in [bundle.spec, *bundle.subprocess_specs.values()]:
        for task_spec in spec.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            if isinstance(definition, MultipleEventDefinition) and not isinstance(task_spec, EventBasedGateway):
                definition.update_task_data = _caught_payloads(definition)
    setattr(bundle, "multiple_payloads", True)  # noqa: B010 - a marker on the cached bundle, like strict_decisions


def _caught_payloads(definition):
    def update_task_data(my_task) -> None:
        # MultipleEventDefinition.catch keeps the caught events (with their payloads) as `seen_events`
        for event in my_task.internal_data.get("seen_events", []):
            for inner in _leaf_definitions(definition):
                variable = getattr(inner, "message_var", None)
                if _is_message(inner) and inner == event.event_definition and variable:
                    my_task.data[variable] = event.payload

    return update_task_data


def _capped_instances(bundle: ParsedBundle) -> None:
    """Once per parsed bundle: a multi-instance activity creates at most MAX_INSTANCES instances.

    A constant cardinality above it is refused at deploy (engine.process.limits); a computed one, or an input
    collection, is known only when the activity starts: above the cap it raises before creating any instance,
    naming the activity, and the RMA goes to incident instead of running them with its lock held."""
    if bundle.capped_instances:
        return
    for spec in [bundle.spec, *bundle.subprocess_specs.values()]:
        for task_spec in spec.task_specs.values():
            # instance attributes, so the spec keeps its class (the serializer and the version diff look it up)
            if isinstance(task_spec, ParallelMultiInstanceTask):
                task_spec.create_children = _first_checked(task_spec, ParallelMultiInstanceTask.create_children)
            elif isinstance(task_spec, SequentialMultiInstanceTask):
                task_spec.add_next_child = _first_checked(task_spec, SequentialMultiInstanceTask.add_next_child)
                if task_spec.data_input is not None:  # it reads its collection before it adds the first child
                    task_spec.init_remaining_items = _input_checked(task_spec)
    bundle.capped_instances = True


def _first_checked(spec, create):
    def checked(my_task) -> None:
        if not any(spec._instances(my_task)):  # before the first instance: how many there will be
            if spec.data_input is not None:
                count = len(_input_collection(spec, my_task))
            else:
                count = my_task.internal_data.get("cardinality")
                if count is None:  # parallel: evaluated where it creates them, after this check
                    count = my_task.workflow.script_engine.evaluate(my_task, spec.cardinality)
                if isinstance(count, bool) or not isinstance(count, int):
                    raise WorkflowTaskException(
                        f"multi-instance activity's loopCardinality '{spec.cardinality}' is "
                        f"{_kind(count)}, not a whole number",
                        task=my_task,
                    )
            if isinstance(count, int) and count > MAX_INSTANCES:
                raise WorkflowTaskException(
                    f"multi-instance activity would run {count} instances, more than {MAX_INSTANCES}", task=my_task
                )
        create(spec, my_task)

    return checked


def _input_checked(spec):
    def checked(my_task):
        _input_collection(spec, my_task)
        return SequentialMultiInstanceTask.init_remaining_items(spec, my_task)

    return checked


def _input_collection(spec, my_task):
    """The collection a multi-instance activity runs over, as SpiffWorkflow will iterate it: a missing one, or a
    value that is not a list (or a dict, whose items SpiffWorkflow iterates), raises naming the variable, so the RMA
    goes to incident instead of SpiffWorkflow failing inside (a 500) or iterating the letters of a text."""
    name = getattr(spec.data_input, "bpmn_id", None) or getattr(spec.data_input, "name", "?")
    if not spec.data_input.exists(my_task):
        raise WorkflowTaskException(
            f"multi-instance activity runs over '{name}', which no step before it has set", task=my_task
        )
    items = spec.data_input.get(my_task)
    if not isinstance(items, (list, tuple, dict)):
        raise WorkflowTaskException(
            f"multi-instance activity runs over '{name}', which is {_kind(items)}, not a list", task=my_task
        )
    return items


def _kind(value) -> str:
    """A value's type in a process owner's words."""
    if value is None:
        return "empty (None)"
    words = {bool: "yes/no", int: "a number", float: "a number", Decimal: "a number", str: "text", bytes: "bytes"}
    return words.get(type(value), f"a {type(value).__name__}")


_FAILED_ON_UPDATE = "rma_failed_on_update"  # internal data of a task that raised while being made ready


def _script_error(exc: Exception) -> ProcessScriptError:
    task = getattr(exc, "task", None)
    if task is not None and not task.has_state(TaskState.ERROR | TaskState.FINISHED_MASK):
        # SpiffWorkflow leaves a task that raised while being made ready (its update: a multi-instance reading its
        # collection, a timer its duration) FUTURE or WAITING, with nothing in ERROR: the RMA would hang with no
        # task, timer or message. It waits in ERROR instead, and a retry makes it ready again (Runtime.retry).
        task.internal_data[_FAILED_ON_UPDATE] = True
        task._set_state(TaskState.ERROR)
    spec = task.task_spec if task is not None else getattr(exc, "task_spec", None)  # a gateway's WorkflowException
    name = getattr(spec, "bpmn_id", None) if spec is not None else None
    message = getattr(exc, "error_msg", None) or str(exc)
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, NameError) and getattr(cause, "name", None) and message.startswith("Error evaluating"):
        # a condition (or other expression) reading a variable that no step on the path taken has set
        message = f"{message}: '{cause.name}' is not set (no step on the path taken so far sets it)"
    # a service task's failure carries what the other side answered as `detail` (operators only)
    return ProcessScriptError(f"{name or 'process'}: {message}", task=name, detail=getattr(exc, "detail", None))


def instance_status(
    runtime: Runtime, workflow: BpmnWorkflow, ready: list[ReadyTask], previous: str | None, waiting: list | None = None
) -> str:
    """The RMA status: 'closed' when the process ended, else the open task's `rmaStatus` property.

    `waiting`: the instance's WAITING tasks when already known (a Snapshot's), else they are looked up."""
    if workflow.is_completed():
        return "closed"
    for task in ready:
        if task.properties.get(STATUS_PROPERTY):
            return task.properties[STATUS_PROPERTY]
    # No human task open: an event the instance waits on (a parcel, say) may name the status.
    for task in workflow.get_tasks(state=TaskState.WAITING) if waiting is None else waiting:
        # an event-based gateway waits itself, but SpiffWorkflow reads no properties of a gateway: its branches'
        # catch events name the status then
        specs = [task.task_spec, *(task.task_spec.outputs if isinstance(task.task_spec, EventBasedGateway) else ())]
        for spec in specs:
            status = ((getattr(spec, "extensions", None) or {}).get("properties") or {}).get(STATUS_PROPERTY)
            if status:
                return status
    return previous or "received"
