"""The manager's figures, computed from task timestamps, RMA records and the audit trail with indexed queries.

- RMAs by status and centre (index ix_rmas_centre_status_id, index-only);
- SLA breaches open now: open tasks past their SLA (`due_at`, from the BPMN timer; ix_tasks_status_due)
  and open escalation reviews; breaches per month from the audit trail (`sla_breached`; the partial
  index ix_audit_sla_breached);
- lead time end to end (created -> closed; ix_rmas_closed, covering) and per stage (the time its human tasks
  stood open, summed per RMA and stage: the stage_visits projection, engine.services.stage_visits; a visit counts
  in the month its last task completed), median and 90th percentile per centre and month;
- where RMAs wait now (open tasks per element, their average age) and the average wait per element
  (ix_tasks_waits, covering).

Months are UTC calendar months. Percentiles are `percentile_cont`'s (linear interpolation): per stage they
are read off the index of stage_visits by rank on both backends; end to end, PostgreSQL computes them and
SQLite, which has no percentile aggregate, has the durations fetched and ranked here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.errors import NotAllowed, NotFound
from engine.store.model import utcnow

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

DASHBOARD_ROLES = ("manager",)
HOUR = 3600.0


def _require(actor: Actor) -> None:
    if actor.role not in DASHBOARD_ROLES:
        raise NotAllowed("the dashboard is for managers")


class _Sql:
    """The few expressions that differ between PostgreSQL and SQLite."""

    def __init__(self, dialect: str):
        self.pg = dialect == "postgresql"

    def epoch(self, col: str) -> str:
        return f"extract(epoch from {col})" if self.pg else f"((julianday({col}) - 2440587.5) * 86400.0)"

    def month(self, col: str) -> str:
        return f"to_char({col}, 'YYYY-MM')" if self.pg else f"strftime('%Y-%m', {col})"

    def ts(self, value: datetime) -> datetime | str:
        # SQLite stores UTC timestamps as text 'YYYY-MM-DD HH:MM:SS.ffffff' (engine.store.model.UTCDateTime)
        return value if self.pg else value.strftime("%Y-%m-%d %H:%M:%S.%f")


ALL_FIGURES = ("by_status", "breaches", "end_to_end", "stages", "waiting")


def dashboard(
    orc: Orchestrator,
    actor: Actor,
    months: int = 6,
    centre: str | None = None,
    now: datetime | None = None,
    figures: tuple[str, ...] = ALL_FIGURES,
) -> dict:
    """The dashboard's figures (all, or those named) for the centres the actor may see (optionally one centre)."""
    _require(actor)
    now = now or utcnow()
    months = max(1, min(months, 36))
    since = _first_of_month(now, months - 1)
    centre = centre if actor.is_global else actor.centre
    with orc.reading() as s:  # outside a transaction: on SQLite the writers do not wait for these sums
        q = _Sql(s.get_bind().dialect.name)
        where = "AND centre_code = :centre" if centre else ""
        params: dict[str, Any] = {"centre": centre} if centre else {}
        params.update(now=q.ts(now), since=q.ts(since))
        result = {"generated_at": now, "since": since, "months": months, "centre": centre}
        for name in figures:
            result[name] = _FIGURES[name](s, q, where, params)
    return result


def _by_status(s: Session, q: _Sql, where: str, params: dict) -> list[dict]:
    rows = s.execute(
        text(
            f"SELECT centre_code, status, count(*) FROM rmas WHERE 1=1 {where} "
            "GROUP BY centre_code, status ORDER BY centre_code, status"
        ),
        params,
    )
    return [{"centre": c, "status": st, "count": n} for c, st, n in rows]


def _breaches(s: Session, q: _Sql, where: str, params: dict) -> dict:
    t_where = where.replace("centre_code", "t.centre_code")
    overdue = s.execute(
        text(
            "SELECT t.id, t.rma_id, r.number, t.centre_code, t.name, t.title, t.stage, t.due_at, t.assignee "
            "FROM tasks t JOIN rmas r ON r.id = t.rma_id "
            f"WHERE t.status = 'open' AND t.due_at < :now {t_where} ORDER BY t.due_at LIMIT 50"
        ),
        params,
    ).all()
    count = s.scalar(
        text(f"SELECT count(*) FROM tasks t WHERE t.status = 'open' AND t.due_at < :now {t_where}"), params
    )
    escalations = s.scalar(
        text(f"SELECT count(*) FROM tasks t WHERE t.status = 'open' AND t.role = 'manager' {t_where}"), params
    )
    # CROSS JOIN: SQLite then reads the breaches first (partial index ix_audit_sla_breached) instead of
    # walking a centre's RMAs and their whole trails; PostgreSQL plans it as the inner join it is
    per_month = s.execute(
        text(
            f"SELECT r.centre_code, {q.month('a.at')} AS period, count(*) FROM audit_events a "
            f"CROSS JOIN rmas r WHERE r.id = a.rma_id AND a.kind = 'sla_breached' AND a.at >= :since "
            f"{where.replace('centre_code', 'r.centre_code')} GROUP BY r.centre_code, period ORDER BY period"
        ),
        params,
    )
    now = _as_dt(params["now"])
    return {
        "open_count": count,
        "escalations_open": escalations,
        "open": [
            {
                "task_id": r.id,
                "rma_id": r.rma_id,
                "number": r.number,
                "centre": r.centre_code,
                "task": r.name,
                "title": r.title,
                "stage": r.stage,
                "due_at": _as_dt(r.due_at),
                "overdue_hours": round((now - _as_dt(r.due_at)).total_seconds() / HOUR, 1),
                "assignee": r.assignee,
            }
            for r in overdue
        ],
        "per_month": [{"centre": c, "period": p, "count": n} for c, p, n in per_month],
    }


