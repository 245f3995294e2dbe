"""Sections 1 and 2: SpiffWorkflow alone in memory, and the same with a minimal durable loop.

Both use the shipped bundle parsed once and the engine's sandboxed script engine (the process's
scripts need its helpers), but none of our services, ORM or projections. The ceiling is measured on
SpiffWorkflow's own BpmnWorkflow (the issue's definition, and the bound the services' target refers
to) and again on the engine's workflow classes (engine/execution/stepping.py: the same tasks in the same order,
fewer walks of the task tree), which the services use; so is the durable bound, whose engine-class
row is the stricter yardstick for what persistence costs the services.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
from pathlib import Path

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine import sandbox
from engine.execution.runtime import SERIALIZER, StateOnlyWorkflowConverter
from engine.execution.stepping import EngineWorkflow
from engine.process.definitions import parse_bundle, read_bundle_dir

from .common import PROCESSES_DIR, STEPS, repeat_rate, start_data

# restores into SpiffWorkflow's own classes (the engine's SERIALIZER restores into engine/execution/stepping.py's)
STOCK_SERIALIZER = BpmnWorkflowSerializer(
    BpmnWorkflowSerializer.configure({**SPIFF_CONFIG, BpmnWorkflow: StateOnlyWorkflowConverter})
)


def load_bundle():
    return parse_bundle(read_bundle_dir(PROCESSES_DIR))


def _start(bundle, engine, n, cls=EngineWorkflow):
    wf = cls(bundle.spec, bundle.subprocess_specs, script_engine=engine)
    data = start_data(n)
    wf.task_tree.data.update(data)
    wf.get_next_task(state=TaskState.READY).data.update(data)
    wf.do_engine_steps()
    return wf


def _complete_next(wf, name, data):
    task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
    assert task.task_spec.bpmn_id == name, (task.task_spec.bpmn_id, name)
    task.set_data(**data)
    task.run()
    wf.do_engine_steps()


def spiff_lifecycle(bundle, engine, n, cls=EngineWorkflow):
    wf = _start(bundle, engine, n, cls)
    for name, _role, data in STEPS:
        _complete_next(wf, name, data)
    assert wf.is_completed() and wf.data.get("outcome") == "repaired", wf.data.get("outcome")


# ---- the durable bound: state-only JSON round trip + one SQLite WAL commit per task completion


def _dump(wf) -> bytes:
    SERIALIZER.registry._encoder_mode = True
    try:
        return json.dumps(SERIALIZER.to_dict(wf), cls=SERIALIZER._encoder_cls, separators=(",", ":")).encode()
    finally:
        SERIALIZER.registry._encoder_mode = False


def _load(bundle, engine, state: bytes, serializer=SERIALIZER):
    wf = serializer.from_dict(
        json.loads(state, cls=serializer.json_decoder_cls), spec=bundle.spec, subprocess_specs=bundle.subprocess_specs
    )
    wf.script_engine = engine
    return wf


class DurableLoop:
    """Per command: BEGIN IMMEDIATE, read state, restore, apply, dump, UPDATE, COMMIT (WAL, synchronous=NORMAL)."""

    def __init__(self, bundle, engine, path: Path, stock: bool = False):
        """`stock`: SpiffWorkflow's own BpmnWorkflow (started and restored as such), else the engine's classes."""
        self.bundle, self.engine = bundle, engine
        self.cls, self.serializer = (BpmnWorkflow, STOCK_SERIALIZER) if stock else (EngineWorkflow, SERIALIZER)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE instances (id INTEGER PRIMARY KEY, version INTEGER, state BLOB)")

    def lifecycle(self, n):
        wf = _start(self.bundle, self.engine, n, self.cls)
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("INSERT INTO instances VALUES (?, 1, ?)", (n, _dump(wf)))
        self.db.execute("COMMIT")
        for name, _role, data in STEPS:
            self.db.execute("BEGIN IMMEDIATE")
            state, version = self.db.execute("SELECT state, version FROM instances WHERE id = ?", (n,)).fetchone()
            wf = _load(self.bundle, self.engine, state, self.serializer)
            _complete_next(wf, name, data)
            cur = self.db.execute(
                "UPDATE instances SET state = ?, version = ? WHERE id = ? AND version = ?",
                (_dump(wf), version + 1, n, version),
            )
            assert cur.rowcount == 1
            self.db.execute("COMMIT")
        assert wf.is_completed()

    def close(self):
        self.db.close()


def run(results, repeats: int, seconds: float) -> None:
    bundle = load_bundle()
    engine = sandbox.script_engine()
    rates = repeat_rate(lambda n: spiff_lifecycle(bundle, engine, n, BpmnWorkflow), repeats, seconds)
    results.add(
        "1 ceiling",
        "SpiffWorkflow in memory",
        rates,
        "lifecycles/s",
        key="ceiling",
        note="SpiffWorkflow's own BpmnWorkflow",
    )
    rates = repeat_rate(lambda n: spiff_lifecycle(bundle, engine, n), repeats, seconds)
    results.add(
        "1 ceiling",
        "the same, engine's workflow classes",
        rates,
        "lifecycles/s",
        key="ceiling_engine",
        note=f"engine/execution/stepping.py: {statistics.median(rates) / results.values['ceiling']:.2f}x",
    )
    for stock, metric, key in (
        (True, "+ state JSON + SQLite commit/task", "durable"),
        (False, "the same, engine's workflow classes", "durable_engine"),
    ):
        with tempfile.TemporaryDirectory(prefix="rma-bench-") as tmp:
            loop = DurableLoop(bundle, engine, Path(tmp) / "durable.sqlite3", stock=stock)
            try:
                rates = repeat_rate(loop.lifecycle, repeats, seconds)
            finally:
                loop.close()
        ceiling = results.values["ceiling" if stock else "ceiling_engine"]
        results.add(
            "2 durable bound",
            metric,
            rates,
            "lifecycles/s",
            note=f"{statistics.median(rates) / ceiling:.0%} of its ceiling",
            key=key,
        )
