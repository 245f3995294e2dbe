"""A bounded load test on loopback: concurrent clients drive whole RMA journeys through the HTTP API, on
PostgreSQL, with gunicorn and several workers. Zero errors other than the expected 409s, every journey
complete, nothing doubled; the figures are printed.

The clients work in pairs on one shared pile of RMAs, as two clerks on one queue would: both go for the
same next task, one completes it and the other gets a 409 and moves on. Half the RMAs are in warranty
(five tasks), half out of warranty (the customer approves the quote over the portal: six steps).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from engine.store.audit import verify_chain
from engine.store.model import AuditEvent, Rma
from tests.helpers import rma_payload
from tests.integration.live_http import STAFF, Client, Gunicorn, Tally, drive

CLIENTS, JOURNEYS, WORKERS = 4, 16, 3


@pytest.mark.timeout(240)
@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_concurrent_journeys_over_http_complete_with_no_errors_but_409s(orc, db_url, tmp_path, capsys):
    server = Gunicorn(db_url, tmp_path, workers=WORKERS)
    server.start()
    clients = [Client(server.base, timeout=30) for _ in range(CLIENTS)]
    for client in clients:
        for user in STAFF:
            client.token(user)
    tally, opened = Tally(), {}
    barrier = threading.Barrier(CLIENTS)

    def clerk(i: int):
        client = clients[i]
        mine = []
        for n in range(i, JOURNEYS, CLIENTS):  # each client opens its share of the RMAs...
            status, rma = client.call(
                "POST", "/api/rmas", rma_payload(months_old=6 if n % 2 else 40, serial=f"LOAD-{n}"), user="sg.reception"
            )
            tally.add(requests=1)
            if status != 201:
                tally.errors.append(("open", n, status, rma))
                continue
            opened[n] = rma["id"]
            mine.append(n)
        barrier.wait(60)
        # ...then works a pile shared with its partner: clients 0+1 share the even RMAs, 2+3 the odd ones
        pile = [opened[n] for n in sorted(opened) if n % 2 == (i // 2) % 2]
        drive(client, pile if i % 2 == 0 else pile[::-1], tally, time.monotonic() + 150)

    started = time.monotonic()
    try:
        threads = [threading.Thread(target=clerk, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(200)
    finally:
        server.stop()
    seconds = time.monotonic() - started

    assert tally.errors == [] and tally.lost == 0, (tally.errors, tally.lost)
    assert len(opened) == JOURNEYS
    ids = list(opened.values())
    with orc.uow() as uow:
        s = uow.session
        outcomes = {
            rma_id: (status, outcome)
            for rma_id, status, outcome in s.execute(select(Rma.id, Rma.status, Rma.outcome).where(Rma.id.in_(ids)))
        }
        steps = Counter(
            (rma_id, kind, name)
            for rma_id, kind, name in s.execute(
                select(AuditEvent.rma_id, AuditEvent.kind, AuditEvent.task_name).where(
                    AuditEvent.rma_id.in_(ids), AuditEvent.kind.in_(["task_completed", "quote_decided"])
                )
            )
        )
        breaks = verify_chain(s)
    assert set(outcomes.values()) == {("closed", "repaired")}, outcomes  # every journey complete
    assert set(steps.values()) == {1}, steps  # no step done twice
    quoted = JOURNEYS // 2
    expected_steps = JOURNEYS * 5 + quoted
    assert len(steps) == expected_steps and len(tally.acked) == expected_steps  # each acknowledged once
    assert breaks == []
    log = server.log()
    assert log.count("Booting worker") >= WORKERS and "Traceback" not in log, log[-4000:]
    with capsys.disabled():
        print(
            f"\n[load] {JOURNEYS} journeys ({quoted} with a customer approval) by {CLIENTS} clients in pairs "
            f"on gunicorn -w {WORKERS}, PostgreSQL: {tally.requests} requests, {expected_steps} steps, "
            f"{tally.conflicts} 409s (expected: partners racing for the same task), 0 errors, "
            f"{seconds:.1f} s, {tally.requests / seconds:.1f} requests/s"
        )
