"""Issue 17, points 3-5 on SQLite and PostgreSQL: the warranty date order from the register of units sold, the
register's CSV errors, the serial flags, a batch booked in with a missing and an unexpected serial, a grouped partial
return, and the partner approving every quote at once."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import event, func, select

from engine.errors import Conflict, InvalidInput, NotAllowed
from engine.services import batch_parcels, batch_quotes, batches, catalogue, partners, register, rmas
from engine.services.register_rows import RegisterImportError
from engine.store.model import AuditEvent
from tests.driver import DIAGNOSIS, complete_open_task, find_task, open_tasks, status
from tests.helpers import CAMERA_MODEL, actor, rma_payload

TODAY = date.today()


def iso(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


def _org(orc, name="Lens & Co Distribution"):
    manager = actor(orc, "manager")
    org = partners.create_organisation(
        orc,
        manager,
        {"name": name, "type": "distributor", "centre": "SG", "contact_email": "ops@lens.example", "language": "en"},
    )
    partners.add_partner_user(orc, manager, org["id"], f"p{org['id']}", "partner-pass-123")
    return org, actor(orc, f"p{org['id']}")


@pytest.fixture
def world(orc):
    catalogue.save_model(orc, actor(orc, "manager"), CAMERA_MODEL)
    org, partner = _org(orc)
    return orc, org, partner


def _batch(orc, partner, serials, **unit):
    units = [
        {"model": "Vista X100 Camera", "serial_number": s, "fault_description": "No picture", **unit} for s in serials
    ]
    return batches.open_batch(orc, partner, {"centre": "SG", "units": units})


def _register(orc, *units):
    return register.import_units(orc, actor(orc, "manager"), list(units))


def _warranty(orc, rma_id):
    with orc.reading() as s:
        rma = s.get(rmas.Rma, rma_id)
        return rma.warranty_date, rma.warranty_basis


def _statements(orc, call):
    """What `call()` returns and the SQL statements it sent."""
    sent: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(orc.db, "before_cursor_execute", count)
    try:
        return call(), sent
    finally:
        event.remove(orc.db, "before_cursor_execute", count)


# --- point 5: which date the warranty counts from ---------------------------------------------------------------


def test_installation_date_wins_over_purchase_and_ship(orc):
    _register(
        orc,
        {"serial_number": "SN-I", "model": "Vista X100 Camera", "ship_date": iso(900), "installation_date": iso(100)},
    )
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="sn-i", months_old=30))
    assert _warranty(orc, rma["id"]) == (TODAY - timedelta(days=100), "installation")
    # the warranty step decides from that date: 3 months, in warranty (the purchase, 30 months ago, would not be)
    complete_open_task(orc, None, rma["id"], "record_condition")
    complete_open_task(orc, None, rma["id"], "diagnose", DIAGNOSIS)
    assert rmas.get_rma(orc, actor(orc, "manager"), rma["id"])["in_warranty"] is True


def test_purchase_date_wins_over_ship_date(orc):
    _register(orc, {"serial_number": "SN-P", "model": "Vista X100 Camera", "ship_date": iso(60)})
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SN-P", months_old=30))
    when, basis = _warranty(orc, rma["id"])
    assert basis == "purchase" and when == date.fromisoformat(rma["product"]["purchase_date"].isoformat()[:10])
    complete_open_task(orc, None, rma["id"], "record_condition")
    complete_open_task(orc, None, rma["id"], "diagnose", DIAGNOSIS)
    assert rmas.get_rma(orc, actor(orc, "manager"), rma["id"])["in_warranty"] is False  # 30 months > 24


def test_ship_date_plus_the_models_grace_counts_without_a_purchase_date(world):
    orc, _, partner = world
    catalogue.save_model(orc, actor(orc, "manager"), {**CAMERA_MODEL, "ship_grace_days": 30})
    assert catalogue.get_model(orc, "Vista X100 Camera")["ship_grace_days"] == 30
    _register(orc, {"serial_number": "SN-S", "model": "Vista X100 Camera", "ship_date": iso(400)})
    batch = _batch(orc, partner, ["SN-S", "SN-NONE"])
    first, second = batch["units"]
    assert _warranty(orc, first["rma_id"]) == (TODAY - timedelta(days=370), "ship")
    assert _warranty(orc, second["rma_id"]) == (None, None)  # no date at all: the check counts it out of warranty


def test_a_batch_reads_the_register_once_for_all_its_units_warranty_dates(world):
    orc, _, partner = world
    _register(
        orc,
        {"serial_number": "RG-1", "model": "Vista X100 Camera", "ship_date": iso(900), "installation_date": iso(50)},
        {"serial_number": "RG-2", "model": "Vista X100 Camera", "ship_date": iso(200)},
    )
    serials = ["rg-1", "RG-2", *(f"RG-NONE-{i}" for i in range(6))]
    batch, sent = _statements(orc, lambda: _batch(orc, partner, serials))
    assert sum("registered_units" in statement for statement in sent) == 1  # not one per unit
    first, second, *rest = [u["rma_id"] for u in batch["units"]]
    assert _warranty(orc, first) == (TODAY - timedelta(days=50), "installation")
    assert _warranty(orc, second) == (TODAY - timedelta(days=110), "ship")  # 200 days ago + the default 90 days
    assert {_warranty(orc, r) for r in rest} == {(None, None)}


def test_the_order_is_installation_then_purchase_then_ship(orc):
    with orc.reading() as s:
        assert register.warranty_start(s, "nobody", "X", None) == (None, None)
    _register(
        orc,
        {"serial_number": "A", "model": "M", "ship_date": iso(300), "installation_date": iso(200)},
        {"serial_number": "B", "model": "M", "ship_date": iso(300)},
    )
    bought = TODAY - timedelta(days=250)
    with orc.reading() as s:
        assert register.warranty_start(s, "A", "M", bought) == (TODAY - timedelta(days=200), "installation")
        assert register.warranty_start(s, "B", "M", bought) == (bought, "purchase")
        assert register.warranty_start(s, "B", "M", None) == (TODAY - timedelta(days=210), "ship")  # 90 days' grace


# --- the register --------------------------------------------------------------------------------------------------


def test_register_csv_lists_every_problem_by_line_and_column_and_stores_nothing(world):
    orc, _, _ = world
    csv = (
        "serial_number,model,ship_date,organisation,installation_date\n"
        f"R-1,Vista X100 Camera,{iso(10)},Lens & Co Distribution,\n"
        "R-2,Vista X100 Camera,2024-13-01,,\n"
        f"R-1,Vista X100 Camera,{iso(10)},,\n"
        f"R-3,Vista X100 Camera,{iso(10)},Nobody Ltd,{iso(20)}\n"
        f"R-4,,{iso(-5)},,\n"
    ).encode()
    with pytest.raises(RegisterImportError) as caught:
        register.import_csv(orc, actor(orc, "manager"), csv)
    found = {(e["line"], e["column"]) for e in caught.value.errors}
    assert found == {
        (3, "ship_date"),
        (4, "serial_number"),
        (5, "installation_date"),
        (6, "model"),
        (6, "ship_date"),
    }
    with orc.reading() as s:
        assert s.scalar(select(func.count()).select_from(register.RegisteredUnit)) == 0
    with pytest.raises(RegisterImportError) as caught:  # the organisation is checked against the database
        register.import_csv(
            orc, actor(orc, "manager"), f"serial_number,model,ship_date,organisation\nR-9,M,{iso(1)},Nobody\n".encode()
        )
    assert caught.value.errors == [
        {"line": 2, "column": "organisation", "message": "No partner organisation is named 'Nobody'."}
    ]
    good = f"serial_number,model,ship_date,organisation\nR-1,Vista X100 Camera,{iso(10)},lens & co distribution\n"
    assert register.import_csv(orc, actor(orc, "manager"), good.encode()) == {"imported": 1, "created": 1, "updated": 0}
    unit = register.get_unit(orc, actor(orc, "sg.reception"), " r-1 ")
    assert unit["organisation"] == "Lens & Co Distribution" and unit["ship_date"] == TODAY - timedelta(days=10)
    with pytest.raises(NotAllowed):
        register.import_csv(orc, actor(orc, "sg.reception"), good.encode())


def test_register_refuses_text_it_cannot_store(orc):
    with pytest.raises(RegisterImportError) as caught:
        _register(orc, {"serial_number": "A\x00B", "model": "M" * 201, "ship_date": iso(1)})
    assert {(e["line"], e["column"]) for e in caught.value.errors} == {(1, "serial_number"), (1, "model")}


# --- flags ---------------------------------------------------------------------------------------------------------


def test_flags_two_open_rmas_a_different_serial_received_and_an_unregistered_serial(world):
    orc, _, partner = world
    _register(orc, {"serial_number": "SN-REG", "model": "Vista X100 Camera", "ship_date": iso(100)})
    single = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SN-REG"))
    batch = _batch(orc, partner, ["SN-REG", "SN-OTHER"])
    reg_unit, other = batch["units"]
    batch_parcels.book_in(
        orc, actor(orc, "sg.reception"), batch["id"], units=[{"rma_id": other["rma_id"], "serial": "SN-LABEL-9"}]
    )
    flags = batch_parcels.parcels_of(orc, actor(orc, "sg.reception"), batch["id"])["flags"]
    assert [f["code"] for f in flags[reg_unit["rma_id"]]] == ["serial_in_open_rmas"]
    assert single["number"] in flags[reg_unit["rma_id"]][0]["message"]
    assert [f["code"] for f in flags[other["rma_id"]]] == ["serial_differs", "serial_not_registered"]
    shown = rmas.get_rma(orc, actor(orc, "sg.reception"), other["rma_id"])
    assert [f["code"] for f in shown["serial_flags"]] == ["serial_differs", "serial_not_registered"]
    assert shown["warranty"] == {"date": None, "basis": None}


def test_the_parcels_view_reads_every_units_serial_flags_in_a_constant_number_of_queries(world):
    orc, _, partner = world
    reception = actor(orc, "sg.reception")
    _register(orc, {"serial_number": "PV-00", "model": "Vista X100 Camera", "ship_date": iso(100)})
    rmas.open_rma(orc, reception, rma_payload(serial="PV-01"))  # an open RMA elsewhere with a batch unit's serial
    small = _batch(orc, partner, ["PV-00", "PV-01"])
    large = _batch(orc, partner, [f"PV-{i:02d}" for i in range(12)])
    small_view, small_sent = _statements(orc, lambda: batch_parcels.parcels_of(orc, reception, small["id"]))
    large_view, large_sent = _statements(orc, lambda: batch_parcels.parcels_of(orc, reception, large["id"]))
    assert len(large_sent) == len(small_sent)  # not one or two more per unit
    first, second, *rest = [u["rma_id"] for u in large["units"]]
    flags = {rma_id: [f["code"] for f in found] for rma_id, found in large_view["flags"].items()}
    # PV-00 is registered and also in the small batch; PV-01 is in the single RMA and the small batch; the rest
    # are in no other open RMA and not registered
    assert flags[first] == ["serial_in_open_rmas"]
    assert flags[second] == ["serial_in_open_rmas", "serial_not_registered"]
    assert all(flags[r] == ["serial_not_registered"] for r in rest) and len(rest) == 10
    assert small["units"][1]["number"] in large_view["flags"][second][0]["message"]
    assert [f["code"] for f in small_view["flags"][small["units"][0]["rma_id"]]] == ["serial_in_open_rmas"]


# --- point 3: one parcel in, grouped parcels out ---------------------------------------------------------------------


def test_a_batch_booked_in_with_a_missing_and_an_unexpected_serial(world):
    orc, _, partner = world
    batch = _batch(orc, partner, ["B-1", "B-2", "B-3"], purchase_date=iso(30))
    one, two, three = batch["units"]
    assert {status(orc, u["rma_id"]) for u in batch["units"]} == {"awaiting_unit"}
    reception = actor(orc, "sg.reception")
    arrival = batch_parcels.book_in(orc, reception, batch["id"], scans=[one["number"].lower(), "b-2", "X-999"])
    assert arrival["arrived"] == [one["number"], two["number"]]
    assert arrival["missing"] == ["B-3"] and arrival["unexpected"] == ["X-999"]
    # each arrived unit went through its own inbound step into intake; the missing one still waits
    assert [status(orc, u["rma_id"]) for u in (one, two, three)] == ["received", "received", "awaiting_unit"]
    assert find_task(orc, None, one["rma_id"], "record_condition")
    later = batch_parcels.book_in(orc, reception, batch["id"], scans=["B-3", "B-1"])
    assert later["arrived"] == [three["number"]] and later["already_arrived"] == [one["number"]]
    assert later["missing"] == []
    seen = batch_parcels.parcels_of(orc, reception, batch["id"])
    assert [a["unexpected"] for a in seen["arrivals"]] == [["X-999"], []]
    with pytest.raises(NotAllowed):
        batch_parcels.book_in(orc, partner, batch["id"], scans=["B-1"])


def _to_return(orc, rma_id):
    for name, data in (
        ("record_condition", None),
        ("diagnose", {**DIAGNOSIS, "fault_category": "electronic"}),
    ):
        complete_open_task(orc, None, rma_id, name, data)


def test_a_grouped_partial_return_records_each_units_own_return(world):
    orc, _, partner = world
    batch = _batch(orc, partner, ["G-1", "G-2", "G-3"], purchase_date=iso(30))
    reception = actor(orc, "sg.reception")
    batch_parcels.book_in(orc, reception, batch["id"], scans=["G-1", "G-2", "G-3"])
    ids = [u["rma_id"] for u in batch["units"]]
    for rma_id in ids[:2]:  # in warranty: repaired, QA, then waiting to go back
        _to_return(orc, rma_id)
        complete_open_task(orc, None, rma_id, "repair")
        complete_open_task(orc, None, rma_id, "qa_check")
    assert batch_parcels.parcels_of(orc, reception, batch["id"])["ready_to_ship"] == ids[:2]
    with pytest.raises(Conflict):  # the third is not ready
        batch_parcels.ship_back(orc, reception, batch["id"], ids, "DHL", "JD-1")
    sent = batch_parcels.ship_back(orc, reception, batch["id"], ids[:1], "DHL", "JD-1")
    assert sent["units"] == [batch["units"][0]["number"]]
    assert [status(orc, i) for i in ids] == ["closed", "returning", "received"]
    with orc.reading() as s:
        done = s.scalars(select(AuditEvent).where(AuditEvent.rma_id == ids[0], AuditEvent.task_name == "ship_return"))
        assert [e.data for e in done] == [{"carrier": "DHL", "tracking_number": "JD-1"}]
    second = batch_parcels.ship_back(orc, reception, batch["id"], ids[1:2], "UPS", "1Z")
    assert second["units"] == [batch["units"][1]["number"]]
    shipments = batch_parcels.parcels_of(orc, reception, batch["id"])["shipments"]
    assert [(s["carrier"], s["units"]) for s in shipments] == [
        ("DHL", [batch["units"][0]["number"]]),
        ("UPS", [batch["units"][1]["number"]]),
    ]
    with pytest.raises(InvalidInput):
        batch_parcels.ship_back(orc, reception, batch["id"], ids[2:], "DHL", "A\x00")


# --- point 4: quotes at batch scale ---------------------------------------------------------------------------------


def test_the_partner_approves_every_quote_at_once_each_through_its_own_gate(world):
    orc, _, partner = world
    batch = _batch(orc, partner, ["Q-1", "Q-2", "Q-3"], purchase_date=iso(1500))  # out of warranty: quotes
    reception = actor(orc, "sg.reception")
    batch_parcels.book_in(orc, reception, batch["id"], scans=["Q-1", "Q-2", "Q-3"])
    ids = [u["rma_id"] for u in batch["units"]]
    for rma_id in ids[:2]:
        _to_return(orc, rma_id)
    assert [status(orc, i) for i in ids] == ["awaiting_approval", "awaiting_approval", "received"]
    with pytest.raises(NotAllowed):  # staff never decide for the customer
        batch_quotes.decide_quotes(orc, actor(orc, "manager"), batch["id"], approve_all=True)
    one = batch_quotes.decide_quotes(orc, partner, batch["id"], decisions=[{"rma_id": ids[0], "approve": False}])
    assert one == {
        "decided": [{"rma_id": ids[0], "number": batch["units"][0]["number"], "approve": False}],
        "skipped": [],
    }
    _to_return(orc, ids[2])
    every = batch_quotes.decide_quotes(orc, partner, batch["id"], approve_all=True)
    assert [d["rma_id"] for d in every["decided"]] == ids[1:]
    assert [status(orc, i) for i in ids] == ["returning", "repairing", "repairing"]
    with orc.reading() as s:
        decided = s.scalars(select(AuditEvent.detail).where(AuditEvent.kind == "quote_decided").order_by(AuditEvent.id))
        assert list(decided) == ["quote declined", "quote approved", "quote approved"]
    with pytest.raises(Conflict):
        batch_quotes.decide_quotes(orc, partner, batch["id"], approve_all=True)
    other_org, other_partner = _org(orc, "Other Installer")
    with pytest.raises(batches.BatchNotFound):
        batch_quotes.decide_quotes(orc, other_partner, batch["id"], approve_all=True)
    assert open_tasks(orc, ids[1])[0]["name"] == "repair"