def _end_to_end(s: Session, q: _Sql, where: str, params: dict) -> list[dict]:
    secs = f"({q.epoch('closed_at')} - {q.epoch('created_at')})"
    base = (
        f"FROM rmas WHERE closed_at >= :since AND closed_at IS NOT NULL "
        f"AND (outcome IS NULL OR outcome <> 'cancelled') {where}"
    )
    if q.pg:
        rows = s.execute(
            text(
                f"SELECT centre_code, {q.month('closed_at')} AS period, count(*), "
                f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {secs}), "
                f"percentile_cont(0.9) WITHIN GROUP (ORDER BY {secs}) "
                f"{base} GROUP BY centre_code, period ORDER BY centre_code, period"
            ),
            params,
        )
        return [_figure({"centre": c, "period": p}, n, p50, p90) for c, p, n, p50, p90 in rows]
    rows = s.execute(text(f"SELECT centre_code, {q.month('closed_at')} AS period, {secs} {base}"), params)
    return _ranked(rows, ("centre", "period"))


def _stages(s: Session, q: _Sql, where: str, params: dict) -> list[dict]:
    """Per centre, stage and month: the visits (engine.services.stage_visits) that ended then, their median and p90.

    Each percentile's one or two ranked values are read off the index (month, centre, stage, seconds) with
    LIMIT/OFFSET, many lookups to a statement.
    """
    since = _as_dt(params["since"]).strftime("%Y-%m")
    groups = s.execute(
        text(
            f"SELECT month, centre_code, stage, count(*) FROM stage_visits "
            f"WHERE month >= :since_month {where} GROUP BY month, centre_code, stage"
        ),
        {**params, "since_month": since},
    ).all()
    lookups = []  # (group, fraction, low, high, position)
    for i, (month, centre, stage, n) in enumerate(groups):
        for fraction in (0.5, 0.9):
            position = (n - 1) * fraction
            lookups.append((i, fraction, math.floor(position), math.ceil(position), position))
    ranked = _ranked_values(s, groups, lookups)
    figures = []
    for i, (month, centre, stage, n) in enumerate(groups):
        p50, p90 = (ranked[(i, fraction)] for fraction in (0.5, 0.9))
        figures.append(_figure({"centre": centre, "stage": stage, "period": month}, n, p50, p90))
    return sorted(figures, key=lambda f: (f["centre"], f["stage"] or "", f["period"]))


_LOOKUPS_PER_STATEMENT = 100


def _ranked_values(
    s: Session, groups: Sequence[Sequence[Any]], lookups: list[tuple[int, float, int, int, float]]
) -> dict[tuple[int, float], float]:
    """{(group, fraction): percentile_cont}: linear interpolation between the low-th and high-th ranked seconds."""
    found = {}
    for start in range(0, len(lookups), _LOOKUPS_PER_STATEMENT):
        parts, params = [], {}
        for j, (i, fraction, low, high, _) in enumerate(lookups[start : start + _LOOKUPS_PER_STATEMENT]):
            month, centre, stage, _n = groups[i]
            params.update({f"m{j}": month, f"c{j}": centre, f"s{j}": stage, f"n{j}": high - low + 1, f"o{j}": low})
            stage_is = "stage IS NULL" if stage is None else f"stage = :s{j}"
            parts.append(
                f"SELECT {j} AS j, seconds FROM (SELECT seconds FROM stage_visits WHERE month = :m{j} "
                f"AND centre_code = :c{j} AND {stage_is} ORDER BY seconds LIMIT :n{j} OFFSET :o{j}) r{j}"
            )
        values = defaultdict(list)
        for j, seconds in s.execute(text(" UNION ALL ".join(parts)), params):
            values[j].append(float(seconds))
        for j, (i, fraction, low, high, position) in enumerate(lookups[start : start + _LOOKUPS_PER_STATEMENT]):
            ranked = sorted(values[j])
            found[(i, fraction)] = ranked[0] + (ranked[-1] - ranked[0]) * (position - low)
    return found


