"""Issue 17, points 3-5: the new commands sent many times at once are done once (PostgreSQL: its row locks and
READ COMMITTED re-reads; SQLite has one writer). Book-in, ship-back, the partner's approve-all, the register import."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from engine.errors import EngineError
from engine.services import batch_parcels, batch_quotes, register
from engine.store.model import AuditEvent, RegisteredUnit, Shipment
from tests.driver import DIAGNOSIS, complete_open_task
from tests.helpers import actor, race
from tests.integration.test_batch_parcels import _batch, world  # noqa: F401  (the fixture)

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True),
]
N = 8


def _kinds(orc, rma_ids) -> Counter:
    with orc.reading() as s:
        return Counter(s.scalars(select(AuditEvent.kind).where(AuditEvent.rma_id.in_(rma_ids))))


def _outcomes(results) -> list:
    return [r if isinstance(r, EngineError) else "ok" for r in results]


def test_one_parcel_booked_in_at_many_counters_at_once_moves_each_unit_once(world):
    orc, _, partner = world
    batch = _batch(orc, partner, ["R-1", "R-2"], purchase_date=date.today().isoformat())
    ids = [u["rma_id"] for u in batch["units"]]
    reception = actor(orc, "sg.reception")
    results = race(*[lambda: batch_parcels.book_in(orc, reception, batch["id"], scans=["R-1", "R-2"])] * N)
    assert all(isinstance(r, dict) for r in results), results
    assert sorted(n for r in results for n in r["arrived"]) == sorted(u["number"] for u in batch["units"])
    assert _kinds(orc, ids)["parcel_received"] == 2


def _ready(orc, partner):
    batch = _batch(orc, partner, ["S-1"], purchase_date=date.today().isoformat())
    rma_id = batch["units"][0]["rma_id"]
    batch_parcels.book_in(orc, actor(orc, "sg.reception"), batch["id"], scans=["S-1"])
    for name in ("record_condition", "diagnose", "repair", "qa_check"):
        complete_open_task(orc, None, rma_id, name, DIAGNOSIS if name == "diagnose" else None)
    return batch, rma_id


def test_a_unit_shipped_back_from_many_counters_at_once_goes_back_once(world):
    orc, _, partner = world
    batch, rma_id = _ready(orc, partner)
    reception = actor(orc, "sg.reception")
    results = race(*[lambda: batch_parcels.ship_back(orc, reception, batch["id"], [rma_id], "DHL", "JD-9")] * N)
    assert sum(isinstance(r, dict) for r in results) == 1, results
    assert all(r.status == 409 for r in results if not isinstance(r, dict))
    with orc.reading() as s:
        assert s.scalar(select(func.count()).select_from(Shipment)) == 1
    assert _kinds(orc, [rma_id])["task_completed"] == 5  # intake, diagnosis, repair, QA and one return


def test_approve_all_pressed_many_times_at_once_decides_each_quote_once(world):
    orc, _, partner = world
    old = (date.today() - timedelta(days=1500)).isoformat()
    batch = _batch(orc, partner, ["Q-1", "Q-2"], purchase_date=old)
    ids = [u["rma_id"] for u in batch["units"]]
    batch_parcels.book_in(orc, actor(orc, "sg.reception"), batch["id"], scans=["Q-1", "Q-2"])
    for rma_id in ids:
        complete_open_task(orc, None, rma_id, "record_condition")
        complete_open_task(orc, None, rma_id, "diagnose", DIAGNOSIS)
    results = race(*[lambda: batch_quotes.decide_quotes(orc, partner, batch["id"], approve_all=True)] * N)
    decided = [d["rma_id"] for r in results if isinstance(r, dict) for d in r["decided"]]
    assert sorted(decided) == ids, results
    assert all(r.status == 409 for r in results if not isinstance(r, dict))
    assert _kinds(orc, ids)["quote_decided"] == 2


def test_the_same_units_registered_many_times_at_once_are_registered_once(orc):
    units = [{"serial_number": f"REG-{n}", "model": "M", "ship_date": date.today().isoformat()} for n in range(20)]
    manager = actor(orc, "manager")
    results = race(*[lambda: register.import_units(orc, manager, units)] * N)
    assert any(isinstance(r, dict) for r in results), results
    assert all(isinstance(r, dict) or r.status == 409 for r in results), results
    with orc.reading() as s:
        assert s.scalar(select(func.count()).select_from(RegisteredUnit)) == 20
