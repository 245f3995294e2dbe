"""SLA timers on diagnosis (2 days) and QA (1 day): a manager is asked to review, the work goes on.

Time is moved with time_machine (SpiffWorkflow reads `datetime.now(timezone.utc)` itself), never slept;
every wait is a dump/load round trip, as between two requests or a request and the worker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from lxml import etree

from engine.process.definitions import BPMN_NS, parse_bundle, read_bundle_dir
from tests.conftest import PROCESSES_DIR
from tests.processes.walk import (
    DIAGNOSE,
    INTAKE_FORM,
    QA_CHECK,
    RECORD_CONDITION,
    REPAIR,
    REPAIR_FORM,
    SHIP_FORM,
    SHIP_RETURN,
    Walk,
    diagnosis,
    start_data,
)

T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
IN_WARRANTY = {"purchase_date": "2023-01-10", "received_on": "2024-06-03"}
REVIEW = {"escalation_action": "chased", "escalation_notes": "Asked the bench lead to prioritise"}


def _fire(walk: Walk, clock, at: datetime) -> list[str]:
    """Move the clock, restore the stored state (as the worker does) and fire what is due."""
    clock.move_to(at)
    walk.restore()
    return walk.rt.fire_due_timers(walk.wf)


def _complete(walk: Walk, name: str, form: dict) -> None:
    """Complete the open task `name` (others may be open beside it)."""
    ready = {t.name: t for t in walk.wait()}
    assert name in ready, f"{name} is not open; open: {sorted(ready)}"
    walk.rt.complete(walk.wf, ready[name].id, form)
    walk.done.append(ready[name])


def _open(walk: Walk) -> list[tuple[str, str]]:
    return sorted((t.name, t.role) for t in walk.wait())


def _at_diagnosis(parsed) -> Walk:
    walk = Walk(parsed, start_data(**IN_WARRANTY))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    return walk


def walk_both_slas_breached_and_reviewed(parsed) -> Walk:
    """Diagnosis and QA both overrun; the manager reviews each before the work is done."""
    with time_machine.travel(T0, tick=False) as clock:
        walk = _at_diagnosis(parsed)
        assert walk.rt.next_timer_at(walk.wf) == T0 + timedelta(days=2)
        assert _fire(walk, clock, T0 + timedelta(days=2, seconds=1)) == ["diagnosis_overdue"]
        assert _open(walk) == [("diagnose", "technician"), ("review_overdue_diagnosis", "manager")]
        assert walk.status == "diagnosing"
        _complete(walk, "review_overdue_diagnosis", REVIEW)
        assert _open(walk) == [("diagnose", "technician")]
        walk.do(DIAGNOSE, diagnosis("electronic", parts_cost=80, labour_hours=1))
        walk.do(REPAIR, REPAIR_FORM)
        qa_open = T0 + timedelta(days=2, seconds=1)
        assert walk.rt.next_timer_at(walk.wf) == qa_open + timedelta(days=1)
        assert _fire(walk, clock, qa_open + timedelta(days=1, seconds=1)) == ["qa_overdue"]
        assert _open(walk) == [("qa_check", "qa"), ("review_overdue_qa", "manager")]
        assert walk.status == "quality_check"
        _complete(walk, "review_overdue_qa", {"escalation_action": "no_action"})
        walk.do(QA_CHECK, {"qa_passed": True})
        walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


def test_no_escalation_before_the_sla(parsed):
    with time_machine.travel(T0, tick=False) as clock:
        walk = _at_diagnosis(parsed)
        assert _fire(walk, clock, T0 + timedelta(days=2) - timedelta(seconds=1)) == []
        assert _open(walk) == [("diagnose", "technician")]
        assert walk.rt.next_timer_at(walk.wf) == T0 + timedelta(days=2)


def test_overdue_diagnosis_escalates_to_a_manager_without_cancelling_the_diagnosis(parsed):
    walk = walk_both_slas_breached_and_reviewed(parsed)
    data = walk.finish()
    assert data["outcome"] == "repaired"
    assert walk.names == [
        "record_condition",
        "review_overdue_diagnosis",
        "diagnose",
        "repair",
        "review_overdue_qa",
        "qa_check",
        "ship_return",
    ]
    assert "closed" == walk.status


def test_escalation_fires_once_and_the_timer_is_then_gone(parsed):
    with time_machine.travel(T0, tick=False) as clock:
        walk = _at_diagnosis(parsed)
        assert _fire(walk, clock, T0 + timedelta(days=3)) == ["diagnosis_overdue"]
        assert walk.rt.next_timer_at(walk.wf) is None
        assert _fire(walk, clock, T0 + timedelta(days=30)) == []
        assert [n for n, _ in _open(walk)].count("review_overdue_diagnosis") == 1


def test_diagnosis_done_before_the_review_withdraws_the_open_escalation(parsed):
    with time_machine.travel(T0, tick=False) as clock:
        walk = _at_diagnosis(parsed)
        _fire(walk, clock, T0 + timedelta(days=2, hours=1))
        _complete(walk, "diagnose", diagnosis("electronic", parts_cost=80, labour_hours=1))
        assert _open(walk) == [("repair", "technician")]  # the stage ended; the review went with it
        assert walk.status == "repairing"


def test_diagnosis_within_the_sla_cancels_the_timer(parsed):
    with time_machine.travel(T0, tick=False) as clock:
        walk = _at_diagnosis(parsed)
        clock.move_to(T0 + timedelta(days=1))
        walk.do(DIAGNOSE, diagnosis("electronic", parts_cost=80, labour_hours=1))
        assert walk.rt.next_timer_at(walk.wf) is None
        assert _fire(walk, clock, T0 + timedelta(days=10)) == []
        assert _open(walk) == [("repair", "technician")]


def test_each_qa_round_has_its_own_sla(parsed):
    with time_machine.travel(T0, tick=False) as clock:
        walk = _at_diagnosis(parsed)
        walk.do(DIAGNOSE, diagnosis("electronic"))
        walk.do(REPAIR, REPAIR_FORM)
        walk.do(QA_CHECK, {"qa_passed": False, "qa_notes": "Still faulty"})
        assert walk.rt.next_timer_at(walk.wf) is None  # back in repair: no QA timer
        clock.move_to(T0 + timedelta(days=5))
        walk.do(REPAIR, REPAIR_FORM)
        assert walk.rt.next_timer_at(walk.wf) == T0 + timedelta(days=6)


def _timer_durations() -> dict[str, str]:
    found = {}
    for path in (PROCESSES_DIR / "stages").glob("*.bpmn"):
        for event in etree.parse(str(path)).getroot().iter(f"{{{BPMN_NS}}}boundaryEvent"):
            duration = event.find(f"{{{BPMN_NS}}}timerEventDefinition/{{{BPMN_NS}}}timeDuration")
            if duration is not None:
                found[event.get("id")] = (event.get("cancelActivity"), duration.text)
    return found


def test_sla_durations_live_in_the_diagrams_and_do_not_interrupt():
    durations = _timer_durations()
    assert durations["diagnosis_overdue"] == ("false", '"P2D"')
    assert durations["qa_overdue"] == ("false", '"P1D"')


def test_a_process_owner_changes_the_sla_by_editing_the_diagram():
    files = read_bundle_dir(PROCESSES_DIR)
    name = "stages/rma_diagnosis.bpmn"
    files[name] = files[name].replace('"P2D"', '"PT4H"')
    parsed = parse_bundle(files)
    with time_machine.travel(T0, tick=False) as clock:
        walk = _at_diagnosis(parsed)
        assert walk.rt.next_timer_at(walk.wf) == T0 + timedelta(hours=4)
        assert _fire(walk, clock, T0 + timedelta(hours=4, seconds=1)) == ["diagnosis_overdue"]
