"""Issue 20.20: one command has a budget (engine steps, script time, tasks created). A process that runs away
is stopped, its command rolled back to the last committed state, and the RMA waits in an incident naming the
element; meanwhile the server keeps answering everyone else. On SQLite and PostgreSQL.

The runaway processes are stored the way a bundle deployed before the deploy-time checks is (engine.process
refuses a loop without a wait state now, but a stored bundle is never checked again): the budget is what
stops them at run time."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from sqlalchemy import func, select

from engine import Actor, Orchestrator
from engine.errors import EngineError
from engine.process.definitions import parse_bundle, read_bundle_dir
from engine.services import operations, processes, rmas, tasks
from engine.store.model import AuditEvent, Bundle, HumanTask, Incident, Instance
from tests.conftest import PROCESSES_DIR
from tests.driver import complete_open_task, only_task
from tests.helpers import INTAKE, actor, rma_payload

APPROVAL = "stages/rma_approval.bpmn"
QUOTE = "quote_total = round(parts_cost + labour_hours * labour_rate, 2)"
DIAGNOSIS = {"diagnosis": "Sensor dead", "fault_category": "sensor", "parts_cost": 10, "labour_hours": 1}
# a script that takes a while but stays far under the 2 s a script may run (about 10-50 ms)
BURN = "n = 0\nfor i in range(6000):\n    n = n + i\n" + QUOTE
LOOP = "loop_again"


def _looping(files: dict, script: str = QUOTE) -> dict:
    """compute_quote -> an exclusive gateway whose condition is always true -> compute_quote again: a loop
    with no wait state, the process owner's mistake."""
    xml = files[APPROVAL].replace(QUOTE, script.replace(">", "&gt;"))
    xml = xml.replace(
        '<bpmn:sequenceFlow id="flow_to_assess_replacement" sourceRef="compute_quote" '
        'targetRef="assess_replacement" />',
        f'<bpmn:sequenceFlow id="flow_to_assess_replacement" sourceRef="compute_quote" targetRef="{LOOP}" />'
        f'<bpmn:sequenceFlow id="flow_loop_back" sourceRef="{LOOP}" targetRef="compute_quote">'
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">quote_total &gt;= 0</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>"
        f'<bpmn:sequenceFlow id="flow_loop_out" sourceRef="{LOOP}" targetRef="assess_replacement" />'
        f'<bpmn:exclusiveGateway id="{LOOP}" name="Again?" default="flow_loop_out">'
        "<bpmn:incoming>flow_to_assess_replacement</bpmn:incoming>"
        "<bpmn:outgoing>flow_loop_back</bpmn:outgoing><bpmn:outgoing>flow_loop_out</bpmn:outgoing>"
        "</bpmn:exclusiveGateway>",
    )
    xml = xml.replace(
        "<bpmn:incoming>flow_to_compute_quote</bpmn:incoming>",
        "<bpmn:incoming>flow_to_compute_quote</bpmn:incoming><bpmn:incoming>flow_loop_back</bpmn:incoming>",
    )
    xml = xml.replace(
        "<bpmn:incoming>flow_to_assess_replacement</bpmn:incoming>\n      <bpmn:outgoing>flow_to_decide_offers",
        "<bpmn:incoming>flow_loop_out</bpmn:incoming>\n      <bpmn:outgoing>flow_to_decide_offers",
    )
    assert xml.count(LOOP) >= 4 and "flow_loop_out</bpmn:incoming>" in xml
    return {**files, APPROVAL: xml}


def _store_unchecked(orc, change, centre: str = "SG") -> dict:
    """Store the centre's current files, changed by `change`, as its next version without the deploy-time
    checks (as one deployed before them); returns the files as they were."""
    with orc.uow() as uow:
        s = uow.session
        latest = s.scalars(
            select(Bundle).where(Bundle.centre_code == centre).order_by(Bundle.version.desc()).limit(1)
        ).one()
        files = dict(latest.files)
        parsed = parse_bundle(change(dict(files)))
        s.add(Bundle(version=latest.version + 1, centre_code=centre, hash=parsed.hash, files=parsed.files))
        uow.commit()
    return files


