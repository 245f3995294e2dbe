"""Replay: instance states stored by earlier versions of the code restore and finish on the current code.

Each fixture in tests/replay/fixtures (written by tests/replay/generate.py from an older checkout) holds an RMA
in flight as that code stored it: its bundle, the RMA row, the instance row with the SpiffWorkflow state and
serializer version, its open task rows and quotes. The rows go into a database of the current code as they were
(then `rma init` deploys today's processes, as an upgrade does), and the RMA is finished through today's services.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import insert, select

from engine import EngineError, Orchestrator
from engine.demo import create_centres_and_users
from engine.errors import TaskNotFound
from engine.execution.runtime import StateFormatUnknown
from engine.services import rmas, scheduler
from engine.store.model import Bundle, HumanTask, Instance, Quote, Rma
from tests.driver import complete_open_task, decide, finish, open_tasks, status, walk_to
from tests.helpers import actor
from web.cli import init_database

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NAMES = sorted(path.stem for path in FIXTURES.glob("*.json"))

# The rest of the plain repair, as (task, the RMA's status after it): the quote approved, QA passes, returned.
_FROM_REPAIR = [("repair", "quality_check"), ("qa_check", "returning"), ("ship_return", "closed")]
_FROM_APPROVAL = [("customer_approval", "repairing"), *_FROM_REPAIR]
_FROM_DIAGNOSIS = [("diagnose", "awaiting_approval"), *_FROM_APPROVAL]
# Fixture -> the steps that finish it and the outcome it closes with.
EXPECTED = {
    "sg_intake": ([("record_condition", "diagnosing"), *_FROM_DIAGNOSIS], "repaired"),
    "sg_diagnose": (_FROM_DIAGNOSIS, "repaired"),
    "sg_customer_approval": (_FROM_APPROVAL, "repaired"),
    "sg_repair_after_approval": (_FROM_REPAIR, "repaired"),
    "sg_qa_rework": (_FROM_REPAIR[1:], "repaired"),
    "sg_loan_offer": ([("offer_loan_unit", "repairing"), *_FROM_REPAIR], "repaired"),
    "de_decide_repair_site": ([("decide_repair_site", "repairing"), *_FROM_REPAIR], "repaired"),
    "de_factory_report": ([("record_factory_report", "repairing"), *_FROM_REPAIR], "repaired"),
}
POSTGRES_NAMES = ["sg_customer_approval", "sg_qa_rework", "de_factory_report"]
on_sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
on_postgres = pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def state_bytes(fixture: dict) -> bytes:
    """The instance state as the old code stored it (it writes compact JSON: re-encoding gives the same bytes)."""
    return json.dumps(fixture["instance"]["state"], separators=(",", ":")).encode("utf-8")


def _typed(model, row: dict) -> dict:
    """A fixture row's values as the model's columns take them (ISO dates and times, decimals as strings).

    Columns the current model no longer has are dropped, new ones take their defaults (as a migration would)."""
    values = {}
    for column in model.__table__.columns:
        if column.key not in row or column.key == "id":
            continue
        value, kind = row[column.key], getattr(column.type, "impl_instance", column.type).python_type
        if value is not None and kind is datetime:
            value = datetime.fromisoformat(value)
        elif value is not None and kind is date:
            value = date.fromisoformat(value)
        elif value is not None and kind is Decimal:
            value = Decimal(value)
        values[column.key] = value
    return values


def _insert(session, model, values: dict) -> int | None:
    """One row as given (a Core INSERT: the ORM would reset the instance's version counter); returns its new id."""
    table = model.__table__
    if "id" in table.c and "id" not in values:
        return session.scalar(insert(table).values(**values).returning(table.c.id))
    session.execute(insert(table).values(**values))
    return None


def _bundle_row(fixture: dict) -> dict:
    stored = fixture["bundle"]
    row = {"version": stored["version"], "centre_code": stored["centre"], "hash": stored["hash"]}
    return {**row, "files": stored["files"], "note": stored["note"], "deployed_by": "replay"}


def restore(orc, fixture: dict, state: bytes | None = None) -> dict:
    """Insert the fixture's bundle, RMA, instance, open task and quote rows; returns the RMA as get_rma shows it."""
    instance = _typed(Instance, fixture["instance"])
    instance["state"] = state_bytes(fixture) if state is None else state
    with orc.uow() as uow:
        s = uow.session
        instance["bundle_id"] = _insert(s, Bundle, _bundle_row(fixture))
        instance["rma_id"] = rma_id = _insert(s, Rma, _typed(Rma, fixture["rma"]))
        _insert(s, Instance, instance)
        for row in fixture["open_tasks"]:
            _insert(s, HumanTask, {**_typed(HumanTask, row), "id": row["id"], "rma_id": rma_id})
        for row in fixture["quotes"]:
            _insert(s, Quote, {**_typed(Quote, row), "rma_id": rma_id})
        uow.commit()
    return rmas.get_rma(orc, actor(orc, "manager"), rma_id)


@pytest.fixture
def upgraded(settings):
    """A database of the current code holding no RMA yet: the fixture's rows go in before `rma init` runs."""
    orc = Orchestrator(settings)
    orc.migrate()
    create_centres_and_users(orc)
    yield orc
    orc.dispose()


def replay(orc, fixture: dict) -> dict:
    """Restore the fixture, then deploy today's processes (an upgrade runs `rma init`); returns the restored RMA."""
    rma = restore(orc, fixture)
    init_database(orc)
    return rma


def check_restored(fixture: dict, rma: dict) -> None:
    stored = fixture["rma"]
    assert rma["status"] == stored["status"] == fixture["statuses"][-1]
    assert rma["number"] == stored["number"] and rma["centre"] == fixture["centre"]
    assert [t["name"] for t in rma["open_tasks"]] == fixture["open_task_names"]


def finish_and_check(orc, name: str, fixture: dict, rma: dict) -> None:
    steps, outcome = EXPECTED[name]
    assert finish(orc, rma) == steps
    final = rmas.get_rma(orc, actor(orc, "manager"), rma["id"])
    assert final["status"] == "closed" and final["outcome"] == outcome and final["open_tasks"] == []
    assert final["process"]["version"] == fixture["bundle"]["version"]  # finished on the version it started on
    kinds = [e["kind"] for e in final["history"]]
    assert kinds.count("task_completed") == len([s for s, _ in steps if s != "customer_approval"])
    assert kinds[-1] == "rma_closed"
    with orc.uow() as uow:  # one version per command, counted on from the stored one
        version = uow.session.scalar(select(Instance.version).where(Instance.rma_id == rma["id"]))
    assert version == fixture["instance"]["version"] + len(steps)


def at(fixture: dict, later: timedelta = timedelta(minutes=1)):
    return time_machine.travel(datetime.fromisoformat(fixture["generated_at"]) + later, tick=True)


def test_every_fixture_has_its_expected_finish_and_reads_back_as_written():
    assert NAMES and set(NAMES) == set(EXPECTED)
    for name in NAMES:
        fixture = load(name)
        assert fixture["name"] == name and fixture["open_task_names"], name
        state = state_bytes(fixture)
        assert hashlib.sha256(state).hexdigest() == fixture["instance"]["state_sha256"], f"{name}: state edited"
        assert fixture["instance"]["serializer_version"] == fixture["serializer_version"]


@on_sqlite
@pytest.mark.parametrize("name", NAMES)
def test_a_stored_rma_restores_and_finishes_on_the_current_code(upgraded, name):
    fixture = load(name)
    with at(fixture):  # the clock as when the state was stored: no timer comes due meanwhile
        rma = replay(upgraded, fixture)
        check_restored(fixture, rma)
        finish_and_check(upgraded, name, fixture, rma)


@on_postgres
@pytest.mark.parametrize("name", POSTGRES_NAMES)
def test_a_stored_rma_restores_and_finishes_on_postgresql(upgraded, name):
    fixture = load(name)
    with at(fixture):
        rma = replay(upgraded, fixture)
        check_restored(fixture, rma)
        finish_and_check(upgraded, name, fixture, rma)


@on_sqlite
def test_a_stored_quote_expires_when_its_timers_come_due(upgraded):
    """The approval stage's reminder (3 days) and expiry (14 days) stored as due times in the old state fire."""
    fixture = load("sg_customer_approval")
    with at(fixture):
        rma = replay(upgraded, fixture)
    with at(fixture, timedelta(days=15)):
        assert scheduler.fire_due_timers(upgraded) == 1
        view = rmas.get_rma(upgraded, actor(upgraded, "manager"), rma["id"])
        assert view["status"] == "returning" and [t["name"] for t in view["open_tasks"]] == ["ship_return"]
        assert [e["kind"] for e in view["history"]] == ["status_changed", "quote_decided", "timer_fired"]
        assert finish(upgraded, rma) == [("ship_return", "closed")]
        assert rmas.get_rma(upgraded, actor(upgraded, "manager"), rma["id"])["outcome"] == "returned_unrepaired"


@on_sqlite
def test_a_stored_sla_timer_escalates_and_the_rework_still_finishes(upgraded):
    fixture = load("sg_qa_rework")
    with at(fixture):
        rma = replay(upgraded, fixture)
    with at(fixture, timedelta(days=2)):
        assert scheduler.fire_due_timers(upgraded) == 1
        assert [t["name"] for t in open_tasks(upgraded, rma["id"])] == ["qa_check", "review_overdue_qa"]
        assert finish(upgraded, rma) == [("qa_check", "returning"), ("ship_return", "closed")]
        final = rmas.get_rma(upgraded, actor(upgraded, "manager"), rma["id"])
        assert final["status"] == "closed" and final["outcome"] == "repaired"


def _tree_holding(state: dict, task_id: str) -> dict:
    """The workflow (top level or a subprocess) whose task tree holds `task_id`."""
    if task_id in state["tasks"]:
        return state
    return next(sub for sub in state["subprocesses"].values() if task_id in sub["tasks"])


def _drop_open_task(state: dict, task_id: str) -> bytes:
    tree = _tree_holding(state, task_id)
    parent = tree["tasks"].pop(task_id)["parent"]
    tree["tasks"][parent]["children"].remove(task_id)
    return json.dumps(state).encode()


def _unknown_spec(state: dict, task_id: str) -> bytes:
    _tree_holding(state, task_id)["tasks"][task_id]["task_spec"] = "no_such_element"
    return json.dumps(state).encode()


CORRUPTIONS = {
    # the open task row names a task the stored tree no longer has: the engine's TaskNotFound
    "open task missing from the tree": (_drop_open_task, TaskNotFound, "is not part of this process"),
    # a task of an element the bundle does not define: SpiffWorkflow 3.2.0 fails with a TypeError of its own
    # (task.py builds a StartTask from a module name), not a named engine error
    "task of an unknown element": (_unknown_spec, TypeError, "not callable"),
    "state that is not JSON": (lambda state, task_id: b'{"tasks": ', ValueError, "Expecting value"),
}


@on_sqlite
@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_a_corrupted_state_fails_the_replay_and_changes_nothing(upgraded, corruption):
    corrupt, error, message = CORRUPTIONS[corruption]
    fixture = load("sg_diagnose")
    task_id = fixture["open_tasks"][0]["id"]
    with at(fixture):
        rma = restore(upgraded, fixture, corrupt(copy.deepcopy(fixture["instance"]["state"]), task_id))
        with pytest.raises(error, match=message):
            finish(upgraded, rma)
        after = rmas.get_rma(upgraded, actor(upgraded, "manager"), rma["id"])
        assert after["status"] == "diagnosing" and [t["name"] for t in after["open_tasks"]] == ["diagnose"]
        with upgraded.uow() as uow:
            assert (
                uow.session.scalar(select(Instance.version).where(Instance.rma_id == rma["id"]))
                == fixture["instance"]["version"]
            )


@on_sqlite
def test_the_runtime_refuses_a_state_of_another_serializer_version_by_name(upgraded):
    fixture = load("sg_diagnose")
    with at(fixture):
        rma = replay(upgraded, fixture)
    with upgraded.uow() as uow:
        instance = uow.session.get(Instance, rma["id"])
        parsed, stored_with = upgraded.parsed_bundle(uow.session, instance.bundle_id), instance.serializer_version
    runtime = upgraded.runtime
    assert stored_with == runtime.serializer_version
    workflow = runtime.load(parsed, state_bytes(fixture), stored_with)
    assert [t.name for t in runtime.ready_tasks(workflow)] == ["diagnose"]
    with pytest.raises(StateFormatUnknown) as info:
        runtime.load(parsed, state_bytes(fixture), "1.0")  # SpiffWorkflow 1.x: a different format
    assert isinstance(info.value, EngineError) and (info.value.status, info.value.code) == (
        409,
        "serializer_version_unknown",
    )
    assert "serializer version 1.0" in info.value.message and runtime.serializer_version in info.value.message


@on_sqlite
def test_a_state_of_another_serializer_version_is_refused_by_name(upgraded):
    fixture = load("sg_diagnose")
    fixture["instance"]["serializer_version"] = "1.0"  # SpiffWorkflow 1.x: a different format, needs migrating
    with at(fixture):
        rma = restore(upgraded, fixture)
        try:
            finish(upgraded, rma)
        except EngineError as exc:
            assert "serializer" in str(exc)
        else:
            raise AssertionError("a state stored by serializer 1.0 was read as the current format")


def deploy_stored_bundle(orc, fixture: dict) -> None:
    """The fixture's bundle as its centre's only deployed version: new RMAs there start on it."""
    with orc.uow() as uow:
        _insert(uow.session, Bundle, _bundle_row(fixture))
        uow.commit()


def _payload(fixture: dict) -> dict:
    """The fixture's RMA as a new RMA to open (same centre, customer, unit and purchase date)."""
    row = fixture["rma"]
    customer = {"name": row["customer_name"], "email": row["customer_email"], "phone": row["customer_phone"]}
    product = {"model": row["product_model"], "serial_number": row["serial_number"]}
    product.update(purchase_date=row["purchase_date"], category=row["product_category"])
    payload = {"centre": fixture["centre"], "customer": customer, "product": product}
    return {**payload, "fault_description": row["fault_description"]}


@on_sqlite
@pytest.mark.parametrize("name", NAMES)
def test_the_current_code_reaches_the_same_wait_from_the_same_steps(upgraded, name):
    """The steps that brought the stored RMA to its wait bring a new one there on the current code too.

    On the fixture's own bundle (its processes as they were): what is compared is the engine, not the diagrams."""
    fixture = load(name)
    deploy_stored_bundle(upgraded, fixture)
    with at(fixture, timedelta(0)):
        rma = rmas.open_rma(upgraded, actor(upgraded, f"{fixture['centre'].lower()}.reception"), _payload(fixture))
        statuses = [rma["status"]]
        for done in fixture["steps_done"]:
            if "customer_decision" in done:
                decide(upgraded, rma, done["customer_decision"])
            else:
                complete_open_task(upgraded, None, rma["id"], done["task"], done["data"])
            statuses.append(status(upgraded, rma["id"]))
        assert statuses == fixture["statuses"]
        assert [t["name"] for t in open_tasks(upgraded, rma["id"])] == fixture["open_task_names"]


@on_sqlite
def test_the_driver_walks_a_new_rma_with_standard_data_the_way_a_fixture_went(upgraded):
    fixture = load("sg_repair_after_approval")  # its steps used the driver's standard forms
    deploy_stored_bundle(upgraded, fixture)
    with at(fixture, timedelta(0)):
        rma = rmas.open_rma(upgraded, actor(upgraded, "sg.reception"), _payload(fixture))
        steps = walk_to(upgraded, rma, "repair")
    assert [task for task, _ in steps] == [done.get("task", "customer_approval") for done in fixture["steps_done"]]
    assert [after for _, after in steps] == fixture["statuses"][1:]
