"""The stage_visits projection equals grouping the completed tasks, and the lead time per stage is unchanged."""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
import time_machine
from alembic import command
from sqlalchemy import select

from engine.services import dashboard, portal, rmas
from engine.store.db import alembic_config, make_engine
from engine.store.model import HumanTask, StageVisit, utcnow
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload
from tests.integration.test_rma_search import upgrade_all_but_search_terms

DIAGNOSIS = {"diagnosis": "Dead board", "fault_category": "electronic", "parts_cost": 100, "labour_hours": 2}


def _walk(orc, centre, days_ago, qa_fails=0, upto=None):
    """Open an RMA `days_ago` days back and work it a step a day (repair and QA again per failed QA)."""
    start = utcnow() - timedelta(days=days_ago, hours=3)
    reception, tech, qa = (f"{centre.lower()}.{r}" for r in ("reception", "tech", "qa"))
    with time_machine.travel(start, tick=False):
        rma = rmas.open_rma(
            orc, actor(orc, reception if centre == "SG" else "manager"), rma_payload(centre=centre, months_old=30)
        )
    steps = [(reception, "record_condition", INTAKE), (tech, "diagnose", DIAGNOSIS), ("customer", None, True)]
    for _ in range(qa_fails):
        steps += [(tech, "repair", {"repair_notes": "tried"}), (qa, "qa_check", {"qa_passed": False, "qa_notes": "no"})]
    steps += [
        (tech, "repair", {"repair_notes": "fixed"}),
        (qa, "qa_check", {"qa_passed": True}),
        (reception, "ship_return", {"carrier": "DHL", "tracking_number": "JD01"}),
    ]
    for day, (username, name, data) in enumerate(steps[:upto], start=1):
        with time_machine.travel(start + timedelta(days=day * days_ago / (len(steps) + 1), hours=day), tick=False):
            if username == "customer":
                portal.record_customer_decision(orc, rma["tracking_token"], data)
            elif centre == "DE" and name == "repair":
                return rma  # Berlin asks where to repair first: far enough
            else:
                complete_open_task(orc, username, rma["id"], name, data)
    return rma


def _visits_from_tasks(session) -> dict:
    rows = session.execute(
        select(
            HumanTask.rma_id, HumanTask.centre_code, HumanTask.stage, HumanTask.created_at, HumanTask.completed_at
        ).where(HumanTask.status == "completed", HumanTask.role != "manager")
    ).all()
    found = {}
    for rma_id, centre, stage, created, completed in rows:
        done, secs = found.get((rma_id, centre, stage), (completed, 0.0))
        found[(rma_id, centre, stage)] = (max(done, completed), secs + (completed - created).total_seconds())
    return found


def _stages_the_old_way(session, months, centre, now, whole_visits=False) -> list[dict]:
    """The lead time per stage as it was computed before the projection: completed tasks grouped and ranked.

    Before, only the tasks completed inside the window were grouped, so a visit whose earlier tasks completed
    before the window's first month counted in part; now (`whole_visits`) it counts whole, in its last month.
    """
    since = dashboard._first_of_month(now, months - 1)
    groups = defaultdict(list)
    per_visit = {}
    for t in session.scalars(
        select(HumanTask).where(
            HumanTask.status == "completed",
            HumanTask.role != "manager",
            HumanTask.completed_at >= (datetime.min.replace(tzinfo=UTC) if whole_visits else since),
        )
    ):
        if centre and t.centre_code != centre:
            continue
        done, secs = per_visit.get((t.centre_code, t.stage, t.rma_id), (t.completed_at, 0.0))
        per_visit[(t.centre_code, t.stage, t.rma_id)] = (
            max(done, t.completed_at),
            secs + (t.completed_at - t.created_at).total_seconds(),
        )
    for (c, stage, _), (done, secs) in per_visit.items():
        if done >= since:
            groups[(c, stage, done.astimezone(UTC).strftime("%Y-%m"))].append(secs)

    def pct(values, f):
        values = sorted(values)
        pos = (len(values) - 1) * f
        lo, hi = math.floor(pos), math.ceil(pos)
        return values[lo] + (values[hi] - values[lo]) * (pos - lo)

    return [
        {
            "centre": c,
            "stage": st,
            "period": p,
            "count": len(v),
            "p50_hours": round(pct(v, 0.5) / 3600, 1),
            "p90_hours": round(pct(v, 0.9) / 3600, 1),
        }
        for (c, st, p), v in sorted(groups.items())
    ]