def _budgeted(orc, **limits) -> Orchestrator:
    """An orchestrator on the same database with tighter command limits (keeps the tests short)."""
    other = Orchestrator(dataclasses.replace(orc.settings, **limits))
    return other


@pytest.fixture
def tight(orc):
    budgeted = _budgeted(orc, command_max_script_seconds=0.6, command_max_steps=400, command_max_tasks=2000)
    yield budgeted
    budgeted.dispose()


def _at_diagnosis(orc, centre="SG"):
    rma = rmas.open_rma(orc, actor(orc, f"{centre.lower()}.reception"), rma_payload(months_old=40, centre=centre))
    complete_open_task(orc, f"{centre.lower()}.reception", rma["id"], data=INTAKE)
    return rma


def _committed(orc, rma_id: int) -> tuple:
    with orc.uow() as uow:
        s = uow.session
        instance = s.get(Instance, rma_id)
        open_tasks = s.scalars(select(HumanTask.name).where(HumanTask.rma_id == rma_id, HumanTask.status == "open"))
        kinds = s.scalars(select(AuditEvent.kind).where(AuditEvent.rma_id == rma_id).order_by(AuditEvent.id))
        return instance.state, instance.version, sorted(open_tasks), list(kinds)


def _complete_diagnosis(orc, rma_id: int):
    task = only_task(orc, "sg.tech", rma_id)
    return tasks.complete_task(orc, actor(orc, "sg.tech"), task["id"], DIAGNOSIS)


def test_a_gateway_loop_of_scripts_under_their_own_limit_is_stopped_by_the_command_budget(orc, tight):
    _store_unchecked(orc, lambda files: _looping(files, BURN))
    rma = _at_diagnosis(tight)
    state, version, open_tasks, kinds = _committed(orc, rma["id"])
    started = time.monotonic()
    with pytest.raises(EngineError) as info:
        _complete_diagnosis(tight, rma["id"])
    elapsed = time.monotonic() - started
    assert info.value.status == 409 and info.value.code == "command_rolled_back"
    assert "compute_quote" in info.value.message and "0.6 seconds" in info.value.message
    assert elapsed < 0.6 + 5  # the scripts' 0.6 s, and the rest of one command on a loaded machine
    # rolled back to the last committed state: the same workflow and task rows, the diagnosis still open;
    # the only change is the incident (and the instance row's timers paused)
    state_after, version_after, open_after, kinds_after = _committed(orc, rma["id"])
    assert state_after == state and open_after == open_tasks == ["diagnose"]
    assert kinds_after == [*kinds, "incident_opened"]
    view = rmas.get_rma(orc, actor(orc, "manager"), rma["id"])
    assert view["status"] == "incident"
    [incident] = operations.list_incidents(orc, actor(orc, "manager"))["items"]
    assert incident["task"] == "compute_quote" and "rolled back" in incident["error"]
    assert incident["status_before"] == "diagnosing"
    # the half-run workflow is not kept in the instance cache: the next command starts from what was committed
    assert rma["id"] not in tight.instances
    with orc.uow() as uow:
        assert uow.session.get(Instance, rma["id"]).next_timer_at is None


@pytest.fixture
def few_steps(orc):
    budgeted = _budgeted(orc, command_max_steps=400, command_max_script_seconds=60, command_max_tasks=2000)
    yield budgeted
    budgeted.dispose()


@pytest.fixture
def script_clock_stopped(monkeypatch):
    """The sandbox's clock stands still: no script runs out of its own 2 s, so the engine-step budget is the
    only limit the test meets (a CI worker once turned the loop into a script incident)."""
    from engine.sandbox import limits

    monkeypatch.setattr(limits, "script_clock", lambda: 1000.0)


