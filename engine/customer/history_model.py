"""A realistic generated history of closed RMAs: how long each stage took, per centre, and how each RMA went.

For measuring the completion estimate (bench/estimate.py, tests/unit/test_eta_coverage.py) and for demo data
that looks lived-in: stage times skewed to the right (log-normal: most are quick, a few take much longer),
centres that differ (Berlin diagnoses and repairs more slowly than Singapore), the four ways an RMA goes
(warranty, an approved quote, a declined quote, no fault found), QA failures that send the unit back to repair
(the rework counts into the repair and QA stages, as engine.customer.estimates counts it from the task rows),
parts on back order, and waits for the customer (questions during diagnosis, the answer to a quote).

Pure Python and seeded: the same seed gives the same history, another seed an independent one (so an estimate
can learn from one and be measured on another).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine.customer.eta import PastRma


@dataclass(frozen=True)
class Spread:
    """A log-normal duration in days: its median and the sigma of its logarithm (right skew)."""

    median: float
    sigma: float

    def draw(self, rng: random.Random) -> float:
        return self.median * math.exp(rng.gauss(0.0, self.sigma))


@dataclass(frozen=True)
class CentreProfile:
    code: str
    per_day: float  # RMAs opened per day (Poisson)
    intake: Spread = Spread(0.15, 0.6)
    diagnosis: Spread = Spread(1.5, 0.6)
    approval: Spread = Spread(1.2, 0.9)  # the customer's answer to a quote
    repair: Spread = Spread(2.5, 0.5)
    qa: Spread = Spread(0.4, 0.5)
    ship: Spread = Spread(1.0, 0.4)
    warranty_share: float = 0.45
    no_fault_share: float = 0.10
    declined_share: float = 0.30  # of the quoted
    rework_share: float = 0.12  # QA fails: back to repair, then QA again
    backorder_share: float = 0.10  # parts on back order: a few more days in repair
    backorder_days: tuple[float, float] = (3.0, 10.0)
    question_share: float = 0.08  # the technician waits for the customer's answer during diagnosis
    question: Spread = Spread(2.0, 0.7)


CENTRES: dict[str, CentreProfile] = {
    "SG": CentreProfile("SG", per_day=5.0),
    "DE": CentreProfile(
        "DE",
        per_day=3.0,
        diagnosis=Spread(2.2, 0.6),
        repair=Spread(3.2, 0.55),
        ship=Spread(1.4, 0.35),
        warranty_share=0.55,
        declined_share=0.25,
        rework_share=0.15,
    ),
}


@dataclass(frozen=True)
class GeneratedRma:
    centre: str
    opened_at: datetime
    stage_days: dict[str, float]
    path: str  # warranty | quote_approved | declined | no_fault
    outcome: str  # repaired | returned_unrepaired | no_fault_found
    in_warranty: bool
    qa_failures: int = 0
    waits: list[str] = field(default_factory=list)  # what held it up: question, backorder

    @property
    def total_days(self) -> float:
        return sum(self.stage_days.values())

    @property
    def closed_at(self) -> datetime:
        return self.opened_at + timedelta(days=self.total_days)

    def past(self) -> PastRma:
        return PastRma(dict(self.stage_days), self.path)


def one_rma(rng: random.Random, profile: CentreProfile, opened_at: datetime) -> GeneratedRma:
    """One RMA of `profile`'s centre opened at `opened_at`, walked to its end."""
    p = profile
    roll = rng.random()
    if roll < p.no_fault_share:
        path = "no_fault"
    elif roll < p.no_fault_share + p.warranty_share:
        path = "warranty"
    else:
        path = "declined" if rng.random() < p.declined_share else "quote_approved"
    waits: list[str] = []
    days = {"intake": p.intake.draw(rng), "diagnosis": p.diagnosis.draw(rng)}
    if rng.random() < p.question_share:
        days["diagnosis"] += p.question.draw(rng)
        waits.append("question")
    if path in ("quote_approved", "declined"):
        days["approval"] = p.approval.draw(rng)
    failures = 0
    if path in ("warranty", "quote_approved"):
        days["repair"] = p.repair.draw(rng)
        if rng.random() < p.backorder_share:
            days["repair"] += rng.uniform(*p.backorder_days)
            waits.append("backorder")
        days["qa"] = p.qa.draw(rng)
        while rng.random() < p.rework_share and failures < 3:
            failures += 1
            days["repair"] += p.repair.draw(rng) * 0.4  # fixing what QA found is shorter than the repair
            days["qa"] += p.qa.draw(rng)
    days["return"] = p.ship.draw(rng)
    outcome = {"no_fault": "no_fault_found", "declined": "returned_unrepaired"}.get(path, "repaired")
    return GeneratedRma(p.code, opened_at, days, path, outcome, path in ("warranty", "no_fault"), failures, waits)


def generate(
    seed: int,
    days: int = 180,
    end: datetime = datetime(2026, 6, 30),
    centres: dict[str, CentreProfile] | None = None,
) -> list[GeneratedRma]:
    """The RMAs opened in the `days` before `end` at each centre (Poisson arrivals), oldest first."""
    rng = random.Random(seed)
    start = end - timedelta(days=days)
    found = []
    for profile in (centres or CENTRES).values():
        at = start
        while True:
            at += timedelta(days=rng.expovariate(profile.per_day))
            if at >= end:
                break
            found.append(one_rma(rng, profile, at))
    return sorted(found, key=lambda r: r.opened_at)


def closed_in_window(rmas: list[GeneratedRma], centre: str, now: datetime, window_days: int) -> list[PastRma]:
    """The history the estimate reads at `now`: the centre's RMAs closed in the last `window_days`."""
    since = now - timedelta(days=window_days)
    return [r.past() for r in rmas if r.centre == centre and since <= r.closed_at <= now]


@dataclass(frozen=True)
class Coverage:
    """How often the range held the real completion, and how wide it was (median, in days)."""

    point: str  # intake | after diagnosis
    rmas: int
    held: int
    median_width: float

    @property
    def share(self) -> float:
        return self.held / self.rmas if self.rmas else 0.0


def measure(
    train: list[GeneratedRma],
    test: list[GeneratedRma],
    settings,
    now: datetime = datetime(2026, 6, 30),
) -> dict[str, Coverage]:
    """The estimate learnt from `train` (each centre's RMAs closed in the window before `now`) measured on
    `test`: at intake (nothing known yet) and right after diagnosis (the way it goes is known, the quote's answer
    not yet). A range holds when low <= the real days still to go <= high (in days, not the rounded dates)."""
    from engine.customer import eta

    histories = {c: closed_in_window(train, c, now, settings.window_days) for c in {r.centre for r in test}}
    results = {}
    for point in ("intake", "after diagnosis"):
        held, widths = 0, []
        for rma in test:
            if point == "intake":
                where = eta.Situation("intake", 0.0, frozenset(eta.CLASSES))
                truth = rma.total_days
            else:
                fault = "no_fault_found" if rma.path == "no_fault" else "electronic"
                where = eta.Situation("approval", 0.0, eta.possible_paths(rma.in_warranty, fault, None))
                truth = rma.total_days - rma.stage_days["intake"] - rma.stage_days["diagnosis"]
            result = eta.estimate(histories[rma.centre], where, settings)
            held += result.low_days <= truth <= result.high_days
            widths.append(result.high_days - result.low_days)
        results[point] = Coverage(point, len(test), held, eta.percentile(widths, 50) if widths else 0.0)
    return results
