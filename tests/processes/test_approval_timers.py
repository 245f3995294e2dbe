"""The quote approval's timers: a reminder after 3 days, an automatic decline after 14 (time is moved, never slept)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from tests.processes.walk import (
    CUSTOMER_APPROVAL,
    DIAGNOSE,
    INTAKE_FORM,
    RECORD_CONDITION,
    REPAIR,
    SHIP_FORM,
    SHIP_RETURN,
    Walk,
    diagnosis,
    start_data,
)

T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
OUT_OF_WARRANTY = {"purchase_date": "2020-01-10", "received_on": "2024-06-03"}


def _quoted(parsed) -> Walk:
    walk = Walk(parsed, start_data(**OUT_OF_WARRANTY))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("mechanical", parts_cost=100, labour_hours=2))
    return walk


def _fire(walk: Walk, clock, at: datetime) -> list[str]:
    """Move the clock, restore the stored state (as the worker does) and fire what is due."""
    clock.move_to(at)
    walk.restore()
    return walk.rt.fire_due_timers(walk.wf)


def walk_reminded_then_approved(parsed) -> Walk:
    with time_machine.travel(T0, tick=False) as clock:
        walk = _quoted(parsed)
        assert walk.rt.next_timer_at(walk.wf) == T0 + timedelta(days=3)
        assert _fire(walk, clock, T0 + timedelta(days=3, seconds=1)) == ["approval_reminder"]
        walk.do(CUSTOMER_APPROVAL, {"approve": True})
        [task] = walk.wait()
        assert task.name == "repair"
        assert walk.rt.next_timer_at(walk.wf) is None  # the expiry died with the answered task
    return walk


def walk_expired_quote(parsed) -> Walk:
    with time_machine.travel(T0, tick=False) as clock:
        walk = _quoted(parsed)
        assert _fire(walk, clock, T0 + timedelta(days=3, hours=1)) == ["approval_reminder"]
        assert walk.rt.next_timer_at(walk.wf) == T0 + timedelta(days=14)
        assert _fire(walk, clock, T0 + timedelta(days=14, seconds=1)) == ["approval_expired"]
        walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


def test_no_timer_fires_before_three_days(parsed):
    with time_machine.travel(T0, tick=False) as clock:
        walk = _quoted(parsed)
        assert _fire(walk, clock, T0 + timedelta(days=3) - timedelta(seconds=1)) == []
        assert [t.name for t in walk.wait()] == ["customer_approval"]


def test_reminder_after_three_days_keeps_the_quote_open_and_fires_once(parsed):
    with time_machine.travel(T0, tick=False) as clock:
        walk = _quoted(parsed)
        assert _fire(walk, clock, T0 + timedelta(days=3, seconds=1)) == ["approval_reminder"]
        [task] = walk.wait()
        assert task.name == "customer_approval" and walk.status == "awaiting_approval"
        assert _fire(walk, clock, T0 + timedelta(days=5)) == []  # non-interrupting, but only once
        assert walk.rt.next_timer_at(walk.wf) == T0 + timedelta(days=14)


def test_answer_after_the_reminder_still_counts(parsed):
    walk = walk_reminded_then_approved(parsed)
    assert walk.data["approve"] is True and "approval_expired" not in walk.data


def test_answer_before_the_reminder_cancels_both_timers(parsed):
    with time_machine.travel(T0, tick=False):
        walk = _quoted(parsed)
        walk.do(CUSTOMER_APPROVAL, {"approve": False})
        assert walk.rt.next_timer_at(walk.wf) is None


def test_no_answer_for_fourteen_days_declines_and_returns_unrepaired(parsed):
    walk = walk_expired_quote(parsed)
    data = walk.finish()
    assert walk.names == ["record_condition", "diagnose", "ship_return"]
    assert data["approve"] is False and data["approval_expired"] is True
    assert data["outcome"] == "returned_unrepaired"
    assert REPAIR.name not in walk.names


def test_expiry_after_a_long_outage_fires_reminder_and_decline_in_one_sweep(parsed):
    with time_machine.travel(T0, tick=False) as clock:
        walk = _quoted(parsed)
        fired = _fire(walk, clock, T0 + timedelta(days=20))
        assert "approval_expired" in fired
        assert [t.name for t in walk.wait()] == ["ship_return"]
