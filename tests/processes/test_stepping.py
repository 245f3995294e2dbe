"""The engine's workflow classes (engine/execution/stepping.py) run the same tasks in the same order as stock
SpiffWorkflow.

Each path is driven twice side by side, once on SpiffWorkflow's BpmnWorkflow and once on EngineWorkflow,
with a dump/load round trip before every command; after every command the tasks each engine ran, in
order, and every task of the instance (tree order, state, data) must be the same. The paths are the
process tests' own walks, replayed from what they submitted, plus a message and two timer paths.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
import time_machine
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine.execution.runtime import Runtime, StateOnlyWorkflowConverter
from engine.execution.stepping import EngineSubWorkflow, EngineWorkflow
from tests.processes import test_approval_timers as timers
from tests.processes import test_repair_or_replace_paths as offers
from tests.processes import test_rma_paths as base
from tests.processes import test_triage_paths as triage
from tests.processes import test_variant_paths as variants
from tests.processes.walk import INTAKE_FORM, REPAIR_FORM, SHIP_FORM, diagnosis, start_data

STOCK = BpmnWorkflowSerializer(
    BpmnWorkflowSerializer.configure({**SPIFF_CONFIG, BpmnWorkflow: StateOnlyWorkflowConverter})
)

# (bundle fixture, walk) for the process tests' walks that only submit forms
WALKS = [
    ("parsed", base.walk_in_warranty_repair),
    ("parsed", base.walk_approved_repair_failing_qa_once),
    ("parsed", base.walk_declined_quote),
    ("parsed", base.walk_no_fault_found),
    ("parsed", offers.walk_replaced),
    ("parsed", offers.walk_traded_in),
    ("parsed", triage.walk_solved_by_the_customer),
    ("parsed", triage.walk_resolved_remotely_by_staff),
    ("parsed_de", variants.walk_factory_repair),
    ("parsed_de", variants.walk_in_house_repair),
    ("parsed_de", variants.walk_approved_factory_repair_failing_qa_then_repaired_here),
    ("parsed_sg", variants.walk_long_repair_with_loan_unit),
    ("parsed_sg", variants.walk_long_repair_loan_declined),
    ("parsed_sg", variants.walk_short_repair_without_loan),
    ("parsed_sg", variants.walk_long_repair_declined),
]
QUOTED = [("record_condition", INTAKE_FORM), ("diagnose", diagnosis("mechanical", parts_cost=100, labour_hours=2))]


class Side:
    """One instance on one workflow class; the tasks the engine ran are recorded per command."""

    def __init__(self, rt: Runtime, bundle, cls, data: dict):
        self.rt, self.bundle, self.ran = rt, bundle, []
        self.wf = cls(bundle.spec, bundle.subprocess_specs, script_engine=rt.script_engine)
        self.wf.task_tree.data.update(data)
        self.wf.get_next_task(state=TaskState.READY).data.update(data)
        self._steps()

    def _steps(self) -> None:
        ran = []
        for _ in range(2):  # the runtime's second round, for a timer the first one's refresh made due
            self.wf.do_engine_steps(did_complete_task=lambda t: ran.append((t.workflow.spec.name, t.task_spec.name)))
        self.ran.append(ran)

    def restore(self) -> None:
        """A wait between two requests; the stock side is restored by a stock SpiffWorkflow serializer."""
        if type(self.wf) is EngineWorkflow:
            self.wf = self.rt.load(self.bundle, self.rt.dump(self.wf))
            return
        dct = json.loads(self.rt.dump(self.wf), cls=STOCK.json_decoder_cls)
        self.wf = STOCK.from_dict(dct, spec=self.bundle.spec, subprocess_specs=self.bundle.subprocess_specs)
        self.wf.script_engine = self.rt.script_engine

    def apply(self, op) -> None:
        kind, name, value = op
        if kind == "do":
            [task] = [t for t in self.wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == name]
            task.set_data(**value)
            task.run()
        elif kind == "message":
            self.wf.send_event(BpmnEvent(MessageEventDefinition(name), payload=dict(value)))
        # "clock": the clock has moved; the rounds below fire what came due
        self._steps()

    def tree(self) -> list:
        return [(t.workflow.spec.name, t.task_spec.name, t.state, t.data) for t in self.wf.get_tasks()]


def drive(bundle, data: dict, ops: list, clock=None) -> tuple[Side, Side]:
    rt = Runtime()
    stock, ours = (Side(rt, bundle, cls, data) for cls in (BpmnWorkflow, EngineWorkflow))
    for op in ops:
        if op[0] == "clock":
            clock.move_to(op[2])
        for side in (stock, ours):
            side.restore()
        assert ours.tree() == stock.tree(), op[:2]
        for side in (stock, ours):
            side.apply(op)
        assert ours.ran == stock.ran, op[:2]
    assert ours.tree() == stock.tree()
    assert type(ours.wf) is EngineWorkflow and type(stock.wf) is BpmnWorkflow
    assert ours.wf.subprocesses and all(type(sp) is EngineSubWorkflow for sp in ours.wf.subprocesses.values())
    assert all(type(sp).__name__ == "BpmnSubWorkflow" for sp in stock.wf.subprocesses.values())
    return stock, ours


@pytest.mark.parametrize("fixture,walk", WALKS, ids=[w.__name__ for _, w in WALKS])
def test_a_walk_runs_the_same_tasks_in_the_same_order(request, fixture, walk):
    bundle = request.getfixturevalue(fixture)
    done = walk(bundle)
    stock, ours = drive(bundle, done.start, [("do", name, form) for name, form in done.submitted])
    assert ours.wf.is_completed() == done.wf.is_completed()
    assert [t.task_spec.name for t in ours.wf.get_tasks()] == [t.task_spec.name for t in done.wf.get_tasks()]
    assert sum(map(len, ours.ran)) > 2 * len(done.submitted)  # gateways, scripts and call activities ran


def test_a_message_runs_the_same_tasks_in_the_same_order(parsed):
    ops = [("do", *step) for step in QUOTED] + [
        ("message", "goodwill_proposed", {"kind": "discount", "amount": 50, "reason": "Loyal"}),
        ("do", "approve_goodwill", {"goodwill_approved": True, "goodwill_notes": "OK"}),
        ("do", "customer_approval", {"approve": True}),
        ("do", "repair", REPAIR_FORM),
        ("do", "qa_check", {"qa_passed": True}),
        ("do", "ship_return", SHIP_FORM),
    ]
    stock, ours = drive(parsed, start_data(**timers.OUT_OF_WARRANTY), ops)
    assert ours.wf.is_completed() and ours.wf.data["quote_total"] == 170


@pytest.mark.parametrize(
    "after_reminder",
    [
        [
            ("do", "customer_approval", {"approve": True}),
            ("do", "repair", REPAIR_FORM),
            ("do", "qa_check", {"qa_passed": True}),
            ("do", "ship_return", SHIP_FORM),
        ],
        [("clock", "expiry", timers.T0 + timedelta(days=14, seconds=1)), ("do", "ship_return", SHIP_FORM)],
    ],
    ids=["reminded_then_approved", "expired"],
)
def test_timers_fire_the_same_tasks_in_the_same_order(parsed, after_reminder):
    ops = [("do", *step) for step in QUOTED] + [("clock", "reminder", timers.T0 + timedelta(days=3, seconds=1))]
    with time_machine.travel(timers.T0, tick=False) as clock:
        stock, ours = drive(parsed, start_data(**timers.OUT_OF_WARRANTY), ops + after_reminder, clock)
    fired = [name for ran in ours.ran for _, name in ran]
    assert "approval_reminder" in str(fired) and ours.wf.is_completed()


def test_restored_instances_are_engine_workflows_and_store_spiffworkflows_type_names(parsed):
    rt = Runtime()
    restored = rt.load(parsed, rt.dump(rt.start(parsed, start_data())))
    assert type(restored) is EngineWorkflow
    assert restored.subprocesses and all(type(sp) is EngineSubWorkflow for sp in restored.subprocesses.values())
    state = rt.dump(restored)
    assert b'"typename":"BpmnWorkflow"' in state and b'"typename":"BpmnSubWorkflow"' in state
    assert b"EngineWorkflow" not in state and b"EngineSubWorkflow" not in state


def test_workflow_log_records_carry_what_stock_spiffworkflow_gives_them_when_info_is_on(parsed, caplog):
    caplog.set_level(logging.INFO, logger="spiff")  # spiff.workflow's own level stays unset, as by default
    records = {}
    for cls in (BpmnWorkflow, EngineWorkflow):
        caplog.clear()
        Side(Runtime(), parsed, cls, start_data())
        records[cls] = [
            (r.message, r.workflow_spec, len(getattr(r, "tasks", ())))
            for r in caplog.records
            if r.name == "spiff.workflow"
        ]
    assert records[EngineWorkflow] == records[BpmnWorkflow]
    assert len(records[EngineWorkflow]) > 1 and all(n > 0 for _, _, n in records[EngineWorkflow])


@pytest.mark.parametrize(
    "fixture,walk",
    [
        ("parsed", base.walk_approved_repair_failing_qa_once),
        ("parsed_de", variants.walk_approved_factory_repair_failing_qa_then_repaired_here),
    ],
    ids=["base", "DE"],
)
def test_the_shortcut_knows_which_tasks_a_walk_of_each_workflow_meets(request, fixture, walk):
    """EngineWorkflow runs a lone READY task without walking only where SpiffWorkflow's walk would meet it."""
    bundle = request.getfixturevalue(fixture)
    done = walk(bundle)
    rt, checked, unmet = Runtime(), 0, 0
    wf = rt.start(bundle, done.start)
    for name, form in [*done.submitted, (None, None)]:
        wf = rt.load(bundle, rt.dump(wf))
        everything = [wf, *wf.subprocesses.values()]
        for workflow in everything:
            met = {t.id for t in workflow.get_tasks(state=TaskState.DEFINITE_MASK | TaskState.FINISHED_MASK)}
            reach = list(wf._reach(workflow))  # where the look for READY tasks goes: each workflow once
            assert len(reach) == len(set(map(id, reach)))
            assert {t.workflow for t in workflow.get_tasks()} <= set(reach)
            for other in everything:
                for task in other.tasks.values():
                    if task.has_state(TaskState.DEFINITE_MASK | TaskState.FINISHED_MASK):
                        assert wf._walk_meets(task, workflow) == (task.id in met), (name, task.task_spec.name)
                        checked += 1
                        unmet += task.id not in met
        if name is not None:
            [task] = [t for t in rt.ready_tasks(wf) if t.name == name]
            rt.complete(wf, task.id, form)
    assert checked > 1000 and 0 < unmet < checked
