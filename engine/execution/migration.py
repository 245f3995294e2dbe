"""Move a running workflow onto another bundle's specs (SpiffWorkflow's spec diff, our refusal rules).

An instance may move only when nothing it has done or is doing changes meaning: a task that has
run (completed, errored) or is running (ready, waiting, started) must exist in the target version
with the same spec. A running task whose only change is where it leads next (`outputs`) may move;
it simply continues on the new flows. Tasks not reached yet may change freely: their predictions
are rebuilt from the new specs. Every move is tried on the loaded copy and must survive a
dump/restore on the target specs before it counts as possible.
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff
from SpiffWorkflow.util.task import TaskState

from engine.execution.runtime import SERIALIZER
from engine.process.definitions import ParsedBundle

RAN = TaskState.COMPLETED | TaskState.ERROR
RUNNING = TaskState.READY | TaskState.WAITING | TaskState.STARTED
PLANNED = TaskState.PREDICTED_MASK | TaskState.FUTURE
FLOW_ONLY = {"inputs", "outputs"}


class MigrationRefused(Exception):
    """The instance cannot move; `reasons` says why, one line per task or stage."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def _label(task) -> str:
    spec = task.task_spec
    return f"'{getattr(spec, 'bpmn_id', None) or spec.name}' ({task.workflow.spec.name})"


def _diffs(workflow, target: ParsedBundle):
    """[(workflow or subworkflow, target spec or None, SpecDiff or None)] for the top and every subprocess."""
    pairs = [(workflow, target.spec)]
    pairs += [(sp, target.subprocess_specs.get(sp.spec.name)) for sp in workflow.subprocesses.values()]
    return [
        (wf, spec, SpecDiff(SERIALIZER.registry, wf.spec, spec) if spec is not None else None) for wf, spec in pairs
    ]


def refusals(workflow, target: ParsedBundle) -> list[str]:
    """Why `workflow` cannot move to `target` (empty: it can)."""
    reasons = []
    if workflow.spec.name != target.spec.name:
        return [f"the target's top process is '{target.spec.name}', not '{workflow.spec.name}'"]
    for wf, spec, spec_diff in _diffs(workflow, target):
        if spec_diff is None:
            reasons.append(f"stage process '{wf.spec.name}' has run but is not in the target version")
            continue
        removed = set(spec_diff.removed)
        for task in wf.get_tasks(skip_subprocesses=True):
            state = "has already run" if task.state & RAN else "is running" if task.state & RUNNING else None
            if state is None:
                continue
            if task.task_spec in removed:
                reasons.append(f"task {_label(task)} {state} but is removed in the target version")
                continue
            keys = set(spec_diff.changed.get(task.task_spec, []))
            if keys and not (task.state & RUNNING and keys <= FLOW_ONLY):
                reasons.append(
                    f"task {_label(task)} {state} but is changed in the target version ({', '.join(sorted(keys))})"
                )
    return reasons


def _stale(wf, task) -> bool:
    return wf.spec.task_specs.get(task.task_spec.name) is not task.task_spec


def migrate(workflow, target: ParsedBundle) -> None:
    """Re-point the workflow's tasks at the target specs and re-plan what is not decided yet."""
    reasons = refusals(workflow, target)
    if reasons:
        raise MigrationRefused(reasons)
    for wf, spec, spec_diff in _diffs(workflow, target):
        alignment = WorkflowDiff(wf, spec_diff).alignment
        old_outputs = {t.id: [o.name for o in t.task_spec.outputs] for t in wf.get_tasks(skip_subprocesses=True)}
        wf.spec = spec
        for task in wf.get_tasks(skip_subprocesses=True):
            if alignment.get(task) is not None:
                task.task_spec = alignment[task]
        _replan(wf, old_outputs)
    workflow.subprocess_specs = target.subprocess_specs
    left = [
        t for wf, _spec, _d in _diffs(workflow, target) for t in wf.get_tasks(skip_subprocesses=True) if _stale(wf, t)
    ]
    if left:
        raise MigrationRefused([f"task {_label(t)} could not be re-planned on the target version" for t in left])
    if workflow.last_task is not None and workflow.last_task.id not in workflow.tasks:
        workflow.last_task = None


def _replan(wf, old_outputs: dict) -> None:
    """Waiting and ready tasks whose way on changed start over; planned tasks are predicted afresh."""
    for task in list(wf.get_tasks(state=TaskState.READY | TaskState.WAITING, skip_subprocesses=True)):
        if task.id not in wf.tasks:
            continue
        moved_on = [o.name for o in task.task_spec.outputs] != old_outputs.get(task.id)
        if moved_on or any(_stale(wf, d) for d in task if d is not task):
            task.reset_branch(None)
    for task in list(wf.get_tasks(state=TaskState.STARTED, skip_subprocesses=True)):
        if task.id not in wf.tasks:
            continue
        planned = [c for c in task.children if c.state & PLANNED]
        if planned and any(_stale(wf, d) for c in planned for d in c):
            for child in planned:
                wf._remove_task(child.id)
            task.task_spec._predict(task, mask=task.state | PLANNED)
