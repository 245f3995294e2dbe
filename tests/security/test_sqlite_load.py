"""Issue 20: the SQLite quick start answers 8 concurrent writers without a 500.

The quick-start configuration as `./scripts/run` serves it: `rma serve` (one process, gthread workers, the
background worker in-process) on the default database, the SQLite file in RMA_INSTANCE_DIR, no RMA_* setting
but the instance folder. Eight clients, each with its own login, open RMAs and work them (intake, claim,
diagnosis) for a bounded time. No answer is a 5xx, and everything answered 2xx is in the database.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from engine.store.audit import verify_chain
from engine.store.model import AuditEvent, HumanTask, Rma
from tests.helpers import INTAKE, rma_payload
from tests.integration.live_http import BIN, Client, finish, free_port, server_env, wait_for

WRITERS, SECONDS = 8, 10
DIAGNOSIS = {"diagnosis": "Gear train worn", "fault_category": "mechanical", "parts_cost": 40, "labour_hours": 1}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_sqlite_quick_start_answers_eight_concurrent_writers_without_a_500(orc, db_url, tmp_path, capsys):
    assert db_url == f"sqlite:///{tmp_path / 'rma.sqlite3'}"  # the file the quick start uses in its instance folder
    port = free_port()
    env = server_env(db_url, port, tmp_path)
    for name in ("RMA_DATABASE_URL", "RMA_SECRET_KEY", "RMA_RUN_WORKER", "RMA_BASE_URL"):
        del env[name]  # the quick start's defaults: SQLite in the instance folder, a generated key, the worker on
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [str(BIN / "rma"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    statuses: Counter = Counter()
    errors: list = []
    acked: dict[str, list] = {"opened": [], "completed": [], "claimed": []}
    lock = threading.Lock()

    def call(client: Client, what: str, method: str, path: str, body=None, user=None):
        status, answer = client.call(method, path, body, user=user)
        with lock:
            statuses[status] += 1
            if not 200 <= status < 300:
                errors.append((what, status, answer))
        return status, answer

    def writer(i: int, client: Client, deadline: float) -> None:
        n = 0
        try:
            while time.monotonic() < deadline and len(errors) < 5:
                n += 1
                status, rma = call(
                    client, "open", "POST", "/api/rmas", rma_payload(serial=f"LOAD-{i}-{n}"), user="sg.reception"
                )
                if status != 201:
                    continue
                with lock:
                    acked["opened"].append(rma["id"])
                for user, name, data in (
                    ("sg.reception", "record_condition", INTAKE),
                    ("sg.tech", "diagnose", DIAGNOSIS),
                ):
                    status, page = call(client, "list", "GET", f"/api/tasks?rma_id={rma['id']}", user=user)
                    if status != 200:
                        break
                    [task] = [t for t in page["items"] if t["name"] == name]
                    if name == "diagnose":
                        status, _ = call(client, "claim", "POST", f"/api/tasks/{task['id']}/claim", user=user)
                        if status != 200:
                            break
                        with lock:
                            acked["claimed"].append((task["id"], user))
                    url = f"/api/tasks/{task['id']}/complete"
                    status, _ = call(client, "complete", "POST", url, {"data": data}, user=user)
                    if status != 200:
                        break
                    with lock:
                        acked["completed"].append(task["id"])
        except Exception as exc:  # noqa: BLE001 - a dead thread would only show up as fewer requests
            errors.append(("client raised", i, repr(exc)))

    try:
        wait_for(lambda: server.poll() is None and Client(base, timeout=5).healthy(), 60, "rma serve to answer")
        clients = [Client(base, timeout=60) for _ in range(WRITERS)]
        for client in clients:  # each writer its own login (token) for each role it uses
            client.token("sg.reception")
            client.token("sg.tech")
        started = time.monotonic()
        deadline = started + SECONDS
        threads = [threading.Thread(target=writer, args=(i, c, deadline)) for i, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        seconds = time.monotonic() - started
    finally:
        server.terminate()
        finish(server, 30)
    output = log_path.read_text()

    assert not any(status >= 500 for status in statuses), (statuses, errors, output[-4000:])
    assert errors == [], (errors, output[-4000:])
    assert "Traceback" not in output, output[-4000:]
    assert len(acked["opened"]) >= WRITERS, acked  # every writer got work done
    with orc.reading() as s:
        rmas = set(s.scalars(select(Rma.id).where(Rma.id.in_(acked["opened"]))))
        tasks = {
            task_id: (status, assignee)
            for task_id, status, assignee in s.execute(
                select(HumanTask.id, HumanTask.status, HumanTask.assignee).where(
                    HumanTask.id.in_(acked["completed"] + [t for t, _ in acked["claimed"]])
                )
            )
        }
        completions = Counter(
            s.scalars(
                select(AuditEvent.task_name).where(
                    AuditEvent.kind == "task_completed", AuditEvent.rma_id.in_(acked["opened"])
                )
            )
        )
        breaks = verify_chain(s)
    assert rmas == set(acked["opened"]), "an RMA answered 201 is missing"
    assert all(tasks[t][0] == "completed" for t in acked["completed"]), tasks
    assert all(tasks[t][1] == user for t, user in acked["claimed"]), tasks
    assert breaks == []
    assert sum(completions.values()) == len(acked["completed"]), completions
    with capsys.disabled():
        print(
            f"\n[load] SQLite quick start (rma serve), {WRITERS} concurrent writers for {seconds:.1f} s: "
            f"{sum(statuses.values())} requests {dict(statuses)}, {len(acked['opened'])} RMAs opened, "
            f"{len(acked['completed'])} tasks completed, {len(acked['claimed'])} claimed; no 5xx"
        )
