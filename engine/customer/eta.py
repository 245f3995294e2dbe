"""An honest completion estimate: percentiles of what the remaining stages really took at this centre.

For each RMA closed at the centre in the last `window_days`, the time each stage took is the sum of its
human tasks' open-to-done times (a QA loop counts as the rework it was). For the RMA in hand, every
such RMA that went the same way (as far as that is known yet) gives one sample of "time still to go":
what was left of the current stage after the time already spent in it (only the RMAs whose stage took longer
than that, when at least `MIN_SURVIVORS` did: a unit that has been in repair for a week is compared with the
repairs that took more than a week), plus all later stages. The range is the narrowest interval that holds
`coverage` of those samples (0.85: on a generated history, bench/estimate.py, it holds the real completion of
about 85% of RMAs it did not learn from; two percentiles, as before, when `coverage` is 0), shifted when the
current stage's queue is longer than
usual (Little's law: the usual number waiting = throughput x mean time in the stage). With fewer
than `min_samples` comparable RMAs it falls back to the stages' standard service times and says so.

The stages, their order, their standard times and the ways that pass them are the process's: the stage table of
the RMA's bundle (engine.process.stages, properties on the skeleton's call activities). Without one given, the
shipped processes' table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from engine.config import Settings
from engine.process.stages import ETA_PATHS, StageTable, shipped

# Path classes: how a closed RMA went; the RMA in hand matches those its known facts allow.
CLASSES = ETA_PATHS
# Fewer RMAs than this took longer in the current stage than ours has so far: compare with all of them instead.
MIN_SURVIVORS = 5


def __getattr__(name: str):
    """DEFAULT_STAGE_DAYS: the shipped processes' standard times per stage, {stage: (low, high)} (read lazily)."""
    if name == "DEFAULT_STAGE_DAYS":
        return shipped().default_days
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class EtaSettings:
    window_days: int = 90
    min_samples: int = 20
    low_percentile: float = 20
    high_percentile: float = 80
    coverage: float = 0.85  # the share of samples the range holds (narrowest such); 0: the percentiles above

    @classmethod
    def of(cls, settings: Settings) -> EtaSettings:
        """The estimate's part of the orchestrator's settings (RMA_ETA_WINDOW_DAYS, _MIN_SAMPLES, _COVERAGE,
        _PERCENTILES)."""
        low, high = settings.eta_percentiles
        return cls(settings.eta_window_days, settings.eta_min_samples, low, high, settings.eta_coverage)


@dataclass(frozen=True)
class PastRma:
    """One closed RMA: days spent per stage and how it went."""

    stage_days: dict
    path: str


@dataclass(frozen=True)
class Situation:
    """Where the RMA in hand stands."""

    stage: str | None  # current stage; None when closed
    elapsed_days: float  # already spent in the current stage
    paths: frozenset  # path classes still possible
    ahead_in_queue: int = 0  # open tasks of the current stage at the centre, older than ours


