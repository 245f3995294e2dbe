"""The estimate against generated histories whose right answers are known (no database)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest

from engine.customer import eta
from engine.customer.eta import EtaSettings, PastRma, Situation, estimate, percentile, possible_paths

ALL = frozenset(eta.CLASSES)
# the percentiles' mode (RMA_ETA_COVERAGE=0); the default narrowest range is tested in test_eta_coverage.py
SETTINGS = EtaSettings(window_days=90, min_samples=20, low_percentile=20, high_percentile=80, coverage=0)


def past(path="warranty", **days) -> PastRma:
    return PastRma(days, path)


def test_percentile_interpolates_between_ranks_like_numpy():
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(101)), 80) == 80
    assert percentile([7], 20) == 7


def test_identical_history_gives_its_exact_remaining_time():
    history = [past(diagnosis=2, repair=3, qa=1, **{"return": 1}) for _ in range(30)]
    result = estimate(history, Situation("diagnosis", 0, frozenset({"warranty"})), SETTINGS)
    assert (result.low_days, result.high_days, result.source, result.samples) == (7, 7, "history", 30)


def test_range_is_the_percentiles_of_what_was_left_for_comparable_units():
    # repair takes 1..100 days (one each), everything else is instant: p20 = 20.8, p80 = 80.2
    history = [past(repair=d) for d in range(1, 101)]
    result = estimate(history, Situation("repair", 0, frozenset({"warranty"})), SETTINGS)
    assert result.low_days == pytest.approx(20.8) and result.high_days == pytest.approx(80.2)


def test_time_already_spent_in_the_stage_is_taken_off():
    history = [past(repair=10, qa=1) for _ in range(25)]
    result = estimate(history, Situation("repair", 4, frozenset({"warranty"})), SETTINGS)
    assert result.low_days == result.high_days == 7
    late = estimate(history, Situation("repair", 15, frozenset({"warranty"})), SETTINGS)
    assert late.low_days == 1  # overdue in repair: only what follows is left


def test_only_rmas_that_went_the_same_way_count_once_the_way_is_known():
    quoted = [past("quote_approved", approval=5, repair=3) for _ in range(25)]
    covered = [past("warranty", repair=3) for _ in range(25)]
    in_warranty = estimate(quoted + covered, Situation("repair", 0, frozenset({"warranty"})), SETTINGS)
    assert in_warranty.samples == 25 and in_warranty.high_days == 3
    undecided = estimate(quoted + covered, Situation("diagnosis", 0, ALL), SETTINGS)
    assert undecided.samples == 50 and (undecided.low_days, undecided.high_days) == (3, 8)


def test_possible_paths_follow_the_process_data():
    assert possible_paths(None, None, None) == ALL
    assert possible_paths(True, "electronic", None) == {"warranty"}
    assert possible_paths(True, "no_fault_found", None) == {"no_fault"}
    assert possible_paths(False, "electronic", None) == {"quote_approved", "declined"}
    assert possible_paths(False, "electronic", False) == {"declined"}


def test_thin_history_falls_back_to_the_standard_times_and_says_so():
    history = [past(repair=1) for _ in range(19)]
    result = estimate(history, Situation("repair", 0, frozenset({"warranty"})), SETTINGS)
    assert result.source == "defaults" and result.samples == 0
    lo = eta.DEFAULT_STAGE_DAYS["repair"][0] + eta.DEFAULT_STAGE_DAYS["qa"][0] + eta.DEFAULT_STAGE_DAYS["return"][0]
    hi = eta.DEFAULT_STAGE_DAYS["repair"][1] + eta.DEFAULT_STAGE_DAYS["qa"][1] + eta.DEFAULT_STAGE_DAYS["return"][1]
    assert (result.low_days, result.high_days) == (lo, hi)


def test_defaults_count_a_possible_approval_only_in_the_later_date():
    result = estimate([], Situation("diagnosis", 0, frozenset({"warranty", "quote_approved"})), SETTINGS)
    approval_hi = eta.DEFAULT_STAGE_DAYS["approval"][1]
    covered = estimate([], Situation("diagnosis", 0, frozenset({"warranty"})), SETTINGS)
    assert result.low_days == covered.low_days and result.high_days == covered.high_days + approval_hi


def test_a_longer_queue_than_usual_pushes_the_range_out_by_littles_law():
    # 90 units through diagnosis in 90 days (1 a day), 2 days each: usually 2 wait. 12 ahead: +10 days.
    history = [past(diagnosis=2) for _ in range(90)]
    calm = estimate(history, Situation("diagnosis", 0, ALL, ahead_in_queue=1), SETTINGS)
    busy = estimate(history, Situation("diagnosis", 0, ALL, ahead_in_queue=12), SETTINGS)
    assert calm.queue is None and calm.high_days == 2
    assert busy.low_days == pytest.approx(12) and busy.queue == {"n": 12, "stage": "diagnosis", "shift_days": 10}


def test_a_closed_rma_needs_no_estimate():
    assert estimate([], Situation(None, 0, ALL), SETTINGS).source == "done"


def test_dates_are_in_the_centres_time_zone():
    result = eta.Estimate(1, 3, "history")
    late_evening_utc = datetime(2024, 6, 3, 20, 0, tzinfo=UTC)  # already 4 June in Singapore
    assert result.dates(late_evening_utc, "Asia/Singapore") == (date(2024, 6, 5), date(2024, 6, 7))
    assert result.dates(late_evening_utc, "UTC") == (date(2024, 6, 4), date(2024, 6, 6))


def generated_history(n: int, seed: int) -> list[PastRma]:
    """A centre's closed RMAs: lognormal stage times, 30% quoted (of which 1 in 4 declined), 10% no fault."""
    rng = random.Random(seed)
    result = []
    for _ in range(n):
        kind = rng.random()
        days = {"intake": 0.01, "diagnosis": rng.lognormvariate(0.5, 0.5)}
        if kind < 0.10:
            path = "no_fault"
        elif kind < 0.40:
            days["approval"] = rng.lognormvariate(0.7, 0.8)
            path = "declined" if rng.random() < 0.25 else "quote_approved"
        else:
            path = "warranty"
        if path in ("warranty", "quote_approved"):
            days["repair"] = rng.lognormvariate(1.0, 0.6)
            days["qa"] = rng.lognormvariate(-1.0, 0.5)
            if rng.random() < 0.1:  # failed QA: a second repair and QA
                days["repair"] += rng.lognormvariate(0.5, 0.5)
                days["qa"] += rng.lognormvariate(-1.0, 0.5)
        days["return"] = rng.lognormvariate(0.3, 0.4)
        result.append(PastRma(days, path))
    return result


