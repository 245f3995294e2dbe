"""Section 5: with many generated RMAs, the staff inbox, RMA search and the RMA page, p50/p99."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from sqlalchemy import text

from engine.services import dashboard, diagrams, promises, rmas, tasks, users
from engine.store.model import HumanTask

from . import bulkgen
from .common import backend_orchestrator, percentile, postgres_available

INBOX_USERS = ["sg.reception", "sg.tech", "sg.qa", "de.reception", "de.tech", "de.qa"]
SEARCH_USERS = ["sg.reception", "de.reception", "manager"]


def _timed(fn, calls) -> list[float]:
    for args in calls[:5]:  # warm the caches and the connection pool
        fn(*args)
    samples = []
    for args in calls:
        t0 = time.perf_counter()
        fn(*args)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def db_bytes(orc) -> int:
    """Bytes the database takes on disk: the SQLite file and its WAL, or the schema's relations."""
    if orc.settings.is_sqlite:
        path = Path(orc.settings.database_url.split("///", 1)[1])
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with orc.db.connect() as conn:
        return conn.scalar(
            text(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            )
        )


def _check_workable(orc) -> None:
    """A generated open RMA can be worked through the services (its state matches its task row)."""
    with orc.uow() as uow:
        row = uow.session.execute(
            text(
                "SELECT id, rma_id FROM tasks WHERE status = 'open' AND name = 'record_condition'"
                " AND centre_code = 'SG' LIMIT 1"
            )
        ).first()
    if row is None:
        return
    actor = users.actor_by_username(orc, "sg.reception")
    from .common import STEPS

    result = tasks.complete_task(orc, actor, row.id, STEPS[0][2])
    assert result["rma"]["status"] == "diagnosing", result


def run(results, args) -> None:
    for backend in args.backends:
        label = f"5 scale {backend} {args.rmas:,} RMAs"
        if backend == "postgresql" and (why := postgres_available()):
            results.skip(label, "queries", why)
            continue
        with backend_orchestrator(backend) as orc:
            t0 = time.perf_counter()
            bulkgen.generate(
                orc, args.rmas, progress=lambda n: print(f"    generated {n:,}", end="\r", file=sys.stderr, flush=True)
            )
            gen_s = time.perf_counter() - t0
            print(file=sys.stderr)
            if backend == "postgresql":
                # What autovacuum would have done by now: statistics, and the visibility map that
                # lets the inbox count be an index-only scan.
                with orc.db.connect() as conn:
                    conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
            with orc.uow() as uow:
                counts = {
                    t: uow.session.scalar(text(f"SELECT count(*) FROM {t}")) for t in ("rmas", "tasks", "audit_events")
                }
                open_tasks = uow.session.query(HumanTask).filter(HumanTask.status == "open").count()
            results.add(
                label,
                "bulk generation",
                gen_s,
                "s",
                note=f"{counts['rmas']:,} rmas, {counts['tasks']:,} tasks ({open_tasks:,} open), "
                f"{counts['audit_events']:,} audit rows",
            )
            size = db_bytes(orc)
            results.add(
                label,
                "database size per RMA",
                size / counts["rmas"] / 1024,
                "KiB",
                note=f"{size / 2**20:,.0f} MiB in all, indexes included",
            )
            rng = random.Random(11)
            actors = {u: users.actor_by_username(orc, u) for u in set(INBOX_USERS + SEARCH_USERS)}
            q = args.queries
            inbox = _timed(
                lambda a: tasks.list_tasks(orc, a, per_page=50), [(actors[rng.choice(INBOX_USERS)],) for _ in range(q)]
            )
            results.add(
                label,
                "staff inbox (page 1 of 50 + total)",
                percentile(inbox, 50),
                "ms p50",
                note=f"p99 {percentile(inbox, 99):.1f} ms; target p99 < 20",
            )
            # the inbox page as staff open it: by due time (its default), and with a search typed in
            # (a generator of its own, so the rows above and below draw the same samples as without these)
            page_rng = random.Random(13)
            by_due = _timed(
                lambda a: tasks.list_tasks(orc, a, per_page=50, sort="due"),
                [(actors[page_rng.choice(INBOX_USERS)],) for _ in range(q)],
            )
            results.add(
                label,
                "staff inbox by due time (page 1 of 50)",
                percentile(by_due, 50),
                "ms p50",
                note=f"p99 {percentile(by_due, 99):.1f} ms; the page's default sort",
            )
            # the worker's promise-slip sweep on a day when no promise is about to slip (bulkgen's estimates end
            # 40 days after opening): what it costs to look, every tick
            sweep = _timed(lambda: promises.notify_slipped_promises(orc), [() for _ in range(max(20, q // 3))])
            results.add(
                label,
                "promise-slip sweep, nothing to tell",
                percentile(sweep, 50),
                "ms p50",
                note=f"p99 {percentile(sweep, 99):.1f} ms; the worker's scan of rma_estimates.latest",
            )
            found = _timed(
                lambda a, t: tasks.list_tasks(orc, a, per_page=50, sort="due", q=t),
                [(actors[page_rng.choice(INBOX_USERS)], t) for t in bulkgen.sample_terms(orc, page_rng, q)],
            )
            results.add(
                label,
                "staff inbox search (page 1 of 50 + total)",
                percentile(found, 50),
                "ms p50",
                note=f"p99 {percentile(found, 99):.1f} ms; number, serial, name or email prefix, or model",
            )
            terms = bulkgen.sample_terms(orc, rng, q)
            search = _timed(
                lambda a, t: rmas.list_rmas(orc, a, q=t, per_page=25),
                [(actors[rng.choice(SEARCH_USERS)], t) for t in terms],
            )
            results.add(
                label,
                "RMA search (page 1 of 25 + total)",
                percentile(search, 50),
                "ms p50",
                note=f"p99 {percentile(search, 99):.1f} ms; target p99 < 50",
            )
            ids = [(actors["manager"], rng.randint(1, counts["rmas"])) for _ in range(q)]
            page = _timed(lambda a, i: rmas.get_rma(orc, a, i), ids)
            results.add(
                label, "RMA page: get_rma", percentile(page, 50), "ms p50", note=f"p99 {percentile(page, 99):.1f} ms"
            )
            diagram = _timed(lambda a, i: diagrams.rma_diagram(orc, a, i), ids[: max(20, q // 3)])
            results.add(
                label,
                "RMA page: diagram.json",
                percentile(diagram, 50),
                "ms p50",
                note=f"p99 {percentile(diagram, 99):.1f} ms",
            )
            # The manager's dashboard and heatmap read every RMA of the window: fewer, heavier calls.
            views = [(actors["manager"], centre) for centre in (None, "SG", "DE") for _ in range(max(3, q // 30))]
            board = _timed(lambda a, c: dashboard.dashboard(orc, a, centre=c), views)
            results.add(
                label,
                "manager dashboard (6 months)",
                percentile(board, 50),
                "ms p50",
                note=f"p99 {percentile(board, 99):.1f} ms; all centres and per centre",
            )
            heat = _timed(lambda a, c: dashboard.heatmap(orc, a, centre=c), views)
            results.add(
                label,
                "diagram heatmap (6 months)",
                percentile(heat, 50),
                "ms p50",
                note=f"p99 {percentile(heat, 99):.1f} ms",
            )
            from . import partners  # issue 17: a partner's RMA list and a 200-unit batch, on the same RMAs

            partners.run(results, label, orc, q)
            _check_workable(orc)
