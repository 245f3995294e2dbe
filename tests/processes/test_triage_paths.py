"""Online requests before the unit reaches intake: troubleshooting, staff review, the parcel message and its timers.

Every wait is a dump/load round trip (Walk.wait / Walk.restore); time is moved, never slept.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from engine.execution.runtime import MessageNotAwaited
from tests.processes.walk import (
    DIAGNOSE,
    INTAKE_FORM,
    QA_CHECK,
    RECORD_CONDITION,
    REPAIR,
    REPAIR_FORM,
    SHIP_FORM,
    SHIP_RETURN,
    Step,
    Walk,
    diagnosis,
    start_data,
)

T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
TROUBLESHOOT = Step("troubleshoot", "Customer", "customer", "requested", "triage")
REVIEW_REQUEST = Step("review_request", "Reception", "reception", "requested", "triage")
KNOWN_ISSUES = [
    {
        "code": "lens_error",
        "question": "Does the screen show 'Lens error'?",
        "steps": ["Switch off", "Remove the battery for 10 seconds"],
    }
]


def online(**extra) -> dict:
    return start_data(channel="online", known_issues=KNOWN_ISSUES, **extra)


def _fire(walk: Walk, clock, at: datetime) -> list[str]:
    clock.move_to(at)
    walk.restore()
    return walk.rt.fire_due_timers(walk.wf)


def _parcel_arrives(walk: Walk) -> None:
    """Reception scans the number: the message is delivered to the restored instance."""
    walk.restore()
    assert walk.rt.awaited_messages(walk.wf) == {"parcel_received"}
    walk.rt.deliver_message(walk.wf, "parcel_received", {"received_by": "sg.reception"})


def walk_solved_by_the_customer(parsed) -> Walk:
    walk = Walk(parsed, online())
    walk.do(
        TROUBLESHOOT, {"troubleshoot_solved": True, "answers": {"lens_error": "yes"}, "solved_by_issue": "lens_error"}
    )
    return walk


def walk_resolved_remotely_by_staff(parsed) -> Walk:
    walk = Walk(parsed, online())
    walk.do(TROUBLESHOOT, {"troubleshoot_solved": False, "answers": {"lens_error": "no"}})
    walk.do(REVIEW_REQUEST, {"review_decision": "resolve_remotely", "review_notes": "Firmware 2.4 by phone"})
    return walk


def walk_shipped_in_and_repaired(parsed) -> Walk:
    """No answer to the self-help steps for a week: staff authorise the shipment; the parcel arrives."""
    with time_machine.travel(T0, tick=False) as clock:
        walk = Walk(parsed, online())
        [task] = walk.wait()
        assert task.name == "troubleshoot"
        assert _fire(walk, clock, T0 + timedelta(days=7, seconds=1)) == ["troubleshoot_timeout"]
        walk.do(REVIEW_REQUEST, {"review_decision": "ship_in"})
        assert walk.wait() == [] and walk.status == "awaiting_unit"
        assert walk.rt.next_timer_at(walk.wf) == T0 + timedelta(days=17, seconds=1)
        _parcel_arrives(walk)
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("electronic", parts_cost=80, labour_hours=1))
    walk.do(REPAIR, REPAIR_FORM)
    walk.do(QA_CHECK, {"qa_passed": True})
    walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


def walk_reminded_then_expired(parsed) -> Walk:
    with time_machine.travel(T0, tick=False) as clock:
        walk = Walk(parsed, online())
        walk.do(TROUBLESHOOT, {"troubleshoot_solved": False})
        walk.do(REVIEW_REQUEST, {"review_decision": "ship_in"})
        assert _fire(walk, clock, T0 + timedelta(days=10, seconds=1)) == ["parcel_reminder"]
        assert walk.wait() == [] and walk.status == "awaiting_unit"
        assert _fire(walk, clock, T0 + timedelta(days=30, seconds=1)) == ["parcel_overdue"]
    return walk


def test_a_request_starts_with_the_customers_troubleshooting_not_intake(parsed):
    walk = Walk(parsed, online())
    [task] = walk.wait()
    assert (task.name, task.role, task.stage, walk.status) == ("troubleshoot", "customer", "triage", "requested")
    assert walk.data["known_issues"][0]["code"] == "lens_error"


def test_a_unit_brought_to_the_counter_goes_straight_to_intake(parsed):
    walk = Walk(parsed, start_data(channel="counter"))
    [task] = walk.wait()
    assert task.name == "record_condition"


def test_customer_who_solved_it_closes_the_request_without_a_shipment(parsed):
    walk = walk_solved_by_the_customer(parsed)
    data = walk.finish()
    assert walk.names == ["troubleshoot"]
    assert (data["outcome"], data["resolved_by"]) == ("resolved_remotely", "customer")


def test_staff_can_resolve_remotely_from_their_inbox(parsed):
    walk = walk_resolved_remotely_by_staff(parsed)
    data = walk.finish()
    assert walk.names == ["troubleshoot", "review_request"]
    assert (data["outcome"], data["resolved_by"]) == ("resolved_remotely", "staff")


def test_parcel_message_moves_the_request_into_intake_and_on_to_repair(parsed):
    walk = walk_shipped_in_and_repaired(parsed)
    data = walk.finish()
    assert walk.names == ["review_request", "record_condition", "diagnose", "repair", "qa_check", "ship_return"]
    assert data["outcome"] == "repaired" and data["parcel_arrived"] is True
    assert data["parcel"] == {"received_by": "sg.reception"}
    assert "awaiting_unit" in walk.statuses


def test_a_parcel_that_never_arrives_is_reminded_then_expires(parsed):
    walk = walk_reminded_then_expired(parsed)
    data = walk.finish()
    assert walk.names == ["troubleshoot", "review_request"]
    assert data["outcome"] == "expired" and data["parcel_arrived"] is False


def test_a_parcel_message_is_refused_while_the_request_is_still_in_troubleshooting(parsed):
    walk = Walk(parsed, online())
    walk.restore()
    assert walk.rt.awaited_messages(walk.wf) == set()
    with pytest.raises(MessageNotAwaited):
        walk.rt.deliver_message(walk.wf, "parcel_received", {})
    [task] = walk.wait()
    assert task.name == "troubleshoot"
