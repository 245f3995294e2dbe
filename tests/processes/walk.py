"""Drive a parsed bundle through engine.execution.runtime the way the services do, restoring state at every wait."""

from __future__ import annotations

import json
from dataclasses import dataclass

from SpiffWorkflow.util.task import TaskState

from engine.execution.runtime import ReadyTask, Runtime, _walk, instance_status
from engine.process.forms import validate_submission

SPEC_KEYS = {"task_specs", "subprocess_specs"}


@dataclass(frozen=True)
class Step:
    """What the open human task must look like when the walk reaches it."""

    name: str
    lane: str
    role: str
    status: str
    stage: str


RECORD_CONDITION = Step("record_condition", "Reception", "reception", "received", "intake")
DIAGNOSE = Step("diagnose", "Technician", "technician", "diagnosing", "diagnosis")
CUSTOMER_APPROVAL = Step("customer_approval", "Customer", "customer", "awaiting_approval", "approval")
REPAIR = Step("repair", "Technician", "technician", "repairing", "repair")
QA_CHECK = Step("qa_check", "QA", "qa", "quality_check", "qa")
SHIP_RETURN = Step("ship_return", "Reception", "reception", "returning", "return")

INTAKE_FORM = {
    "condition_grade": "B",
    "condition_notes": "Scratches on the lid",
    "accessories": "Charger",
    "customer_acknowledged": True,
}
REPAIR_FORM = {"repair_notes": "Replaced the main board", "parts_used": "MB-100"}
SHIP_FORM = {"carrier": "DHL", "tracking_number": "JD0001"}


def start_data(
    purchase_date="2023-01-10", received_on="2024-06-03", centre="SG", currency="SGD", labour_rate=60, **extra
) -> dict:
    data = {
        "rma_number": f"RMA-{centre}-0001",
        "centre": centre,
        "currency": currency,
        "labour_rate": labour_rate,
        "purchase_date": purchase_date,
        "received_on": received_on,
        # what engine.services.register.start_inputs adds: no register entry, so the purchase date counts
        "warranty_start_date": purchase_date,
        "warranty_date_basis": "purchase",
        "product_model": "Vista X100 Camera",
        "serial_number": "SN-42",
        "product_category": "camera",
        "fault_description": "Does not power on",
        "customer_name": "Kim Tan",
        "customer_email": "kim@example.com",
        # what engine.services.catalogue.start_facts adds: a unit brought to the counter, a model
        # the catalogue does not know (24-month warranty, no replacement value: repair only)
        "channel": "counter",
        "warranty_months": 24,
        "replacement_value": 0,
        "replacement_currency": currency,
        "has_successor": False,
        "successor_model": None,
        "successor_value": 0,
        "known_issues": [],
    }
    data.update(extra)
    return data


def diagnosis(fault_category="electronic", parts_cost=None, labour_hours=None) -> dict:
    form = {"diagnosis": f"Found: {fault_category}", "fault_category": fault_category}
    if parts_cost is not None:
        form["parts_cost"] = parts_cost
    if labour_hours is not None:
        form["labour_hours"] = labour_hours
    return form


def _items(value):
    """Every (key, value) pair at any depth of a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _items(item)
    elif isinstance(value, list):
        for item in value:
            yield from _items(item)


def check_snapshot(rt: Runtime, wf) -> None:
    """Runtime.snapshot's one walk finds what SpiffWorkflow's walks find, in the same order, including where a
    low depth limit cuts SpiffWorkflow's walks short (its depth counter followed exactly)."""
    snapshot = rt.snapshot(wf)
    assert [t.id for t in snapshot.ready] == [t.id for t in rt.ready_tasks(wf)]
    assert snapshot.failed == rt.failed_tasks(wf)
    for max_depth in (1000, *range(1, 41)):
        found = _walk(wf, max_depth)
        # None (left to SpiffWorkflow's walks) only where a depth limit stops the READY/WAITING walk above a
        # finished task, which the shipped diagrams never have: here it would mean a miscounted depth
        assert found is not None, max_depth
        for got, state in zip(found, (TaskState.READY, TaskState.ERROR, TaskState.COMPLETED, TaskState.WAITING)):
            manual = True if state == TaskState.READY else None
            want = wf.get_tasks(state=state, manual=manual, max_depth=max_depth)
            assert [t.id for t in got] == [t.id for t in want], (TaskState.get_name(state), max_depth)


class Walk:
    """One RMA instance; every wait is a dump/load round trip, as between two web requests."""

    def __init__(self, parsed, data: dict):
        self.parsed = parsed
        self.start = dict(data)
        self.submitted: list[tuple[str, dict]] = []  # (task, clean form) in order: the walk can be replayed
        self.rt = Runtime()
        self.wf = self.rt.start(parsed, data)
        self.status: str | None = None
        self.done: list[ReadyTask] = []
        self.statuses: list[str] = []

    def restore(self) -> None:
        state = self.rt.dump(self.wf)
        dct = json.loads(state)
        pairs = list(_items(dct))
        leaked = SPEC_KEYS & {key for key, _ in pairs}
        assert not leaked, f"the stored state carries specs: {leaked}"
        # subprocess state names its spec; it must not embed it
        assert all(isinstance(v, str) for k, v in pairs if k == "spec")
        self.wf = self.rt.load(self.parsed, state)
        assert json.loads(self.rt.dump(self.wf)) == dct, "dump -> load -> dump changed the state"

    def wait(self) -> list[ReadyTask]:
        """Restore, then list the open tasks and refresh the RMA status as the services do."""
        self.restore()
        check_snapshot(self.rt, self.wf)
        ready = self.rt.ready_tasks(self.wf)
        self.status = instance_status(self.rt, self.wf, ready, self.status)
        self.statuses.append(self.status)
        return ready

    def do(self, step: Step, form: dict) -> ReadyTask:
        """Check the single open task against `step`, then submit `form` through its JSON Schema."""
        ready = self.wait()
        assert [t.name for t in ready] == [step.name]
        task = ready[0]
        assert (task.lane, task.role, task.stage) == (step.lane, step.role, step.stage)
        assert task.properties.get("rmaStatus") == step.status
        assert self.status == step.status
        clean = validate_submission(self.parsed.form(task.form_file), form)
        self.rt.complete(self.wf, task.id, clean)
        self.submitted.append((task.name, clean))
        self.done.append(task)
        return task

    def finish(self) -> dict:
        """The instance must have ended: no open task, status closed. Returns the final data."""
        ready = self.wait()
        assert ready == []
        assert self.wf.is_completed()
        assert self.status == "closed"
        return self.data

    @property
    def data(self) -> dict:
        return self.rt.current_data(self.wf)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.done]

    def flows_taken(self) -> set[tuple[str, str, str]]:
        """(process id, source element, target element) for every transition the instance made."""
        taken = set()
        for task in self.wf.get_tasks(state=TaskState.COMPLETED):
            parent = task.parent
            while (
                parent is not None
                and not parent.task_spec.bpmn_id
                and parent.parent is not None
                and parent.parent.workflow is task.workflow
            ):
                parent = parent.parent  # a boundary event's split is structure, not a BPMN element
            if parent is None or not parent.task_spec.bpmn_id or not task.task_spec.bpmn_id:
                continue
            if parent.workflow is not task.workflow:
                continue
            taken.add((task.workflow.spec.name, parent.task_spec.bpmn_id, task.task_spec.bpmn_id))
        return taken