def accuracy(train: list[PastRma], test: list[PastRma], stage: str = "diagnosis") -> dict:
    """Share of held-out RMAs whose real remaining time fell inside the range, and the typical miss."""
    inside, misses, widths = 0, [], []
    for unit in test:
        paths = ALL if stage in ("intake", "diagnosis") else frozenset({unit.path})
        result = estimate(train, Situation(stage, 0, paths), SETTINGS)
        truth = eta.remaining(unit, Situation(stage, 0, paths))
        inside += result.low_days <= truth <= result.high_days
        misses.append(
            0
            if result.low_days <= truth <= result.high_days
            else min(abs(truth - result.low_days), abs(truth - result.high_days))
        )
        widths.append(result.high_days - result.low_days)
    return {
        "coverage": inside / len(test),
        "median_miss_days": sorted(misses)[len(misses) // 2],
        "median_width_days": sorted(widths)[len(widths) // 2],
    }


def test_on_a_generated_history_about_sixty_percent_land_inside_a_p20_p80_range():
    train, test = generated_history(140, seed=7), generated_history(400, seed=8)
    at_intake = accuracy(train, test, "diagnosis")
    after_warranty = accuracy(train, test, "repair")
    # a p20-p80 range should hold 60% of outcomes; sampling error on 140 repairs allows a few points either way
    assert 0.5 <= at_intake["coverage"] <= 0.7, at_intake
    assert 0.5 <= after_warranty["coverage"] <= 0.7, after_warranty
    assert at_intake["median_miss_days"] == 0
