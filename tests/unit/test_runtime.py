"""Runtime edges: unknown and closed tasks, failing scripts, code hidden in decisions, status fallback."""

from __future__ import annotations

import pytest

from engine.errors import InvalidProcess, ProcessScriptError, TaskAlreadyCompleted, TaskNotFound
from engine.execution.runtime import ReadyTask, Runtime, instance_status
from engine.process.definitions import parse_bundle, read_bundle_dir
from engine.sandbox import SandboxViolation
from tests.conftest import PROCESSES_DIR
from tests.processes.walk import INTAKE_FORM, diagnosis, start_data

DMN = "decisions/warranty.dmn"
EVIL_CELL = "<text>__import__('os').getcwd()</text>"


@pytest.fixture(scope="module")
def parsed():
    return parse_bundle(read_bundle_dir(PROCESSES_DIR))


@pytest.fixture
def rt():
    return Runtime()


def _to_first_decision(rt, parsed, **start):
    """Start and complete intake and an out-of-warranty diagnosis."""
    wf = rt.start(parsed, start_data(purchase_date="2019-01-01", received_on="2024-01-01", **start))
    rt.complete(wf, rt.ready_tasks(wf)[0].id, INTAKE_FORM)
    rt.complete(wf, rt.ready_tasks(wf)[0].id, diagnosis("sensor", parts_cost=10, labour_hours=1))
    return wf


@pytest.mark.parametrize("task_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_completing_an_unknown_task_raises_task_not_found(rt, parsed, task_id):
    wf = rt.start(parsed, start_data())
    with pytest.raises(TaskNotFound):
        rt.complete(wf, task_id, INTAKE_FORM)


def test_completing_a_task_twice_raises_task_already_completed(rt, parsed):
    wf = rt.start(parsed, start_data())
    [task] = rt.ready_tasks(wf)
    rt.complete(wf, task.id, INTAKE_FORM)
    wf = rt.load(parsed, rt.dump(wf))
    with pytest.raises(TaskAlreadyCompleted):
        rt.complete(wf, task.id, INTAKE_FORM)
    assert [t.name for t in rt.ready_tasks(wf)] == ["diagnose"]


def test_a_failing_script_raises_process_script_error_naming_the_task(rt, parsed):
    data = start_data(purchase_date="2019-01-01", received_on="2024-01-01")
    del data["labour_rate"]
    wf = rt.start(parsed, data)
    rt.complete(wf, rt.ready_tasks(wf)[0].id, INTAKE_FORM)
    with pytest.raises(ProcessScriptError) as info:
        rt.complete(wf, rt.ready_tasks(wf)[0].id, diagnosis("sensor", parts_cost=10, labour_hours=1))
    assert info.value.task == "compute_quote"
    assert "labour_rate" in info.value.message


def test_escaping_code_in_a_decision_cell_is_refused_at_deploy():
    files = read_bundle_dir(PROCESSES_DIR)
    files[DMN] = files[DMN].replace('<text>f"Within the {warranty_months}-month warranty"</text>', EVIL_CELL)
    with pytest.raises(InvalidProcess) as info:
        parse_bundle(files)
    assert any(e["file"] in (DMN, "stages/rma_warranty.bpmn") for e in info.value.errors)


def test_escaping_code_in_a_decision_cell_is_refused_when_the_decision_runs(rt):
    """Defence in depth: a table that got past deploy (e.g. an older engine deployed it) still cannot run it."""
    parsed = parse_bundle(read_bundle_dir(PROCESSES_DIR))
    table = parsed.subprocess_specs["rma_warranty"].task_specs["check_warranty"].dmnEngine.decision_table
    expired = next(r for r in table.rules if r.id == "rule_warranty_expired")
    expired.outputEntries[1].text = EVIL_CELL[len("<text>") : -len("</text>")]
    with pytest.raises(ProcessScriptError) as info:
        _to_first_decision(rt, parsed)
    assert info.value.task == "check_warranty"
    causes, exc = [], info.value
    while exc is not None:
        causes.append(exc)
        exc = exc.__cause__ or exc.__context__
    assert any(isinstance(c, SandboxViolation) for c in causes), "the cell must be refused before it runs"


def test_status_comes_from_the_open_task_else_the_previous_status(rt, parsed):
    wf = rt.start(parsed, start_data())
    plain = ReadyTask("id", "x", "X", None, "reception", "intake", None, {})
    assert instance_status(rt, wf, [], None) == "received"
    assert instance_status(rt, wf, [plain], "diagnosing") == "diagnosing"
    assert instance_status(rt, wf, rt.ready_tasks(wf), "diagnosing") == "received"


def test_current_data_is_the_open_task_data(rt, parsed):
    wf = _to_first_decision(rt, parsed, labour_rate=75)
    data = rt.current_data(wf)
    assert data["quote_total"] == 85
    assert data["in_warranty"] is False
