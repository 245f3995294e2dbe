"""Nothing half-saved, nothing doubled: rollbacks, optimistic versions and racing clicks, on each backend."""

import threading

import pytest
from sqlalchemy import func, select

from engine import Actor
from engine.errors import Conflict
from engine.process.definitions import read_bundle_dir
from engine.services import processes, rmas, tasks
from engine.store.model import AuditEvent, HumanTask, Instance
from tests.conftest import PROCESSES_DIR
from tests.helpers import INTAKE, actor, rma_payload


def _snapshot(orc, rma_id):
    with orc.uow() as uow:
        s = uow.session
        inst = s.get(Instance, rma_id)
        return (
            inst.version,
            inst.state,
            s.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.rma_id == rma_id)),
            sorted(
                (t.id, t.status, t.assignee) for t in s.scalars(select(HumanTask).where(HumanTask.rma_id == rma_id))
            ),
        )


def _open_task(orc, username, rma_id):
    return tasks.list_tasks(orc, actor(orc, username), rma_id=rma_id)["items"][0]


def test_crash_while_saving_leaves_last_committed_state(orc, monkeypatch):
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    before = _snapshot(orc, rma["id"])
    task = _open_task(orc, "sg.reception", rma["id"])

    def crash(workflow):
        raise RuntimeError("power cut while serializing")

    monkeypatch.setattr(orc.runtime, "dump", crash)
    with pytest.raises(RuntimeError):
        tasks.complete_task(orc, actor(orc, "sg.reception"), task["id"], INTAKE)
    monkeypatch.undo()

    assert _snapshot(orc, rma["id"]) == before
    # and the instance still loads and continues from there
    tasks.complete_task(orc, actor(orc, "sg.reception"), task["id"], INTAKE)
    assert rmas.get_rma(orc, actor(orc, "sg.reception"), rma["id"])["status"] == "diagnosing"


def test_failing_script_keeps_the_completion_that_triggered_it_and_opens_an_incident(orc):
    """The technician's diagnosis is saved; the broken quote script waits as an incident (engine.services.incidents)."""
    files = read_bundle_dir(PROCESSES_DIR)
    name = "stages/rma_approval.bpmn"
    assert "round(parts_cost + labour_hours * labour_rate, 2)" in files[name]
    files[name] = files[name].replace("round(parts_cost + labour_hours * labour_rate, 2)", "round(parts_cost / 0, 2)")
    processes.deploy_bundle(orc, Actor("owner", "process_owner"), files, note="broken quote")
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=40))
    tasks.complete_task(orc, actor(orc, "sg.reception"), _open_task(orc, "sg.reception", rma["id"])["id"], INTAKE)
    diagnose = _open_task(orc, "sg.tech", rma["id"])
    before = _snapshot(orc, rma["id"])
    result = tasks.complete_task(
        orc, actor(orc, "sg.tech"), diagnose["id"], {"diagnosis": "x", "fault_category": "sensor", "parts_cost": 10}
    )
    assert result["rma"]["status"] == "incident"
    after = _snapshot(orc, rma["id"])
    assert after[0] == before[0] + 1 and (diagnose["id"], "completed", "sg.tech") in after[3]
    view = rmas.get_rma(orc, actor(orc, "sg.reception"), rma["id"])
    opened = [e for e in view["history"] if e["kind"] == "incident_opened"]
    assert len(opened) == 1 and opened[0]["task"] == "compute_quote" and "division by zero" in opened[0]["detail"]


def test_running_rma_stays_on_its_version_after_a_new_deploy(orc):
    old = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    files = read_bundle_dir(PROCESSES_DIR)
    files["stages/rma_intake.bpmn"] = files["stages/rma_intake.bpmn"].replace(
        'name="Record condition"', 'name="Record unit condition"'
    )
    new_version = processes.deploy_bundle(orc, Actor("owner", "process_owner"), files, note="rename")
    assert new_version["created"] and new_version["version"] == old["process"]["version"] + 1
    new = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SN-2"))
    assert new["process"]["version"] == new_version["version"]
    assert old["open_tasks"][0]["title"] == "Record condition"
    assert new["open_tasks"][0]["title"] == "Record unit condition"
    tasks.complete_task(orc, actor(orc, "sg.reception"), old["open_tasks"][0]["id"], INTAKE)
    assert rmas.get_rma(orc, actor(orc, "sg.reception"), old["id"])["process"]["version"] == old["process"]["version"]


def test_redeploying_identical_files_creates_no_version(orc):
    result = processes.deploy_bundle(orc, Actor("owner", "process_owner"), read_bundle_dir(PROCESSES_DIR))
    assert result["created"] is False and result["version"] == 1


def _race(n, fn):
    barrier = threading.Barrier(n)
    outcomes = []

    def run():
        barrier.wait()
        try:
            outcomes.append(("ok", fn()))
        except Conflict as exc:
            outcomes.append(("conflict", exc))

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_two_simultaneous_completions_of_one_task_exactly_one_wins(orc):
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    task = _open_task(orc, "sg.reception", rma["id"])
    outcomes = _race(2, lambda: tasks.complete_task(orc, actor(orc, "sg.reception"), task["id"], INTAKE))
    assert sorted(kind for kind, _ in outcomes) == ["conflict", "ok"]
    view = rmas.get_rma(orc, actor(orc, "sg.reception"), rma["id"])
    assert [h["kind"] for h in view["history"]].count("task_completed") == 1
    assert [t["name"] for t in view["open_tasks"]] == ["diagnose"]


def test_two_technicians_claiming_at_once_exactly_one_gets_it(orc):
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    tasks.complete_task(orc, actor(orc, "sg.reception"), _open_task(orc, "sg.reception", rma["id"])["id"], INTAKE)
    from engine.services import users

    users.add_user(orc, "sg.tech2", "technician", "SG", "pw-12345")
    task = _open_task(orc, "sg.tech", rma["id"])
    names = iter(["sg.tech", "sg.tech2"])
    lock = threading.Lock()

    def claim():
        with lock:
            who = next(names)
        return tasks.claim_task(orc, actor(orc, who), task["id"])

    outcomes = _race(2, claim)
    assert sorted(kind for kind, _ in outcomes) == ["conflict", "ok"]
    winner = next(v for kind, v in outcomes if kind == "ok")
    assert tasks.get_task(orc, actor(orc, winner["assignee"]), task["id"])["assignee"] == winner["assignee"]