@dataclass
class Estimate:
    low_days: float
    high_days: float
    source: str  # history | defaults | done
    samples: int = 0
    window_days: int = 0
    queue: dict | None = None  # {"n": waiting ahead, "stage": ..., "shift_days": ...}
    basis: dict = field(default_factory=dict)

    def dates(self, now: datetime, tz: str = "UTC") -> tuple[date, date]:
        local = now.astimezone(ZoneInfo(tz or "UTC"))
        return (local + timedelta(days=self.low_days)).date(), (local + timedelta(days=self.high_days)).date()


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def narrowest(values: list[float], share: float) -> tuple[float, float]:
    """The narrowest interval [low, high] of `values` that holds at least `share` of them (for a right-skewed
    spread it sits lower and is narrower than the percentiles around the median that hold as many)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    k = min(len(ordered), max(1, math.ceil(share * len(ordered) - 1e-9)))
    start = min(range(len(ordered) - k + 1), key=lambda i: ordered[i + k - 1] - ordered[i])
    return ordered[start], ordered[start + k - 1]


def path_of(stages: set, outcome: str | None, table: StageTable | None = None) -> str:
    """How a closed RMA that passed `stages` went: a stage that only quoted ways pass (etaPaths) means quoted."""
    if outcome == "no_fault_found":
        return "no_fault"
    if stages & (table or shipped()).quoted:
        return "declined" if outcome == "returned_unrepaired" else "quote_approved"
    return "warranty"


def possible_paths(in_warranty, fault_category, approve) -> frozenset:
    """Which path classes the process data still allows."""
    if in_warranty is None:
        return frozenset(CLASSES)
    if fault_category == "no_fault_found":
        return frozenset({"no_fault"})
    if in_warranty:
        return frozenset({"warranty"})
    if approve is True:
        return frozenset({"quote_approved"})
    if approve is False:
        return frozenset({"declined"})
    return frozenset({"quote_approved", "declined"})


def remaining(past: PastRma, situation: Situation, stages: StageTable | None = None) -> float:
    keys = (stages or shipped()).keys
    after = keys[keys.index(situation.stage) + 1 :]
    left_here = max(past.stage_days.get(situation.stage, 0.0) - situation.elapsed_days, 0.0)
    return left_here + sum(past.stage_days.get(s, 0.0) for s in after)


def queue_shift(
    history: list[PastRma], situation: Situation, window_days: int, stages: StageTable | None = None
) -> float:
    """Extra days when more units wait ahead of ours than usually do (never negative; none where no one queues)."""
    times = [p.stage_days[situation.stage] for p in history if situation.stage in p.stage_days]
    stage = (stages or shipped()).get(situation.stage)
    if not times or (stage is not None and not stage.queue):
        return 0.0
    throughput = len(times) / window_days  # units through this stage per day
    usual_waiting = throughput * (sum(times) / len(times))
    return max(0.0, (situation.ahead_in_queue - usual_waiting) / throughput)


def estimate(
    history: list[PastRma],
    situation: Situation,
    settings: EtaSettings = EtaSettings(),
    stages: StageTable | None = None,
) -> Estimate:
    """The range of days still to go for `situation`, from `history` (closed RMAs of the window).

    `stages`: the stage table of the RMA's bundle (default: the shipped processes')."""
    stages = stages or shipped()
    if situation.stage is None:
        return Estimate(0, 0, "done")
    if not stages.keys:  # a process that declares no steps: nothing to go by
        return Estimate(0, 0, "defaults")
    if situation.stage not in stages.keys:
        # a stage without a step counts as the one it declares (etaCountsAs): troubleshooting before the unit
        # arrives as intake, a replacement shipment as the return; any other as the first step
        situation = replace(situation, stage=stages.counted_as(situation.stage), elapsed_days=0.0)
    matching = [p for p in history if p.path in situation.paths]
    if len(matching) < settings.min_samples:
        return _defaults(situation, stages)
    if situation.elapsed_days > 0:
        # the RMAs whose current stage took longer than ours has so far (when enough did): what is left of it
        # is then what was left of theirs, not the nothing a quicker one would say
        longer = [p for p in matching if p.stage_days.get(situation.stage, 0.0) > situation.elapsed_days]
        if len(longer) >= MIN_SURVIVORS:
            matching = longer
    samples = [remaining(p, situation, stages) for p in matching]
    shift = queue_shift(history, situation, settings.window_days, stages)
    queue = (
        {"n": situation.ahead_in_queue, "stage": situation.stage, "shift_days": round(shift, 2)} if shift > 0 else None
    )
    if settings.coverage > 0:
        low, high = narrowest(samples, settings.coverage)
    else:
        low, high = percentile(samples, settings.low_percentile), percentile(samples, settings.high_percentile)
    return Estimate(
        low + shift,
        high + shift,
        "history",
        len(matching),
        settings.window_days,
        queue,
    )


def _defaults(situation: Situation, stages: StageTable) -> Estimate:
    after = stages.steps[stages.keys.index(situation.stage) :]
    low = high = 0.0
    for stage in after:
        lo, hi = stage.days or (0, 0)
        if stage.key == situation.stage:
            lo, hi = max(lo - situation.elapsed_days, 0), max(hi - situation.elapsed_days, 0.5)
        needed = _stage_needed(stage.paths, situation.paths)
        if needed == "always":
            low, high = low + lo, high + hi
        elif needed == "maybe":
            high += hi
    return Estimate(low, high, "defaults")


def _stage_needed(uses: frozenset | None, paths: frozenset) -> str:
    """Whether a stage that the ways `uses` pass (None: every way) is ahead "always", "maybe" or "never"."""
    if uses is None:
        return "always"
    hits = len(paths & uses)
    return "always" if hits == len(paths) else "maybe" if hits else "never"
