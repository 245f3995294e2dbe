"""Issue 20.19: Decimal operands are bounded (digits and exponent) wherever process code runs, so no single C
call runs long, and non-finite numbers never reach task data. The RMA goes to incident; nothing is a 500.
The engine tests run on SQLite and PostgreSQL; the sandbox ones need no database."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from engine import Actor
from engine.errors import EngineError
from engine.process.definitions import read_bundle_dir
from engine.sandbox import SandboxEnvironment, SandboxViolation
from engine.services import operations, processes, rmas, tasks
from engine.store.model import Instance
from tests.bpmn_edit import insert_node
from tests.conftest import PROCESSES_DIR
from tests.driver import complete_open_task, only_task
from tests.helpers import INTAKE, actor, rma_payload

APPROVAL = "stages/rma_approval.bpmn"
INTAKE_BPMN = "stages/rma_intake.bpmn"
QUOTE = "round(parts_cost + labour_hours * labour_rate, 2)"
DIAGNOSIS = {"diagnosis": "Sensor dead", "fault_category": "sensor", "parts_cost": 10, "labour_hours": 1}
HUGE = "Decimal('7' * 8000 + '7' * 8000)"  # 16,000 digits: pow(HUGE, Decimal('0.5')) is 12-20 s of one C call
SLOW_POW = f"pow({HUGE}, Decimal('0.5'))"


@pytest.mark.parametrize(
    "code",
    [
        SLOW_POW,
        f"{HUGE} + 1",
        f"pow(Decimal('0.5'), {HUGE})",
        "Decimal('1e999999') * 2",
        "Decimal('1e-5000')",
        "Decimal(int('9' * 1000))",  # 1,000 digits from an int
        "Decimal(10) ** 64 * Decimal(10) ** 64 * Decimal(10) ** 64 * x * x",  # the exponent grows past 2,400
        "Decimal('sNaN')",
        "Decimal('NaN')",
        "Decimal('-Infinity')",
        "Decimal(float('inf'))",
        "big.quantize(Decimal('0.01'))",
        "pow(big, Decimal('0.5'))",
        "big > 0 and pow(big, Decimal('0.5'))",
    ],
)
@pytest.mark.parametrize("mode", ["condition", "script"])
def test_decimals_beyond_the_bounds_are_refused_at_once(code, mode):
    """Gateway conditions, DMN cells and timer expressions are `evaluate`d, scripts `execute`d: both refuse."""
    env = SandboxEnvironment()
    data = {"x": Decimal("1e2000"), "big": Decimal("9" * 5_000)}  # `big`: stored before the bounds
    started = time.monotonic()
    with pytest.raises((SandboxViolation, ArithmeticError)):
        if mode == "condition":
            env.evaluate(code, data)
        else:
            env.execute(f"result = {code}", data)
    assert time.monotonic() - started < 1.0
    assert "result" not in data


@pytest.mark.parametrize("code", ["Decimal('12.50') * 3", "pow(Decimal('1.05'), Decimal('2.5'))", "Decimal(0.1)"])
def test_ordinary_decimals_still_work(code):
    env = SandboxEnvironment()
    data: dict = {}
    env.execute(f"result = {code}", data)
    assert isinstance(data["result"], Decimal)


@pytest.mark.parametrize(
    "value", ["Decimal('sNaN') if 0 else float('nan')", "float('inf')", "[1, {'a': float('-inf')}]"]
)
def test_non_finite_numbers_are_refused_in_task_data(value):
    env = SandboxEnvironment()
    data = {"kept": 1}
    with pytest.raises(SandboxViolation, match="not a finite number"):
        env.execute(f"left = {value}", data)
    assert data == {"kept": 1}


# On the engine, both databases.


def _deploy(orc, name: str, old: str, new: str) -> None:
    files = read_bundle_dir(PROCESSES_DIR)
    assert old in files[name]
    files[name] = files[name].replace(old, new)
    processes.deploy_bundle(orc, Actor("owner", "process_owner"), files, note="test")


def _at_diagnosis(orc, months_old=40):
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=months_old))
    complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
    return rma


def _diagnose(orc, rma_id: int, data: dict = DIAGNOSIS) -> dict:
    return tasks.complete_task(orc, actor(orc, "sg.tech"), only_task(orc, "sg.tech", rma_id)["id"], data)


@pytest.mark.parametrize(
    "where",
    [
        (APPROVAL, QUOTE, SLOW_POW, "compute_quote", "16000 digits"),  # a script
        # a DMN cell: the warranty table's input test
        (
            "decisions/warranty.dmn",
            "<text>&gt; warranty_months</text>",
            f"<text>&gt; {SLOW_POW}</text>",
            "check_warranty",
            "Rule failed",  # SpiffWorkflow's words for a cell that raised
        ),
    ],
    ids=["script", "dmn_cell"],
)
def test_a_slow_pow_is_an_incident_within_a_moment(orc, where):
    name, old, new, element, said = where
    _deploy(orc, name, old, new)
    rma = _at_diagnosis(orc)
    started = time.monotonic()
    result = _diagnose(orc, rma["id"])
    elapsed = time.monotonic() - started
    assert result["rma"]["status"] == "incident"
    assert elapsed < 5, elapsed  # the pow itself would be 12-20 s of one C call holding the GIL
    [incident] = operations.list_incidents(orc, actor(orc, "manager"))["items"]
    assert incident["task"] == element and said in incident["error"]


def test_a_script_leaving_a_non_finite_number_fails_and_later_rmas_are_unaffected(orc):
    # (the other non-finite values are refused the same way: test_non_finite_numbers_are_refused_in_task_data)
    _deploy(orc, APPROVAL, QUOTE, "Decimal('sNaN')")
    rma = _at_diagnosis(orc)
    assert _diagnose(orc, rma["id"])["rma"]["status"] == "incident"
    [incident] = operations.list_incidents(orc, actor(orc, "manager"))["items"]
    assert incident["task"] == "compute_quote"
    assert "not a finite number" in incident["error"] or "not allowed" in incident["error"]
    # every later RMA opens and walks as before
    other = _at_diagnosis(orc)
    assert rmas.get_rma(orc, actor(orc, "manager"), other["id"])["status"] == "diagnosing"


def test_a_form_submitting_nan_is_refused(orc):
    rma = _at_diagnosis(orc)
    with pytest.raises(EngineError) as info:
        _diagnose(orc, rma["id"], {**DIAGNOSIS, "parts_cost": float("nan")})
    assert info.value.status == 422
    assert rmas.get_rma(orc, actor(orc, "manager"), rma["id"])["status"] == "diagnosing"


def test_a_signalling_nan_on_the_start_path_opens_the_rma_in_incident_not_a_500(orc):
    """A script the instance runs as it starts (before its first task): a failure there used to refuse every
    RMA creation with a 500; now each RMA is opened and waits in an incident naming the script."""
    files = read_bundle_dir(PROCESSES_DIR)
    xml = insert_node(files[INTAKE_BPMN], "start", "bpmn:scriptTask", "left_nan", "Left a NaN", {})
    xml = xml.replace(
        "<bpmn:outgoing>flow_left_nan_out</bpmn:outgoing>",
        "<bpmn:outgoing>flow_left_nan_out</bpmn:outgoing><bpmn:script>x = Decimal('sNaN')</bpmn:script>",
    )
    processes.deploy_bundle(orc, Actor("owner", "process_owner"), {**files, INTAKE_BPMN: xml}, note="sNaN")
    for _ in range(2):
        rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=40))
        assert rma["status"] == "incident"
    incidents = operations.list_incidents(orc, actor(orc, "manager"))["items"]
    assert [i["task"] for i in incidents] == ["left_nan", "left_nan"]
    assert "not a finite number" in incidents[0]["error"]
    # a fixed version, a retry: the RMA goes on to its first task
    fixed = xml.replace("x = Decimal('sNaN')", "x = Decimal('0')")
    processes.deploy_bundle(orc, Actor("owner", "process_owner"), {**files, INTAKE_BPMN: fixed}, note="fixed")
    result = operations.retry_incident(orc, actor(orc, "manager"), rma["id"], on_current_version=True)
    assert result["incident"]["status"] == "resolved" and result["rma"]["status"] != "incident"


def test_decimals_a_script_leaves_are_stored_and_read_back(orc):
    """A Decimal in task data used to fail the save (not JSON serialisable): every command a 500."""
    _deploy(orc, APPROVAL, QUOTE, "Decimal('12.50') * 3")
    rma = _at_diagnosis(orc)
    assert _diagnose(orc, rma["id"])["rma"]["status"] == "awaiting_approval"
    orc.instances._items.clear()  # the next command restores the stored state
    view = rmas.get_rma(orc, actor(orc, "manager"), rma["id"])
    assert Decimal(str(view["quote_total"])) == Decimal("37.50")
    with orc.uow() as uow:
        instance = uow.session.get(Instance, rma["id"])
        workflow = orc.runtime.load(orc.parsed_bundle(uow.session, instance.bundle_id), instance.state)
        assert orc.runtime.current_data(workflow)["quote_total"] == Decimal("37.50")
