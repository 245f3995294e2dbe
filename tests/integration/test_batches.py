"""Batches on SQLite and PostgreSQL (issue 17, point 2): 200 units in one transaction, each its own process
instance numbered from the centre's sequence; a failure anywhere keeps nothing; a CSV's problems by line and
column; the same command sent many times at once is done once (PostgreSQL)."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from engine.errors import Conflict, EngineError, InvalidInput, NotAllowed
from engine.services import batches, partner_rmas, partners, rmas
from engine.services.batch_csv import BatchFileError
from engine.store.model import AuditEvent, Batch, Instance, Organisation, Rma, RmaEstimate, User
from tests.helpers import actor, race, rma_payload
from tests.partner_world import MANAGER, MODEL, partner, seed_partners, units


@pytest.fixture
def world(orc):
    return orc, seed_partners(orc)


def _count(orc, table) -> int:
    with orc.reading() as s:
        return s.scalar(select(func.count()).select_from(table))


def test_a_200_unit_batch_opens_in_one_transaction_each_unit_its_own_instance(world):
    orc, ids = world
    before = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SINGLE-1"))
    batch = batches.open_batch(orc, partner(orc, "lion"), {"centre": "SG", "reference": "PO-200", "units": units(200)})
    after = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SINGLE-2"))
    numbers = [u["number"] for u in batch["units"]]
    assert len(set(numbers)) == 200 and batch["number"].startswith("B-SG-")
    ids_opened = [u["rma_id"] for u in batch["units"]]
    assert before["id"] < min(ids_opened) and max(ids_opened) < after["id"]  # the centre's one sequence
    with orc.reading() as s:
        assert s.scalar(select(func.count()).select_from(Instance).where(Instance.rma_id.in_(ids_opened))) == 200
        rows = s.scalars(select(Rma).where(Rma.batch_id == batch["id"])).all()
        assert {r.organisation_id for r in rows} == {ids["lion"]} and {r.customer_name for r in rows} == {
            "Lion CCTV Distribution"
        }
        assert Counter(s.scalars(select(AuditEvent.kind).where(AuditEvent.rma_id.in_(ids_opened))))["rma_opened"] == 200
    view = batches.get_batch(orc, partner(orc, "lion"), batch["id"])
    assert sum(view["by_status"].values()) == 200 and view["open_units"] == 200
    assert partner_rmas.list_partner_rmas(orc, partner(orc, "lion"), per_page=10)["total"] == 200


def test_a_failure_at_the_150th_unit_keeps_nothing(world, monkeypatch):
    orc, _ = world
    real, calls = batches.start_rma, {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 150:
            raise RuntimeError("the engine failed at unit 150")
        return real(*args, **kwargs)

    monkeypatch.setattr(batches, "start_rma", failing)
    with pytest.raises(RuntimeError):
        batches.open_batch(orc, partner(orc, "lion"), {"centre": "SG", "units": units(200)})
    assert (_count(orc, Batch), _count(orc, Rma), _count(orc, Instance)) == (0, 0, 0)


def test_a_csv_lists_every_problem_by_line_and_column_and_opens_nothing(world):
    orc, _ = world
    data = (
        "model,serial_number,fault_description,purchase_date,site,customer_reference\n"
        f"{MODEL},C-1,No video,2025-02-01,Depot,T-1\n"
        f"Vista Z9,C-2,Dead,,Depot,\n"
        f"{MODEL},C-1,Dead,2025-13-01,Depot,\n"
        f"{MODEL},C-4,,,{'s' * 201},\n"
        f"{MODEL},C-5,Dead\n"
    ).encode()
    with pytest.raises(BatchFileError) as caught:
        batches.open_batch_from_csv(orc, partner(orc, "lion"), "SG", data)
    found = {(e["line"], e["column"]) for e in caught.value.errors}
    assert found == {
        (3, "model"),
        (4, "serial_number"),
        (4, "purchase_date"),
        (5, "fault_description"),
        (5, "site"),
        (6, None),
    }, caught.value.errors
    assert _count(orc, Rma) == 0


@pytest.mark.parametrize(
    "data, where",
    [
        (b"", (1, None)),
        (b"model,serial_number\nX,Y\n", (1, "fault_description")),
        (b"model,serial_number,fault_description,colour\n", (1, "colour")),
        (b"\xff\xfemodel", (1, None)),
        (b'model,serial_number,fault_description\n"open quote,A,B\n', (2, None)),
        (b"model,serial_number,fault_description\n", (2, None)),
    ],
)
def test_a_malformed_csv_is_refused_with_the_line_named(world, data, where):
    orc, _ = world
    with pytest.raises(BatchFileError) as caught:
        batches.open_batch_from_csv(orc, partner(orc, "lion"), "SG", data)
    assert where in {(e["line"], e["column"]) for e in caught.value.errors}, caught.value.errors
    assert _count(orc, Rma) == 0


def test_ten_thousand_lines_are_refused_before_they_are_read(world):
    orc, _ = world
    data = b"model,serial_number,fault_description\n" + b"".join(f"{MODEL},S{i},x\n".encode() for i in range(10_000))
    with pytest.raises(BatchFileError) as caught:
        batches.open_batch_from_csv(orc, partner(orc, "lion"), "SG", data)
    assert f"More than {batches.MAX_UNITS} units" in caught.value.errors[0]["message"]


def test_a_partner_account_is_scoped_to_its_organisation(world):
    orc, ids = world
    lion = batches.open_batch(orc, partner(orc, "lion"), {"centre": "SG", "units": units(1)})
    kopi = partner(orc, "kopi")
    for call in (
        lambda: batches.get_batch(orc, kopi, lion["id"]),
        lambda: partner_rmas.get_partner_rma(orc, kopi, lion["units"][0]["rma_id"]),
        lambda: partner_rmas.partner_figures(orc, kopi, ids["lion"]),
        lambda: partners.get_organisation(orc, kopi, ids["lion"]),
        lambda: rmas.get_rma(orc, kopi, lion["units"][0]["rma_id"]),
    ):
        with pytest.raises(EngineError) as caught:
            call()
        assert caught.value.status == 404
    with pytest.raises(NotAllowed):  # no centre, yet not every centre: the centres' list is closed to a partner
        rmas.list_rmas(orc, kopi)


# --- the same command many times at once (PostgreSQL) -------------------------------------------------------

postgres_only = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
N = 8


@postgres_only
def test_one_batch_sent_many_times_with_one_idempotency_key_opens_once(world):
    orc, _ = world
    lion = partner(orc, "lion")
    payload = {"centre": "SG", "reference": "PO-race", "units": units(5)}
    results = race(*[lambda: batches.open_batch(orc, lion, payload, "batch-key-1")] * N)
    assert all(isinstance(r, dict) for r in results), results
    assert len({r["id"] for r in results}) == 1
    assert (_count(orc, Batch), _count(orc, Rma)) == (1, 5)


@postgres_only
def test_batches_opened_at_once_each_get_their_own_numbers(world):
    orc, _ = world
    lion = partner(orc, "lion")
    results = race(
        *[lambda i=i: batches.open_batch(orc, lion, {"centre": "SG", "units": units(3, f"P{i}")}) for i in range(N)]
    )
    assert all(isinstance(r, dict) for r in results), results
    assert len({r["number"] for r in results}) == N
    assert len({u["number"] for r in results for u in r["units"]}) == 3 * N == _count(orc, Rma)


@postgres_only
def test_one_organisation_created_many_times_at_once_exists_once(world):
    orc, _ = world
    body = {"name": "Raced Alarms", "type": "installer", "centre": "SG", "contact_email": "r@raced.example"}
    results = race(*[lambda: partners.create_organisation(orc, MANAGER, body)] * N)
    assert sum(isinstance(r, dict) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, dict)), results
    with orc.reading() as s:
        assert s.scalar(select(func.count()).select_from(Organisation).where(Organisation.name == "Raced Alarms")) == 1


@postgres_only
def test_one_partner_account_added_many_times_at_once_exists_once(world):
    orc, ids = world
    results = race(*[lambda: partners.add_partner_user(orc, MANAGER, ids["lion"], "raced.ops", "raced-pass")] * N)
    assert sum(isinstance(r, dict) for r in results) == 1
    assert all(isinstance(r, (Conflict, InvalidInput)) for r in results if not isinstance(r, dict)), results
    with orc.reading() as s:
        assert s.scalar(select(func.count()).select_from(User).where(User.username == "raced.ops")) == 1


def test_a_unit_not_arrived_yet_is_estimated_for_the_whole_repair_like_a_unit_at_the_counter(world):
    """A batch unit waits in the inbound stage with no task open: its estimate (and the batch's rolled-up one)
    covers intake to the return, as for a unit handed in at the counter the same day, never 'back tomorrow'."""
    orc, _ = world
    batch = batches.open_batch(orc, partner(orc, "lion"), {"centre": "SG", "units": units(2)})
    counter = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="COUNTER-1"))
    with orc.reading() as s:
        stages = set(s.scalars(select(Rma.stage).where(Rma.batch_id == batch["id"])))
    assert stages == {"inbound"}
    view = batches.get_batch(orc, partner(orc, "lion"), batch["id"])
    with orc.reading() as s:
        row = s.get(RmaEstimate, counter["id"])
        at_counter = {"earliest": row.earliest, "latest": row.latest}
    assert at_counter["latest"] > at_counter["earliest"]
    for unit in view["units"]:
        assert (unit["estimate"]["earliest"], unit["estimate"]["latest"]) == (
            at_counter["earliest"],
            at_counter["latest"],
        )
    assert view["estimate"]["latest"] == at_counter["latest"]


def test_the_units_waiting_for_one_parcel_are_estimated_once_not_once_each(world, monkeypatch):
    """Each estimate walks the centre's whole history window: a batch's units, all in the same situation, share
    one (the 200-unit batch at 100,000 RMAs took 4x longer when each unit computed its own)."""
    from engine.customer import eta

    orc, _ = world
    real, calls = eta.estimate, []

    def counted(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(eta, "estimate", counted)
    batch = batches.open_batch(orc, partner(orc, "lion"), {"centre": "SG", "units": units(12)})
    assert len(calls) == 1 and calls[0].stage == "inbound"
    view = batches.get_batch(orc, partner(orc, "lion"), batch["id"])
    assert len({(u["estimate"]["earliest"], u["estimate"]["latest"]) for u in view["units"]}) == 1
    rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="COUNTER-2"))  # another transaction
    assert len(calls) == 2
