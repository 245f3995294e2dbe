"""The catch-all of Runtime._command: an exception that is not one of ours, raised inside SpiffWorkflow while a
command runs (here a TypeError from a task spec's run), rolls the command back whole and opens an incident naming
the element, never a 500; the RMA stays at its last committed state, and a retry once the fault is gone goes on.
On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import EngineError
from engine.services import operations, rmas, tasks
from engine.store.model import AuditEvent, HumanTask, Instance
from tests.driver import complete_open_task, only_task
from tests.helpers import INTAKE, actor, rma_payload

DIAGNOSIS = {"diagnosis": "Sensor dead", "fault_category": "sensor", "parts_cost": 10, "labour_hours": 1}
FAULTY = "compute_quote"  # a script task the engine runs in the same command as the diagnosis


def _committed(orc, rma_id: int) -> tuple:
    with orc.uow() as uow:
        s = uow.session
        instance = s.get(Instance, rma_id)
        open_tasks = s.execute(
            select(HumanTask.id, HumanTask.name).where(HumanTask.rma_id == rma_id, HumanTask.status == "open")
        ).all()
        kinds = s.scalars(select(AuditEvent.kind).where(AuditEvent.rma_id == rma_id).order_by(AuditEvent.id))
        return instance.state, instance.version, sorted(tuple(row) for row in open_tasks), list(kinds)


@pytest.fixture
def faulty_spec(orc, monkeypatch):
    """Makes the RMA's version's `compute_quote` spec raise a TypeError when it runs, as a bug inside
    SpiffWorkflow would; returns the function that removes the fault."""

    def arm(rma_id: int):
        with orc.uow() as uow:
            instance = uow.session.get(Instance, rma_id)
            parsed = orc.parsed_bundle(uow.session, instance.bundle_id)
        spec = parsed.subprocess_specs["rma_approval"].task_specs[FAULTY]

        def broken(my_task):
            raise TypeError("unsupported operand type(s) for +: 'NoneType' and 'int'")

        monkeypatch.setattr(spec, "_run_hook", broken, raising=False)
        return monkeypatch.undo

    return arm


def test_an_unexpected_engine_exception_rolls_the_command_back_into_an_incident_and_a_retry_goes_on(orc, faulty_spec):
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=40))
    complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
    remove_fault = faulty_spec(rma["id"])
    state, version, open_tasks, kinds = _committed(orc, rma["id"])
    diagnose = only_task(orc, "sg.tech", rma["id"])
    with pytest.raises(EngineError) as info:
        tasks.complete_task(orc, actor(orc, "sg.tech"), diagnose["id"], DIAGNOSIS)
    assert (info.value.status, info.value.code) == (409, "command_rolled_back")
    assert FAULTY in info.value.message and "TypeError" in info.value.message
    # the last committed state: the same workflow, the same open diagnosis row; only the incident was written
    state_after, version_after, open_after, kinds_after = _committed(orc, rma["id"])
    assert state_after == state and open_after == open_tasks and [n for _id, n in open_after] == ["diagnose"]
    assert version_after == version + 1  # that incident's one write: the instance's timers paused
    assert kinds_after == [*kinds, "incident_opened"]
    assert rma["id"] not in orc.instances  # the half-run workflow was not cached
    [incident] = operations.list_incidents(orc, actor(orc, "manager"))["items"]
    assert incident["rma_id"] == rma["id"] and incident["task"] == FAULTY and "rolled back" in incident["error"]
    assert incident["status_before"] == "diagnosing"
    assert rmas.get_rma(orc, actor(orc, "manager"), rma["id"])["status"] == "incident"
    # the fault removed, an operator retries: the diagnosis is open again and completing it goes on
    remove_fault()
    result = operations.retry_incident(orc, actor(orc, "manager"), rma["id"])
    assert result["incident"]["status"] == "resolved" and result["rma"]["status"] == "diagnosing"
    diagnose = only_task(orc, "sg.tech", rma["id"])
    done = tasks.complete_task(orc, actor(orc, "sg.tech"), diagnose["id"], DIAGNOSIS)
    assert done["rma"]["status"] == "awaiting_approval"
    assert float(rmas.get_rma(orc, actor(orc, "manager"), rma["id"])["quote_total"]) > 0
