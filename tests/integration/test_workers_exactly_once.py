"""Several `rma worker` processes against one PostgreSQL fire every due timer exactly once.

A few thousand RMAs wait at diagnosis with their SLA timer due a day ago: one is built through the
services with the clock moved back three days, the others are bulk copies of it (every SpiffWorkflow
task id renamed per copy, so each copy is a distinct instance with its own task rows). Then separate
worker processes sweep concurrently (`FOR UPDATE SKIP LOCKED`); each firing leaves one `timer_fired`
audit event (naming the worker), one `sla_breached` event and one manager review task. We count them.
Sizes: RMA_TEST_TIMERS (default 3000) and RMA_TEST_WORKERS (default 4). In the power-cut run (a third of
the timers) one worker is killed with SIGKILL mid-sweep, once some timers have fired, and a new one takes
its place: what it had in flight was rolled back with its connection and is fired once, by someone else.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, insert, select

from engine.services import rmas
from engine.store.model import AuditEvent, HumanTask, Instance, Rma
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload
from tests.integration.live_http import finish

TIMERS = int(os.environ.get("RMA_TEST_TIMERS", "3000"))
WORKERS = int(os.environ.get("RMA_TEST_WORKERS", "4"))
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _template(orc) -> int:
    with time_machine.travel(datetime.now(UTC) - timedelta(days=3), tick=False):
        rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="TEMPLATE"))
        complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
    return rma["id"]


def _copy(orc, template_id: int, count: int) -> None:
    """`count` more RMAs in the template's state, each with its own task ids."""
    with orc.uow() as uow:
        s = uow.session
        rma = dict(s.execute(select(Rma.__table__).where(Rma.id == template_id)).mappings().one())
        instance = dict(s.execute(select(Instance.__table__).where(Instance.rma_id == template_id)).mappings().one())
        task = dict(
            s.execute(select(HumanTask.__table__).where(HumanTask.rma_id == template_id, HumanTask.status == "open"))
            .mappings()
            .one()
        )
        first = s.scalar(select(func.max(Rma.id))) + 1
    for start in range(0, count, 500):
        rows, instances, task_rows = [], [], []
        for rma_id in range(first + start, first + min(start + 500, count)):
            renamed: dict = {}
            state = UUID.sub(lambda m: renamed.setdefault(m.group(0), str(uuid.uuid4()).encode()), instance["state"])
            rows.append(
                {
                    **rma,
                    "id": rma_id,
                    "number": f"RMA-SG-{rma_id:06d}",
                    "serial_number": f"SN-{rma_id}",
                    "tracking_token": uuid.uuid4().hex,
                }
            )
            instances.append({**instance, "rma_id": rma_id, "state": state})
            task_rows.append({**task, "rma_id": rma_id, "id": renamed[task["id"].encode()].decode()})
        with orc.db.begin() as conn:
            conn.execute(insert(Rma.__table__), rows)
            conn.execute(insert(Instance.__table__), instances)
            conn.execute(insert(HumanTask.__table__), task_rows)


def _due(orc) -> int:
    with orc.uow() as uow:
        return uow.session.scalar(
            select(func.count())
            .select_from(Instance)
            .where(Instance.next_timer_at <= datetime.now(UTC), Instance.completed.is_(False))
        )


def _per_rma(orc, query) -> Counter:
    with orc.uow() as uow:
        return Counter(dict(uow.session.execute(query).all()))


def _fired(orc) -> int:
    with orc.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == "timer_fired"))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
@pytest.mark.parametrize("power_cut", [False, True], ids=["all-running", "one-killed"])
def test_every_due_timer_fires_exactly_once_across_worker_processes(orc, db_url, capsys, tmp_path, power_cut):
    timers = TIMERS // 3 if power_cut else TIMERS
    template = _template(orc)
    _copy(orc, template, timers - 1)
    assert _due(orc) == timers
    env = {k: v for k, v in os.environ.items() if not k.startswith("RMA_")}
    env.update(RMA_DATABASE_URL=db_url, RMA_RUN_WORKER="0", RMA_SECRET_KEY="test")
    rma_cli = str(Path(sys.executable).parent / "rma")
    started = time.monotonic()
    # Logs go to files: a pipe nobody reads until the end fills up and blocks the worker mid-sweep.
    log_paths, log_files, workers = [], [], []

    def start_worker() -> None:
        log_paths.append(tmp_path / f"worker-{len(log_paths)}.log")
        log_files.append(log_paths[-1].open("w"))
        workers.append(
            subprocess.Popen(
                [rma_cli, "worker", "--interval", "0.2"],
                env=env,
                stdout=log_files[-1],
                stderr=subprocess.STDOUT,
                text=True,
            )
        )

    for _ in range(WORKERS):
        start_worker()
    killed = None
    try:
        deadline = started + 800
        while _due(orc) and time.monotonic() < deadline:
            assert all(w.poll() is None for w in workers if w is not killed), "a worker died"
            if power_cut and killed is None and _fired(orc) >= timers // 4:
                killed = workers[0]
                killed.kill()  # SIGKILL: no shutdown code runs, its open transaction dies with the connection
                killed.wait(30)
                start_worker()
            time.sleep(0.2 if power_cut else 0.5)
        duration = time.monotonic() - started
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGINT)
        for w in workers:
            finish(w, 60)
        for log_file in log_files:
            log_file.close()
        logs = [path.read_text() for path in log_paths]
    assert _due(orc) == 0, "timers left unfired"

    fired = _per_rma(
        orc, select(AuditEvent.rma_id, func.count()).where(AuditEvent.kind == "timer_fired").group_by(AuditEvent.rma_id)
    )
    breached = _per_rma(
        orc,
        select(AuditEvent.rma_id, func.count()).where(AuditEvent.kind == "sla_breached").group_by(AuditEvent.rma_id),
    )
    reviews = _per_rma(
        orc,
        select(HumanTask.rma_id, func.count())
        .where(HumanTask.name == "review_overdue_diagnosis")
        .group_by(HumanTask.rma_id),
    )
    with orc.uow() as uow:
        by_worker = Counter(
            d["worker"] for d in uow.session.scalars(select(AuditEvent.data).where(AuditEvent.kind == "timer_fired"))
        )
    firings = sum(fired.values())
    duplicates = sum(n - 1 for n in fired.values() if n > 1)
    with capsys.disabled():
        print(
            f"\nexactly-once{' (one worker SIGKILLed mid-sweep)' if power_cut else ''}: {WORKERS} worker processes, "
            f"{timers} due timers, {firings} firings, {duplicates} duplicates, {timers - len(fired)} missed, "
            f"{duration:.1f} s ({firings / duration:.0f} firings/s); per worker: "
            f"{sorted(by_worker.values(), reverse=True)}"
        )
    assert (killed is not None) == power_cut, "the power cut came too late: every timer had fired"
    assert len(fired) == timers and set(fired.values()) == {1}, "every timer fires exactly once"
    assert firings == timers and duplicates == 0
    assert len(breached) == timers and set(breached.values()) == {1}
    assert len(reviews) == timers and set(reviews.values()) == {1}
    assert len(by_worker) >= 2, f"the sweep was not shared: {by_worker}\n{logs[0][-2000:]}"
    assert not any("Traceback" in log for log in logs), "\n".join(logs)[-4000:]
