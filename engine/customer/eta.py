"""An honest completion estimate: percentiles of what the remaining stages really took at this centre.

For each RMA closed at the centre in the last `window_days`, the time each stage took is the sum of its
human tasks' open-to-done times (a QA loop counts as the rework it was). For the RMA in hand, every
such RMA that went the same way (as far as that is known yet) gives one sample of "time still to go":
what was left of the current stage after the time already spent in it, plus all later stages. The
range is two percentiles of those samples, shifted when the current stage's queue is longer than
usual (Little's law: the usual number waiting = throughput x mean time in the stage). With fewer
than `min_samples` comparable RMAs it falls back to the standard service times below and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from engine.config import Settings

STAGES = ("intake", "diagnosis", "approval", "repair", "qa", "return")
# Stages outside the repair path count as the repair stage they lead into: before the unit arrives the whole
# repair is still ahead (triage, inbound); a replacement unit is on its way back like a return.
STAGE_ALIASES = {"triage": "intake", "inbound": "intake", "replacement": "return"}
# Standard service times in days (low, high) per stage, used when history is thin.
DEFAULT_STAGE_DAYS = {
    "intake": (0, 0.5),
    "diagnosis": (1, 3),
    "approval": (1, 5),
    "repair": (2, 5),
    "qa": (0.5, 1),
    "return": (1, 2),
}
# Path classes: how a closed RMA went; the RMA in hand matches those its known facts allow.
CLASSES = ("warranty", "quote_approved", "declined", "no_fault")


@dataclass(frozen=True)
class EtaSettings:
    window_days: int = 90
    min_samples: int = 20
    low_percentile: float = 20
    high_percentile: float = 80

    @classmethod
    def of(cls, settings: Settings) -> EtaSettings:
        """The estimate's part of the orchestrator's settings (RMA_ETA_WINDOW_DAYS, _MIN_SAMPLES, _PERCENTILES)."""
        low, high = settings.eta_percentiles
        return cls(settings.eta_window_days, settings.eta_min_samples, low, high)


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


def path_of(stages: set, outcome: str | None) -> str:
    if outcome == "no_fault_found":
        return "no_fault"
    if "approval" in stages:
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


def remaining(past: PastRma, situation: Situation) -> float:
    after = STAGES[STAGES.index(situation.stage) + 1 :]
    left_here = max(past.stage_days.get(situation.stage, 0.0) - situation.elapsed_days, 0.0)
    return left_here + sum(past.stage_days.get(s, 0.0) for s in after)


def queue_shift(history: list[PastRma], situation: Situation, window_days: int) -> float:
    """Extra days when more units wait ahead of ours than usually do (never negative)."""
    times = [p.stage_days[situation.stage] for p in history if situation.stage in p.stage_days]
    if not times or situation.stage == "approval":
        return 0.0
    throughput = len(times) / window_days  # units through this stage per day
    usual_waiting = throughput * (sum(times) / len(times))
    return max(0.0, (situation.ahead_in_queue - usual_waiting) / throughput)


def estimate(history: list[PastRma], situation: Situation, settings: EtaSettings = EtaSettings()) -> Estimate:
    """The range of days still to go for `situation`, from `history` (closed RMAs of the window)."""
    if situation.stage is None:
        return Estimate(0, 0, "done")
    if situation.stage not in STAGES:
        situation = replace(situation, stage=STAGE_ALIASES.get(situation.stage, "intake"), elapsed_days=0.0)
    matching = [p for p in history if p.path in situation.paths]
    if len(matching) < settings.min_samples:
        return _defaults(situation)
    samples = [remaining(p, situation) for p in matching]
    shift = queue_shift(history, situation, settings.window_days)
    queue = (
        {"n": situation.ahead_in_queue, "stage": situation.stage, "shift_days": round(shift, 2)} if shift > 0 else None
    )
    return Estimate(
        percentile(samples, settings.low_percentile) + shift,
        percentile(samples, settings.high_percentile) + shift,
        "history",
        len(matching),
        settings.window_days,
        queue,
    )


def _defaults(situation: Situation) -> Estimate:
    after = STAGES[STAGES.index(situation.stage) :]
    low = high = 0.0
    for stage in after:
        lo, hi = DEFAULT_STAGE_DAYS.get(stage, (0, 0))
        if stage == situation.stage:
            lo, hi = max(lo - situation.elapsed_days, 0), max(hi - situation.elapsed_days, 0.5)
        needed = _stage_needed(stage, situation.paths)
        if needed == "always":
            low, high = low + lo, high + hi
        elif needed == "maybe":
            high += hi
    return Estimate(low, high, "defaults")


def _stage_needed(stage: str, paths: frozenset) -> str:
    uses = {
        "approval": {"quote_approved", "declined"},
        "repair": {"warranty", "quote_approved"},
        "qa": {"warranty", "quote_approved"},
    }.get(stage)
    if uses is None:
        return "always"
    hits = len(paths & uses)
    return "always" if hits == len(paths) else "maybe" if hits else "never"