def test_visits_follow_the_tasks_and_the_figures_stay_the_same(orc):
    _walk(orc, "SG", 80, qa_fails=1)
    _walk(orc, "SG", 50)
    _walk(orc, "SG", 20, upto=4)
    _walk(orc, "DE", 40)
    _walk(orc, "DE", 3, upto=1)
    with orc.uow() as uow:
        s = uow.session
        expected = _visits_from_tasks(s)
        rows = s.execute(
            select(
                StageVisit.rma_id,
                StageVisit.centre_code,
                StageVisit.stage,
                StageVisit.done_at,
                StageVisit.seconds,
                StageVisit.month,
            )
        ).all()
    visits = {(v.rma_id, v.centre_code, v.stage): (v.done_at, v.seconds) for v in rows}
    assert visits.keys() == expected.keys()
    for key, (done, secs) in expected.items():
        assert visits[key][0] == done and math.isclose(visits[key][1], secs, abs_tol=1e-3), key
    assert all(v.month == v.done_at.astimezone(UTC).strftime("%Y-%m") for v in rows)
    # one per RMA that got there: the second repair after a failed QA adds to the first visit
    assert len([v for v in rows if v.stage == "repair"]) == 3
    now = utcnow()
    for months in (1, 2, 6):
        for centre in (None, "SG", "DE"):
            figures = dashboard.dashboard(
                orc, actor(orc, "manager"), months=months, centre=centre, now=now, figures=("stages",)
            )["stages"]
            with orc.uow() as uow:
                assert figures == _stages_the_old_way(uow.session, months, centre, now, whole_visits=True)
                if months == 6:  # every task of every visit is inside the window: exactly the figures of before
                    assert figures == _stages_the_old_way(uow.session, months, centre, now), centre
            assert figures or months == 1


def test_the_migration_fills_visits_from_completed_tasks(settings):
    engine = make_engine(settings.database_url)
    try:
        config = alembic_config(engine)
        upgrade_all_but_search_terms(config)
        now = datetime(2026, 11, 20, 12, tzinfo=UTC)
        rma = sa.table(
            "rmas",
            *(
                sa.column(c)
                for c in (
                    "id",
                    "number",
                    "centre_code",
                    "status",
                    "customer_name",
                    "customer_email",
                    "customer_language",
                    "product_model",
                    "serial_number",
                    "purchase_date",
                    "fault_description",
                    "currency",
                    "tracking_token",
                    "created_by",
                    "created_at",
                    "updated_at",
                )
            ),
        )
        task_rows = []
        for stage, role, hours, status, days_ago in [
            ("intake", "reception", 2, "completed", 40),
            ("repair", "technician", 5, "completed", 10),
            ("repair", "technician", 1, "completed", 1),
            ("qa", "manager", 9, "completed", 1),
            ("qa", "qa", 0, "open", 0),
        ]:
            done = now - timedelta(days=days_ago)
            task_rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "rma_id": 1,
                    "name": f"{stage}_task",
                    "title": stage,
                    "role": role,
                    "centre_code": "SG",
                    "stage": stage,
                    "status": status,
                    "created_at": done - timedelta(hours=hours),
                    "completed_at": done if status == "completed" else None,
                }
            )
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO centres (code, name, currency, labour_rate, timezone) "
                "VALUES ('SG', 'Singapore', 'SGD', 60, 'UTC')"
            )
            conn.execute(
                rma.insert(),
                [
                    {
                        "id": 1,
                        "number": "RMA-SG-000001",
                        "centre_code": "SG",
                        "status": "quality_check",
                        "customer_name": "Kim",
                        "customer_email": "k@example.com",
                        "customer_language": "en",
                        "product_model": "Vista X100 Camera",
                        "serial_number": "SN-1",
                        "purchase_date": date(2025, 1, 1),
                        "fault_description": "dead",
                        "currency": "SGD",
                        "tracking_token": "tok",
                        "created_by": "x",
                        "created_at": now - timedelta(days=41),
                        "updated_at": now,
                    }
                ],
            )
            conn.execute(HumanTask.__table__.insert(), [{**t, "title": t["title"]} for t in task_rows])
        command.upgrade(config, "heads")
        with engine.connect() as conn:
            rows = {r.stage: r for r in conn.execute(select(StageVisit))}
        assert set(rows) == {"intake", "repair"}  # the open task and the manager's review are no stage work
        assert rows["repair"].month == "2026-11" and math.isclose(rows["repair"].seconds, 6 * 3600, abs_tol=1e-3)
        assert rows["repair"].done_at == now - timedelta(days=1)
        assert rows["intake"].month == "2026-10" and math.isclose(rows["intake"].seconds, 2 * 3600, abs_tol=1e-3)
    finally:
        engine.dispose()