def test_the_step_budget_stops_a_loop_of_cheap_scripts_and_a_retry_after_the_fix_continues(
    orc, few_steps, script_clock_stopped
):
    tight = few_steps
    before = _store_unchecked(orc, _looping)
    rma = _at_diagnosis(tight)
    with pytest.raises(EngineError) as info:
        _complete_diagnosis(tight, rma["id"])
    assert "more than 400 engine steps" in info.value.message
    [incident] = operations.list_incidents(orc, actor(orc, "manager"))["items"]
    assert incident["task"] in ("compute_quote", LOOP)
    # the diagnosis is open again (the RMA is at its last committed state): doing it again on the same
    # broken version runs away again, counted on the same incident
    with pytest.raises(EngineError):
        _complete_diagnosis(tight, rma["id"])
    [incident] = operations.list_incidents(orc, actor(orc, "manager"))["items"]
    assert incident["attempts"] == 2
    # the process owner fixes the variant; the operator retries on it; the technician completes the diagnosis
    processes.deploy_bundle(orc, Actor("owner", "process_owner", "SG"), before, centre="SG", note="fix")
    result = operations.retry_incident(tight, actor(tight, "manager"), rma["id"], on_current_version=True)
    assert result["incident"]["status"] == "resolved" and result["rma"]["status"] == "diagnosing"
    done = _complete_diagnosis(tight, rma["id"])
    assert done["rma"]["status"] == "awaiting_approval"


def test_a_multi_instance_creating_more_tasks_than_the_budget_is_rolled_back(orc):
    files = read_bundle_dir(PROCESSES_DIR)
    xml = files[APPROVAL].replace(
        "<bpmn:script>" + QUOTE,
        '<bpmn:multiInstanceLoopCharacteristics isSequential="false">'
        "<bpmn:loopCardinality>parts_cost * 9</bpmn:loopCardinality>"
        "</bpmn:multiInstanceLoopCharacteristics><bpmn:script>" + QUOTE,
    )
    processes.deploy_bundle(orc, Actor("owner", "process_owner"), {**files, APPROVAL: xml}, note="90 instances")
    small = _budgeted(orc, command_max_tasks=60)
    try:
        rma = _at_diagnosis(small)
        with pytest.raises(EngineError) as info:
            _complete_diagnosis(small, rma["id"])
        assert "more than 60 tasks" in info.value.message and "compute_quote" in info.value.message
        assert rmas.get_rma(orc, actor(orc, "manager"), rma["id"])["status"] == "incident"
        # with the default budget the same 90 instances run
        rma2 = _at_diagnosis(orc)
        assert _complete_diagnosis(orc, rma2["id"])["rma"]["status"] == "awaiting_approval"
    finally:
        small.dispose()


def test_while_a_command_runs_away_the_server_answers_and_another_centre_writes(orc, app):
    """A runaway of about 2.5 s in one thread: /api/health answers quickly every time, and a write in
    another centre succeeds (on SQLite it waits for the write lock at most as long as the budget)."""
    runaway = _budgeted(orc, command_max_script_seconds=2.5)
    try:
        _store_unchecked(orc, lambda files: _looping(files, BURN))
        rma = _at_diagnosis(runaway)
        outcome: dict = {}

        def run_away():
            started = time.monotonic()
            try:
                _complete_diagnosis(runaway, rma["id"])
            except EngineError as exc:
                outcome["error"] = exc.code
            outcome["seconds"] = time.monotonic() - started

        thread = threading.Thread(target=run_away)
        thread.start()
        time.sleep(0.3)  # the runaway is inside its loop, holding the RMA's lock (and SQLite's write lock)
        client = app.test_client()
        health = []
        while thread.is_alive() and len(health) < 20:
            started = time.monotonic()
            assert client.get("/api/health").status_code == 200
            health.append(time.monotonic() - started)
            time.sleep(0.05)
        started = time.monotonic()
        other = rmas.open_rma(orc, actor(orc, "de.reception"), rma_payload(centre="DE"))
        write_seconds = time.monotonic() - started
        thread.join(30)
        print(
            f"runaway {outcome.get('seconds', 0):.2f} s; /api/health {len(health)} x, slowest {max(health):.3f} s; "
            f"the other centre's write {write_seconds:.2f} s"
        )
        assert outcome.get("error") == "command_rolled_back" and outcome["seconds"] >= 2.5
        assert len(health) >= 3 and max(health) < 1.0, health
        assert other["status"] and write_seconds < 2.5 + 5, write_seconds
        if orc.db.dialect.name == "postgresql":  # no database-wide write lock: it did not wait for the runaway
            assert write_seconds < 2.0, write_seconds
        with orc.uow() as uow:
            assert uow.session.scalar(select(func.count()).select_from(Incident)) == 1
    finally:
        runaway.dispose()
