"""SpiffWorkflow's workflow classes with fewer walks of the task tree: same tasks, same order.

SpiffWorkflow 3.2 finds what to run by walking the whole task tree, subprocesses included, with its
task iterator: once per engine round for every active subprocess and again for the top workflow,
after every task completion for WAITING tasks, and once per log record of a workflow to list every
task id (even when that record is then dropped). On the shipped RMA process that is about seventy
walks per command, most of them finding nothing. Each workflow also keeps a flat dict of its tasks;
a look through it answers "is there anything to find?" for a fraction of a walk's cost. The classes
here ask that first and walk, exactly as SpiffWorkflow does, only when the walk can find something,
so which tasks run and in which order is unchanged (tests/processes/test_stepping.py compares them).

The serializer restores stored instances into these classes under SpiffWorkflow's own type names
(engine/execution/runtime.py), so stored state is the same as before and stays readable by stock SpiffWorkflow.
"""

from __future__ import annotations

import logging

from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.sandbox.limits import current_command

_READY = TaskState.READY
_WAITING = TaskState.WAITING
_FUTURE = TaskState.FUTURE
_PREDICTED = TaskState.PREDICTED_MASK  # MAYBE or LIKELY
_WALK_MAX_DEPTH = 1000  # SpiffWorkflow's task iterator's default max_depth
_WORKFLOW_LOG = logging.getLogger("spiff.workflow")  # the logger SpiffWorkflow's Workflow writes to


def _has_state(workflow, state: int) -> bool:
    for task in workflow.tasks.values():
        if task._state == state:
            return True
    return False


class _CountedTasks(dict):
    """A workflow's tasks by id, counting each new one against the running command's budget: a task that
    creates very many (a multi-instance of a huge cardinality) is stopped while it creates them."""

    __slots__ = ()

    def __setitem__(self, key, value) -> None:
        if key not in self:
            budget = current_command()
            if budget is not None:
                if budget.tasks_left <= 0 and self:
                    # this one goes over: the element creating them is the nearest task above the last one
                    # created (the one being created here has no parent yet) that is not merely predicted
                    parent = next(reversed(self.values())).parent
                    while parent is not None and parent._state & _PREDICTED:
                        parent = parent.parent
                    budget.element = parent.task_spec.bpmn_id if parent is not None else budget.element
                budget.task_created()
        dict.__setitem__(self, key, value)


class _FewerWalks:
    """What the top workflow and its subprocesses share."""

    _tasks: _CountedTasks

    @property
    def tasks(self) -> _CountedTasks:
        return self._tasks

    @tasks.setter
    def tasks(self, tasks: dict) -> None:
        self._tasks = tasks if type(tasks) is _CountedTasks else _CountedTasks(tasks)

    def update_waiting_tasks(self) -> None:
        # run after every task completion; the walk (this workflow's tree only) mostly finds nothing
        if _has_state(self, _WAITING):
            super().update_waiting_tasks()  # type: ignore[misc]  # a mixin: BpmnWorkflow's or BpmnSubWorkflow's

    def collect_log_extras(self, dct=None):
        # SpiffWorkflow lists every task id here whenever its logger's own level is unset: a walk for a
        # record that is dropped unless INFO is on. Only an emitted record needs its extras.
        if _WORKFLOW_LOG.isEnabledFor(logging.INFO):
            return super().collect_log_extras(dct)
        return dct or {}


class EngineSubWorkflow(_FewerWalks, BpmnSubWorkflow):
    """A call activity's or embedded subprocess's workflow."""


class EngineWorkflow(_FewerWalks, BpmnWorkflow):
    """The top workflow of an instance."""

    failure: Exception | None = None  # what failed while it started (engine.execution.runtime.Runtime.start)

    def create_subprocess(self, my_task, spec_name):
        subprocess = EngineSubWorkflow(self.subprocess_specs[spec_name], parent_task_id=my_task.id, top_workflow=self)
        self.subprocesses[my_task.id] = subprocess
        return subprocess

    def _reach(self, workflow):
        """The workflows a walk of `workflow` may enter, each once: itself, then the subprocesses started from
        its tasks, and theirs (for the top workflow: every subprocess)."""
        yield workflow
        if workflow is self:
            yield from self.subprocesses.values()
            return
        for subprocess in self.subprocesses.values():
            if subprocess.parent_task_id in workflow.tasks:
                yield from self._reach(subprocess)

    def _automatic_ready(self, workflow) -> list:
        """Up to two READY tasks the engine runs itself that a walk of `workflow` may meet: a superset of
        what the walk finds, cut at two (all a caller needs to know is none, one or more)."""
        found = []
        for reached in self._reach(workflow):
            for task in reached.tasks.values():
                if task._state == _READY and not task.task_spec.manual:
                    found.append(task)
                    if len(found) > 1:
                        return found
        return found

    def runnable(self) -> bool:
        """Whether a task the engine runs itself (not a human task) is READY anywhere in the instance."""
        return bool(self._automatic_ready(self))

    def _walk_meets(self, task, workflow) -> bool:
        """Whether SpiffWorkflow's walk of `workflow` for READY tasks visits `task`.

        The walk descends from a task into its children when the task is not merely predicted (or has
        a subprocess), and from a task with a subprocess into that subprocess's root; it also stops
        descending at a depth counter of 1000, which it cannot reach while the instance has fewer tasks
        than that (the counter goes up by at most one per task visited)."""
        if sum(len(sp.tasks) for sp in self.subprocesses.values()) + len(self.tasks) >= _WALK_MAX_DEPTH:
            return False
        root, subprocesses = workflow.task_tree, self.subprocesses
        while task is not root:
            parent = task.parent
            if parent is None:  # a subprocess's root: the walk comes in from the task that started it
                if task.workflow is self:
                    return False
                parent = self.get_task_from_id(task.workflow.parent_task_id)
                if parent is None:
                    return False
            elif parent._state < _FUTURE and parent.id not in subprocesses:
                return False
            task = parent
        return True

    def _do_engine_steps(self, will_complete_task=None, did_complete_task=None):
        # SpiffWorkflow 3.2's round with a look before each walk: the deepest active subprocesses first,
        # each until nothing more runs in it, then its calling task is updated; then one pass over the top
        # workflow. A pass runs, in walk order, the READY tasks that are not human tasks; with none there
        # is nothing to walk for, and with one the walk would give just that one when it meets it.
        def run_ready(workflow) -> int:
            found = self._automatic_ready(workflow)
            if not found:
                return 0
            if len(found) == 1 and self._walk_meets(found[0], workflow):
                tasks = found
            else:
                tasks = [task for task in workflow.get_tasks(state=_READY) if not task.task_spec.manual]
            for task in tasks:
                if will_complete_task is not None:
                    will_complete_task(task)
                task.run()
                if did_complete_task is not None:
                    did_complete_task(task)
            return len(tasks)

        active = self.get_active_subprocesses()
        for subprocess in sorted(active, key=lambda sp: sp.depth, reverse=True):
            while run_ready(subprocess) > 0:
                pass
            if subprocess.parent_task_id is not None:
                caller = self.get_task_from_id(subprocess.parent_task_id)
                caller.task_spec._update(caller)
        ran = run_ready(self)
        return ran > 0 or len(self.get_active_subprocesses()) > len(active)
