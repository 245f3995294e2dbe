"""Gather the history engine.customer.eta needs from the database and keep each RMA's estimate up to date."""

from __future__ import annotations

import threading
import weakref
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm.util import identity_key

from engine.customer import eta
from engine.process.stages import StageTable, shipped
from engine.store.model import Centre, HumanTask, Rma, RmaEstimate, utcnow

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()
CACHE_SECONDS = 600


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def history(session, centre: str, now: datetime, settings: eta.EtaSettings) -> list[eta.PastRma]:
    """Closed RMAs of the centre in the window, with days per stage (cached for a few minutes)."""
    bucket = (centre, settings.window_days, int(now.timestamp() // CACHE_SECONDS))
    bind = session.get_bind()
    with _lock:
        found = _cache.get(bind, {}).get(bucket)
    if found is not None:
        return found
    since = now - timedelta(days=settings.window_days)
    # The closed RMAs as an IN list, not a join: without statistics SQLite would loop over those RMAs and,
    # for each, scan every completed task through a covering index (hours at 100,000 RMAs); this way it
    # reads the completed tasks once (about a second at 100,000 RMAs, cached as above).
    closed = select(Rma.id).where(Rma.centre_code == centre, Rma.closed_at >= since, Rma.closed_at <= now)
    rows = session.execute(
        select(Rma.id, Rma.outcome, HumanTask.stage, HumanTask.created_at, HumanTask.completed_at)
        .select_from(HumanTask)
        .join(Rma, Rma.id == HumanTask.rma_id)
        .where(HumanTask.rma_id.in_(closed), HumanTask.status == "completed", HumanTask.completed_at.is_not(None))
    ).all()
    stages: dict[int, dict[str, float]] = {}
    outcomes: dict[int, str | None] = {}
    for rma_id, outcome, stage, created, completed in rows:
        days = max((completed - created).total_seconds(), 0) / 86400
        per = stages.setdefault(rma_id, {})
        per[stage or "?"] = per.get(stage or "?", 0.0) + days
        outcomes[rma_id] = outcome
    result = [eta.PastRma(per, eta.path_of(set(per), outcomes[rma_id])) for rma_id, per in stages.items()]
    with _lock:
        _cache.setdefault(bind, {})[bucket] = result
    return result


# Built once: executing a prepared statement with parameters skips rebuilding it and its cache key.
_OPEN_SINCE = select(func.min(HumanTask.created_at)).where(
    HumanTask.rma_id == bindparam("rma_id"), HumanTask.status == "open"
)
_AHEAD = (
    select(func.count())
    .select_from(HumanTask)
    .where(
        HumanTask.status == "open",
        HumanTask.centre_code == bindparam("centre"),
        HumanTask.stage == bindparam("stage"),
        HumanTask.created_at < bindparam("opened"),
    )
)
UNKNOWN = object()
_ESTIMATES = RmaEstimate.__table__
_UPDATE_ESTIMATE = update(_ESTIMATES).where(_ESTIMATES.c.rma_id == bindparam("key"))
_INSERT_ESTIMATE = insert(_ESTIMATES)


def situation(session, rma: Rma, data: dict, now: datetime, opened=UNKNOWN) -> eta.Situation:
    """Where `rma` stands now: its stage, time spent there, possible paths and the queue ahead of it.

    `opened`: when the RMA's oldest open task was created (None: no task open), if the caller knows it."""
    paths = eta.possible_paths(
        data.get("in_warranty", rma.in_warranty), data.get("fault_category"), data.get("approve")
    )
    if rma.status == "closed" or rma.stage is None:
        return eta.Situation(None, 0, paths)
    if opened is UNKNOWN:
        opened = session.scalar(_OPEN_SINCE, {"rma_id": rma.id})
    if opened is None:
        return eta.Situation(rma.stage, 0, paths)
    ahead = session.scalar(_AHEAD, {"centre": rma.centre_code, "stage": rma.stage, "opened": opened})
    return eta.Situation(rma.stage, max((now - opened).total_seconds(), 0) / 86400, paths, int(ahead or 0))


_MEMO = "eta_estimates"  # session.info: the estimates computed in this session, by situation


def _estimate(
    session, centre: str, now: datetime, settings: eta.EtaSettings, where: eta.Situation, stages: StageTable | None
) -> eta.Estimate:
    """eta.estimate over the centre's history, computed once per situation in a session: the units of a batch
    that wait for their parcel are all in the same one, and each estimate walks the whole window's history.
    The memo keeps the history list it was computed from, so a key's id() is never another list's."""
    past = history(session, centre, now, settings)
    memo = session.info.setdefault(_MEMO, {})
    key = (centre, id(past), where, settings, id(stages))
    found = memo.get(key)
    if found is None:
        found = memo[key] = (past, eta.estimate(past, where, settings, stages), stages)
    return found[1]


def refresh(
    session,
    rma: Rma,
    data: dict,
    now: datetime | None = None,
    *,
    settings: eta.EtaSettings,
    opened=UNKNOWN,
    centre=UNKNOWN,
    first: bool = False,
    stages: StageTable | None = None,
) -> RmaEstimate:
    """Recompute and store the RMA's estimate (called at every milestone).

    `opened` as for `situation`; `centre`: the RMA's Centre row when the caller has it loaded already;
    `first`: the RMA was opened in this transaction, so it has no estimate row yet; `stages`: the stage table
    of the RMA's bundle (its steps, standard times; default: the shipped processes')."""
    now = now or utcnow()
    where = situation(session, rma, data, now, opened)
    if where.stage is None:
        result = eta.Estimate(0, 0, "done")
    else:
        result = _estimate(session, rma.centre_code, now, settings, where, stages)
    if centre is UNKNOWN:
        centre = session.get(Centre, rma.centre_code)
    earliest, latest = result.dates(now, centre.timezone if centre else "UTC")
    basis = {
        "source": result.source,
        "samples": result.samples,
        "window_days": result.window_days,
        "queue": result.queue,
        "low_days": round(result.low_days, 2),
        "high_days": round(result.high_days, 2),
        "percentiles": [settings.low_percentile, settings.high_percentile],
        "coverage": settings.coverage,
    }
    values = dict(
        earliest=earliest, latest=latest, source=result.source, samples=result.samples, basis=basis, computed_at=now
    )
    row = session.identity_map.get(identity_key(RmaEstimate, rma.id))
    if row is not None:  # loaded in this session already: keep that object current
        for key, value in values.items():
            setattr(row, key, value)
        return row
    # Otherwise one UPDATE (an INSERT the first time) instead of reading the row into the session first.
    if first or session.execute(_UPDATE_ESTIMATE, {"key": rma.id, **values}).rowcount == 0:
        session.execute(_INSERT_ESTIMATE, {"rma_id": rma.id, **values})
    return RmaEstimate(rma_id=rma.id, **values)  # as stored; not added to the session


def view(row: RmaEstimate | None, lang: str = "en", stages: StageTable | None = None) -> dict | None:
    """The estimate as shown to people, with the sentence saying what it is based on.

    `stages`: the stage table of the RMA's bundle, which names the stage a queue is for (default: the shipped)."""
    if row is None:
        return None
    from engine.customer.customer_text import day, language, t

    basis = row.basis or {}
    if row.source == "history":
        sentence = t(lang, "eta.history", n=row.samples, days=basis.get("window_days", 90))
    elif row.source == "defaults":
        sentence = t(lang, "eta.defaults")
    else:
        sentence = ""
    queue = basis.get("queue")
    if queue:
        stage = (stages or shipped()).noun(queue["stage"], language(lang))
        sentence += "; " + t(lang, "eta.queue", n=queue["n"], stage=stage)
    return {
        "earliest": row.earliest,
        "latest": row.latest,
        "source": row.source,
        "samples": row.samples,
        "basis": sentence,
        "range": t(lang, "eta.range", earliest=day(lang, row.earliest), latest=day(lang, row.latest)),
        "computed_at": row.computed_at,
        "low_days": basis.get("low_days"),
        "high_days": basis.get("high_days"),
    }
