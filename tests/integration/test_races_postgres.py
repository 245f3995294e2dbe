"""Races over real HTTP on real PostgreSQL: concurrent clients, each its own thread and connection, released
together by a barrier. Exactly one wins, the other gets 409, and the RMA is left consistent.

tests/integration/test_consistency.py races the *services* on both backends; these go through the web
layer (the 409 mapping) and add the customer's side: approving twice at once, and approving while the
worker's sweep fires the 14-day expiry timer.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from engine.services import rmas, users
from engine.services.scheduler import fire_due_timers
from engine.store.audit import verify_chain
from engine.store.model import AuditEvent, HumanTask, Quote, Rma, utcnow
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, race, rma_payload
from tests.integration.live_http import Client, serve_in_process

# only PostgreSQL: these races are about its row locks, not SQLite's single writer
pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True),
]
DIAGNOSIS = {"diagnosis": "Gear train worn", "fault_category": "mechanical", "parts_cost": 40, "labour_hours": 1}
ROUNDS = 4


@pytest.fixture
def live(orc):
    from web import create_app

    users.add_user(orc, "sg.reception2", "reception", "SG", "demo")
    users.add_user(orc, "sg.tech2", "technician", "SG", "demo")
    with serve_in_process(create_app({"RMA_ORCHESTRATOR": orc})) as base:
        client = Client(base)
        for user in ("sg.reception", "sg.reception2", "sg.tech", "sg.tech2", "manager"):
            client.token(user)  # logged in beforehand, so both racers send their request at once
        yield client


def _quoted(orc, serial: str) -> dict:
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=40, serial=serial))
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    complete_open_task(orc, "sg.tech", rma["id"], "diagnose", DIAGNOSIS)
    return rma


def _facts(orc, rma_id: int) -> dict:
    with orc.uow() as uow:
        s = uow.session
        kinds = Counter(s.scalars(select(AuditEvent.kind).where(AuditEvent.rma_id == rma_id)))
        task_rows = Counter(
            (name, status)
            for name, status in s.execute(select(HumanTask.name, HumanTask.status).where(HumanTask.rma_id == rma_id))
        )
        quotes = [q for q in s.scalars(select(Quote.status).where(Quote.rma_id == rma_id))]
        breaks = verify_chain(s, rma_id)
    view = rmas.get_rma(orc, actor(orc, "manager"), rma_id)
    return {
        "kinds": kinds,
        "tasks": task_rows,
        "quotes": quotes,
        "breaks": breaks,
        "status": view["status"],
        "open": [t["name"] for t in view["open_tasks"]],
        "fired": [e["detail"] for e in view["history"] if e["kind"] == "timer_fired"],
        "decided": [e["detail"] for e in view["history"] if e["kind"] == "quote_decided"],
    }


def _statuses(results) -> list[int]:
    assert not any(isinstance(r, Exception) for r in results), results
    return sorted(status for status, _ in results)


def test_two_people_completing_the_same_task_over_http_exactly_one_wins(orc, live, capsys):
    tally = Counter()
    for n in range(ROUNDS):
        rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial=f"RC-{n}"))
        [task] = live.tasks("sg.reception", rma["id"])
        url = f"/api/tasks/{task['id']}/complete"
        results = race(
            lambda: live.call("POST", url, {"data": INTAKE}, user="sg.reception"),
            lambda: live.call("POST", url, {"data": {**INTAKE, "condition_grade": "B"}}, user="sg.reception2"),
        )
        assert _statuses(results) == [200, 409], results
        tally.update(status for status, _ in results)
        loser = next(body for status, body in results if status == 409)
        assert loser["code"] in ("task_not_open", "concurrent_update"), loser
        facts = _facts(orc, rma["id"])
        assert facts["kinds"]["task_completed"] == 1 and facts["breaks"] == []
        assert facts["tasks"][("record_condition", "completed")] == 1 and facts["open"] == ["diagnose"]
        # the instance still loads and goes on
        complete_open_task(orc, "sg.tech", rma["id"], "diagnose", DIAGNOSIS)
    with capsys.disabled():
        print(f"\n[race] same task completed by two people x{ROUNDS}: {dict(tally)}")


def test_two_technicians_claiming_over_http_exactly_one_gets_it(orc, live, capsys):
    tally = Counter()
    for n in range(ROUNDS):
        rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial=f"CL-{n}"))
        complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
        [task] = live.tasks("sg.tech", rma["id"])
        url = f"/api/tasks/{task['id']}/claim"
        results = race(lambda: live.call("POST", url, user="sg.tech"), lambda: live.call("POST", url, user="sg.tech2"))
        assert _statuses(results) == [200, 409], results
        tally.update(status for status, _ in results)
        winner = next(body for status, body in results if status == 200)["assignee"]
        assert live.ok("GET", f"/api/tasks/{task['id']}", user="manager")["assignee"] == winner
        facts = _facts(orc, rma["id"])
        assert facts["kinds"]["task_claimed"] == 1 and facts["breaks"] == []
        # the loser cannot complete it; the winner can
        loser = "sg.tech2" if winner == "sg.tech" else "sg.tech"
        assert live.call("POST", f"/api/tasks/{task['id']}/complete", {"data": DIAGNOSIS}, user=loser)[0] == 409
        live.ok("POST", f"/api/tasks/{task['id']}/complete", {"data": DIAGNOSIS}, user=winner)
    with capsys.disabled():
        print(f"\n[race] same task claimed by two technicians x{ROUNDS}: {dict(tally)}")


def test_a_customer_approving_twice_at_once_is_recorded_once(orc, live, capsys):
    tally = Counter()
    for n in range(ROUNDS):
        rma = _quoted(orc, f"AP-{n}")
        url = f"/api/portal/{rma['tracking_token']}/decision"
        # one tab approves, the other declines: whichever lands first is the customer's answer
        results = race(
            lambda: live.call("POST", url, {"approve": True}), lambda: live.call("POST", url, {"approve": False})
        )
        assert _statuses(results) == [200, 409], results
        tally.update(status for status, _ in results)
        approved = results[0][0] == 200
        facts = _facts(orc, rma["id"])
        assert facts["kinds"]["quote_decided"] == 1 and facts["breaks"] == []
        assert facts["tasks"][("customer_approval", "completed")] == 1
        assert facts["quotes"] == ["approved" if approved else "declined"]
        assert facts["status"] == ("repairing" if approved else "returning")
        assert facts["open"] == (["repair"] if approved else ["ship_return"])
        tally["approved" if approved else "declined"] += 1
    with capsys.disabled():
        print(f"\n[race] customer decides twice at once x{ROUNDS}: {dict(tally)}")


def test_approving_while_the_expiry_timer_fires_exactly_one_outcome_wins(orc, live, capsys, caplog):
    tally = Counter()
    # The sweep runs in-process and an HTTP round trip takes longer, so the sweep is held back a little more
    # each round: early rounds the timer wins, later ones the customer, and some land in the same instant.
    timer_delays = [0, 0.005, 0.01, 0.02, 0.04, 0.08]
    rounds = len(timer_delays)
    for n in range(rounds):
        with time_machine.travel(utcnow(), tick=False) as clock:
            start = utcnow()
            rma = _quoted(orc, f"EX-{n}")
            clock.move_to(start + timedelta(days=14, minutes=1))
            url = f"/api/portal/{rma['tracking_token']}/decision"
            decision, fired = race(
                lambda: live.call("POST", url, {"approve": True}),
                lambda: fire_due_timers(orc),
                delays=[0, timer_delays[n]],
            )
            assert not isinstance(decision, Exception) and not isinstance(fired, Exception), (decision, fired)
            status, body = decision
            assert status in (200, 409), decision
            # a timer sweep that lost the race may leave nothing due, or fire once more: never an error
            fire_due_timers(orc)
            facts = _facts(orc, rma["id"])
        assert facts["breaks"] == [] and facts["status"] != "incident", facts
        expired = any("approval_expired" in detail for detail in facts["fired"])
        if status == 200:
            assert not expired, facts
            assert facts["decided"] == ["quote approved"] and facts["quotes"] == ["approved"], facts
            assert (facts["status"], facts["open"]) == ("repairing", ["repair"])
            assert facts["tasks"][("customer_approval", "completed")] == 1
            tally["customer won"] += 1
        else:
            assert body["code"] in ("no_decision_pending", "concurrent_update"), body
            assert expired and facts["quotes"] == ["expired"], facts
            assert len(facts["decided"]) == 1 and "expired without an answer" in facts["decided"][0], facts
            assert (facts["status"], facts["open"]) == ("returning", ["ship_return"])
            assert facts["tasks"][("customer_approval", "cancelled")] == 1
            assert [d for d in facts["fired"] if "approval_expired" in d].__len__() == 1
            tally["timer won"] += 1
            tally[f"customer got 409 {body['code']}"] += 1
        # either way the instance loads and goes on to its next task
        next_task = facts["open"][0]
        data = (
            {"repair_notes": "Replaced the gear train"}
            if next_task == "repair"
            else {"carrier": "DHL", "tracking_number": f"EX-{n}"}
        )
        complete_open_task(orc, "sg.tech" if next_task == "repair" else "sg.reception", rma["id"], next_task, data)
    # both lock the instance row before any task row: neither deadlocks nor fails a version check, so the
    # sweep never logs a failed firing (it would have, as a deadlock, before they locked in the same order)
    assert not [r for r in caplog.records if r.name == "rma.scheduler" and r.levelname == "ERROR"]
    with capsys.disabled():
        print(f"\n[race] customer approves while the 14-day expiry fires x{rounds}: {dict(tally)}")


def test_a_technician_finishing_diagnosis_while_the_sla_timer_fires_loses_nothing(orc, live, capsys, caplog):
    """Not a contest: both may happen. The completion waits for the sweep's lock (or the sweep skips the
    locked instance), so the technician's work is saved every time, never a 409 to retry, and the escalation
    is fired at most once and withdrawn once the diagnosis is in."""
    tally = Counter()
    timer_delays = [0, 0.005, 0.01, 0.02, 0.04, 0.08]
    for n, delay in enumerate(timer_delays):
        with time_machine.travel(utcnow(), tick=False) as clock:
            start = utcnow()
            rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=6, serial=f"SLA-{n}"))
            complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
            [task] = live.tasks("sg.tech", rma["id"])
            clock.move_to(start + timedelta(days=2, minutes=1))
            done, fired = race(
                lambda: live.call("POST", f"/api/tasks/{task['id']}/complete", {"data": DIAGNOSIS}, user="sg.tech"),
                lambda: fire_due_timers(orc),
                delays=[0, delay],
            )
            assert not isinstance(fired, Exception), fired
            assert done[0] == 200, done
            fire_due_timers(orc)
            facts = _facts(orc, rma["id"])
        assert facts["breaks"] == [] and (facts["status"], facts["open"]) == ("repairing", ["repair"]), facts
        assert facts["tasks"][("diagnose", "completed")] == 1 and facts["kinds"]["task_completed"] == 2
        escalated = len(facts["fired"])
        assert escalated <= 1 and facts["tasks"][("review_overdue_diagnosis", "cancelled")] == escalated, facts
        tally["escalated, then withdrawn" if escalated else "diagnosed before the sweep"] += 1
    assert not [r for r in caplog.records if r.name == "rma.scheduler" and r.levelname == "ERROR"]
    with capsys.disabled():
        print(
            f"\n[race] diagnosis completed while its 2-day SLA timer fires x{len(timer_delays)}: "
            f"{dict(tally)}; technician answered 200 every time"
        )


def test_a_manager_cancelling_while_the_expiry_timer_fires_is_saved_once(orc, live, capsys, caplog):
    """Cancelling cancels the open tasks the sweep also touches: both take the instance lock first, so the
    cancellation is saved every time (on top of the expiry or before it) and nothing is left half-done."""
    tally = Counter()
    timer_delays = [0, 0.01, 0.03, 0.08]
    for n, delay in enumerate(timer_delays):
        with time_machine.travel(utcnow(), tick=False) as clock:
            start = utcnow()
            rma = _quoted(orc, f"CX-{n}")
            clock.move_to(start + timedelta(days=14, minutes=1))
            live.tokens.pop("manager", None)
            live.token("manager")  # the one from before the jump has expired
            done, fired = race(
                lambda: live.call(
                    "POST", f"/api/rmas/{rma['id']}/cancel", {"reason": "customer withdrew"}, user="manager"
                ),
                lambda: fire_due_timers(orc),
                delays=[0, delay],
            )
            assert not isinstance(fired, Exception) and done[0] == 200, (done, fired)
            fire_due_timers(orc)
            facts = _facts(orc, rma["id"])
            with orc.uow() as uow:
                outcome = uow.session.get(Rma, rma["id"]).outcome
        assert facts["breaks"] == [] and facts["status"] == "closed" and outcome == "cancelled", facts
        assert facts["open"] == [] and facts["kinds"]["rma_cancelled"] == 1 and len(facts["fired"]) <= 1, facts
        tally["expired, then cancelled" if facts["fired"] else "cancelled before the sweep"] += 1
    assert not [r for r in caplog.records if r.name == "rma.scheduler" and r.levelname == "ERROR"]
    with capsys.disabled():
        print(
            f"\n[race] manager cancels while the 14-day expiry fires x{len(timer_delays)}: {dict(tally)}; "
            f"cancel answered 200 every time"
        )


def test_a_deadlock_or_serialization_failure_is_a_409_not_a_500(orc):
    """The safety net under the lock order: a transaction PostgreSQL aborts to break a deadlock was rolled
    back whole, like a failed version check, so the caller gets ConcurrentUpdate (409) and may retry."""
    from sqlalchemy.exc import OperationalError

    from engine.errors import ConcurrentUpdate

    class Aborted(Exception):
        def __init__(self, sqlstate):
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    for sqlstate in ("40P01", "40001"):
        with pytest.raises(ConcurrentUpdate):
            with orc.uow():
                raise OperationalError("UPDATE instances ...", {}, Aborted(sqlstate))
    with pytest.raises(OperationalError):  # anything else is not a lost race and stays what it is
        with orc.uow():
            raise OperationalError("SELECT 1", {}, Aborted("08006"))