def _waiting(s: Session, q: _Sql, where: str, params: dict) -> list[dict]:
    """Per element (stage, task): how many wait there now and for how long, and the average wait in the window."""
    now_rows = s.execute(
        text(
            f"SELECT stage, name, count(*), avg({q.epoch('created_at')}) FROM tasks "
            f"WHERE status = 'open' {where} GROUP BY stage, name"
        ),
        params,
    )
    past_rows = s.execute(
        text(
            f"SELECT stage, name, count(*), avg({q.epoch('completed_at')} - {q.epoch('created_at')}) FROM tasks "
            f"WHERE completed_at >= :since AND status = 'completed' {where} GROUP BY stage, name"
        ),
        params,
    )
    now_epoch = _as_dt(params["now"]).timestamp()
    elements: dict = {}
    for stage, name, n, avg_created in now_rows:
        elements[(stage, name)] = {
            "stage": stage,
            "element": name,
            "waiting_now": n,
            "avg_age_hours": round((now_epoch - float(avg_created)) / HOUR, 1),
            "completed": 0,
            "avg_wait_hours": None,
        }
    for stage, name, n, avg_secs in past_rows:
        entry = elements.setdefault(
            (stage, name), {"stage": stage, "element": name, "waiting_now": 0, "avg_age_hours": None}
        )
        entry.update(completed=n, avg_wait_hours=round(float(avg_secs) / HOUR, 1))
    return sorted(elements.values(), key=lambda e: (e["stage"] or "", e["element"]))


_FIGURES: dict[str, Callable[[Session, _Sql, str, dict], Any]] = {
    "by_status": _by_status,
    "breaches": _breaches,
    "end_to_end": _end_to_end,
    "stages": _stages,
    "waiting": _waiting,
}


def _figure(keys: dict, n: int, p50: float, p90: float) -> dict:
    return {**keys, "count": n, "p50_hours": round(float(p50) / HOUR, 1), "p90_hours": round(float(p90) / HOUR, 1)}


def _ranked(rows: Iterable[Sequence[Any]], names: tuple[str, ...]) -> list[dict]:
    """Median and 90th percentile (linear interpolation, as percentile_cont) of each group's durations."""
    groups = defaultdict(list)
    for *keys, secs in rows:
        groups[tuple(keys)].append(float(secs))
    return [
        _figure(dict(zip(names, keys)), len(values), _percentile(values, 0.5), _percentile(values, 0.9))
        for keys, values in sorted(groups.items())
    ]


def _percentile(values: list[float], fraction: float) -> float:
    values.sort()
    position = (len(values) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return values[low] + (values[high] - values[low]) * (position - low)


def _first_of_month(now: datetime, back: int) -> datetime:
    """Midnight UTC on the first day of the month `back` months before `now`'s."""
    year, month = divmod(now.year * 12 + now.month - 1 - back, 12)
    return datetime(year, month + 1, 1, tzinfo=UTC)


def _as_dt(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def heatmap(orc: Orchestrator, actor: Actor, months: int = 6, centre: str | None = None) -> dict:
    """The diagrams of the centre's current process (base for all centres) with the wait figures per element.

    Stage diagrams get their tasks' figures; the skeleton's call activities (`stage_<stage>`) get the
    sums over their stage: how many wait now, their average age, the average wait in the window.
    """
    from engine.process.definitions import ROOT_PROCESS_ID
    from engine.process.stages import stage_key
    from engine.services.processes import current_bundle

    figures = dashboard(orc, actor, months=months, centre=centre, figures=("waiting",))
    centre = figures["centre"]
    with orc.reading() as s:
        bundle = current_bundle(s, centre)
        if bundle is None:
            raise NotFound("no process is deployed yet")
        parsed, version = orc.parsed_bundle(s, bundle.id), bundle.version
    stages: dict = {}
    for e in figures["waiting"]:
        agg = stages.setdefault(e["stage"], {"waiting_now": 0, "age_sum": 0.0, "completed": 0, "wait_sum": 0.0})
        agg["waiting_now"] += e["waiting_now"]
        agg["age_sum"] += (e["avg_age_hours"] or 0) * e["waiting_now"]
        agg["completed"] += e["completed"]
        agg["wait_sum"] += (e["avg_wait_hours"] or 0) * e["completed"]
    elements = {}
    for stage, agg in stages.items():
        elements[f"{ROOT_PROCESS_ID}:stage_{stage}"] = {
            "waiting_now": agg["waiting_now"],
            "completed": agg["completed"],
            "avg_age_hours": round(agg["age_sum"] / agg["waiting_now"], 1) if agg["waiting_now"] else None,
            "avg_wait_hours": round(agg["wait_sum"] / agg["completed"], 1) if agg["completed"] else None,
        }
    for e in figures["waiting"]:
        process = f"rma_{e['stage']}"
        elements[f"{process}:{e['element']}"] = {
            k: e[k] for k in ("waiting_now", "completed", "avg_age_hours", "avg_wait_hours")
        }
    order = [ROOT_PROCESS_ID] + sorted(
        (pid for pid in parsed.process_files if pid != ROOT_PROCESS_ID),
        key=lambda pid: -sum(v["waiting_now"] for k, v in elements.items() if k.startswith(pid + ":")),
    )
    diagrams = [
        {
            "process_id": pid,
            "stage": None if pid == ROOT_PROCESS_ID else stage_key(pid),
            "file": parsed.process_files[pid],
            "xml": parsed.files[parsed.process_files[pid]],
        }
        for pid in order
    ]
    return {"centre": centre, "version": version, "since": figures["since"], "diagrams": diagrams, "elements": elements}
