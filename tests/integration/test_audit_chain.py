"""The audit trail holds up in a dispute: hash-chained per RMA, any change by SQL is found, on each backend."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from engine.services import portal, rmas, tasks
from engine.store import audit as audit_module
from engine.store.audit import GENESIS, event_hash, verify_chain
from engine.store.db import alembic_config, make_engine
from engine.store.model import AuditEvent, utcnow
from tests.driver import complete_open_task, only_task
from tests.helpers import INTAKE, actor, rma_payload
from web import cli


def _journey(orc) -> dict:
    """An out-of-warranty repair from intake to return, with a claim and a release on the way."""
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=30))
    complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
    diagnose = only_task(orc, "sg.tech", rma["id"])
    tasks.claim_task(orc, actor(orc, "sg.tech"), diagnose["id"])
    tasks.unclaim_task(orc, actor(orc, "sg.tech"), diagnose["id"])
    tasks.complete_task(
        orc,
        actor(orc, "sg.tech"),
        diagnose["id"],
        {"diagnosis": "Dead board", "fault_category": "electronic", "parts_cost": 100, "labour_hours": 2},
    )
    portal.record_customer_decision(orc, rma["tracking_token"], True)
    for username, data in [
        ("sg.tech", {"repair_notes": "Board replaced"}),
        ("sg.qa", {"qa_passed": True}),
        ("sg.reception", {"carrier": "DHL", "tracking_number": "JD01"}),
    ]:
        complete_open_task(orc, username, rma["id"], data=data)
    return rma


def _events(orc, rma_id) -> list[SimpleNamespace]:
    columns = [c.key for c in AuditEvent.__table__.columns]
    with orc.uow() as uow:
        rows = uow.session.scalars(select(AuditEvent).where(AuditEvent.rma_id == rma_id).order_by(AuditEvent.id))
        return [SimpleNamespace(**{c: getattr(r, c) for c in columns}) for r in rows]


def _verify(orc, rma_id=None) -> list[dict]:
    with orc.uow() as uow:
        return verify_chain(uow.session, rma_id)


def _sql(orc, statement) -> None:
    """Tamper as someone with direct database access would: past the append-only triggers."""
    with orc.db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")  # the table owner may
            conn.execute(statement)
            conn.exec_driver_sql("ALTER TABLE audit_events ENABLE TRIGGER USER")
        else:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_update")
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_delete")
            conn.execute(statement)


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEvent).values(detail="edited"),
        delete(AuditEvent),
    ],
    ids=["update", "delete"],
)
def test_the_database_itself_refuses_to_change_or_delete_events(orc, journey, statement):
    rma, events = journey
    with pytest.raises(DBAPIError, match="append-only"):
        with orc.db.begin() as conn:
            conn.execute(statement.where(AuditEvent.id == events[1].id))
    assert _events(orc, rma["id"]) == events


@pytest.fixture
def journey(orc):
    rma = _journey(orc)
    return rma, _events(orc, rma["id"])


def test_a_whole_journey_is_one_intact_chain(orc, journey):
    rma, events = journey
    kinds = [e.kind for e in events]
    assert kinds[0] == "rma_opened" and kinds[-1] == "rma_closed"
    assert {"task_claimed", "task_unclaimed", "quote_decided"} <= set(kinds)
    assert events[0].prev_hash == GENESIS
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert all(e.hash == event_hash(e.prev_hash, vars(e)) for e in events)
    assert _verify(orc, rma["id"]) == [] and _verify(orc) == []


@pytest.mark.parametrize(
    "change",
    [
        {"detail": "Board was fine"},
        {"data": {"diagnosis": "Customer dropped it", "fault_category": "physical_damage"}},
        {"actor": "sg.manager"},
        {"at": "shifted"},
        {"kind": "task_claimed"},
        {"customer_visible": True},
    ],
    ids=["detail", "data", "actor", "at", "kind", "customer_visible"],
)
def test_changing_any_field_of_an_event_is_found(orc, journey, change):
    rma, events = journey
    target = next(e for e in events if e.kind == "task_completed" and e.task_name == "diagnose")
    if change.get("at") == "shifted":
        change = {"at": target.at - timedelta(hours=3)}
    _sql(orc, update(AuditEvent).where(AuditEvent.id == target.id).values(**change))
    assert _verify(orc, rma["id"]) == [
        {
            "rma_id": rma["id"],
            "event_id": target.id,
            "kind": change.get("kind", target.kind),
            "problem": "contents changed: the hash does not match the event's fields",
        }
    ]


def test_rewriting_an_event_and_its_hash_breaks_the_next_link(orc, journey):
    rma, events = journey
    target, following = events[3], events[4]
    forged = {
        name: getattr(target, name)
        for name in ("rma_id", "at", "actor", "kind", "task_name", "data", "customer_visible")
    }
    forged["detail"] = "nothing happened"
    _sql(
        orc,
        update(AuditEvent)
        .where(AuditEvent.id == target.id)
        .values(detail="nothing happened", hash=event_hash(target.prev_hash, forged)),
    )
    assert [(b["event_id"], b["problem"].split(":")[0]) for b in _verify(orc, rma["id"])] == [
        (following.id, "link broken")
    ]


def test_deleting_an_event_in_the_middle_is_found(orc, journey):
    rma, events = journey
    gone, following = events[len(events) // 2], events[len(events) // 2 + 1]
    _sql(orc, delete(AuditEvent).where(AuditEvent.id == gone.id))
    assert [(b["event_id"], b["problem"].split(":")[0]) for b in _verify(orc, rma["id"])] == [
        (following.id, "link broken")
    ]


@pytest.mark.parametrize("forgery", ["no_chain", "copied_head"])
def test_inserting_a_forged_event_is_found(orc, journey, forgery):
    rma, events = journey
    head = events[-1]
    fields = {
        "rma_id": rma["id"],
        "at": utcnow(),
        "actor": "sg.manager",
        "kind": "quote_decided",
        "task_name": "customer_approval",
        "detail": "quote declined",
        "data": {"approve": False},
        "customer_visible": True,
    }
    prev = GENESIS if forgery == "no_chain" else head.prev_hash  # as if it came right before the head
    _sql(orc, insert(AuditEvent).values(**fields, prev_hash=prev, hash=event_hash(prev, fields)))
    breaks = _verify(orc, rma["id"])
    assert [b["problem"].split(":")[0] for b in breaks] == ["link broken"]
    assert breaks[0]["event_id"] > head.id


def test_other_rmas_are_not_blamed_for_a_break(orc, journey):
    rma, events = journey
    other = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SN-2"))
    _sql(orc, update(AuditEvent).where(AuditEvent.id == events[1].id).values(detail="edited"))
    assert _verify(orc, other["id"]) == []
    assert {b["rma_id"] for b in _verify(orc)} == {rma["id"]}


def test_events_written_at_once_on_one_rma_never_share_a_link(orc, monkeypatch):
    """Claims and releases race on one RMA (they do not touch the instance row): the chain stays linear."""
    read_head = audit_module._head

    def slow_head(session, rma_id):
        head = read_head(session, rma_id)
        time.sleep(0.02)  # widen the window between reading the head and writing the next event
        return head

    monkeypatch.setattr(audit_module, "_head", slow_head)
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
    task_id = only_task(orc, "sg.tech", rma["id"])["id"]
    tech = actor(orc, "sg.tech")
    barrier, errors = threading.Barrier(6), []
    before = len(_events(orc, rma["id"]))

    def churn():
        barrier.wait()
        try:
            for _ in range(5):
                tasks.claim_task(orc, tech, task_id)
                tasks.unclaim_task(orc, tech, task_id)
        except Exception as exc:  # noqa: BLE001 - any failure fails the test below
            errors.append(exc)

    threads = [threading.Thread(target=churn) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    events = _events(orc, rma["id"])
    # how many depends on the interleaving: a claim by the holder, or an unclaim of a task nobody holds, writes no
    # event (tests/security/test_command_races.py); every claim and unclaim that did change the task wrote one
    changes = [e for e in events if e.kind in ("task_claimed", "task_unclaimed")]
    assert len(changes) >= 2 and len(events) == before + len(changes), [e.kind for e in events]
    assert len({e.prev_hash for e in events}) == len(events), "two events chained onto the same head"
    assert _verify(orc, rma["id"]) == []


def test_concurrent_writers_on_one_rma_chain_linearly(orc, monkeypatch):
    """Two commands that share no row (e.g. claims of parallel tasks) still chain one after the other."""
    read_head = audit_module._head

    def slow_head(session, rma_id):
        head = read_head(session, rma_id)
        time.sleep(0.05)
        return head

    monkeypatch.setattr(audit_module, "_head", slow_head)
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    barrier, errors = threading.Barrier(8), []

    def write(i):
        barrier.wait()
        try:
            with orc.uow() as uow:
                audit_module.append_event(uow.session, rma["id"], "tester", "note_added", f"note {i}")
                uow.commit()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    events = _events(orc, rma["id"])
    assert sum(e.kind == "note_added" for e in events) == 8
    assert len({e.prev_hash for e in events}) == len(events), "two events chained onto the same head"
    assert _verify(orc, rma["id"]) == []


def test_a_rolled_back_command_leaves_no_event_and_no_gap(orc, journey, monkeypatch):
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SN-3"))
    task = only_task(orc, "sg.reception", rma["id"])
    before = len(_events(orc, rma["id"]))
    monkeypatch.setattr(orc.runtime, "dump", lambda wf: (_ for _ in ()).throw(RuntimeError("power cut")))
    with pytest.raises(RuntimeError):
        tasks.complete_task(orc, actor(orc, "sg.reception"), task["id"], INTAKE)
    monkeypatch.undo()
    assert len(_events(orc, rma["id"])) == before
    tasks.complete_task(orc, actor(orc, "sg.reception"), task["id"], INTAKE)
    assert _verify(orc) == []


def _cli(orc, monkeypatch, *args):
    monkeypatch.setattr(cli, "_orchestrator", lambda: orc)
    return CliRunner().invoke(cli.main, ["audit", "verify", *args])


def test_cli_reports_an_intact_trail_and_exits_zero(orc, journey, monkeypatch):
    rma, events = journey
    result = _cli(orc, monkeypatch, "--rma", rma["number"])
    assert result.exit_code == 0, result.output
    assert f"intact: {len(events)} event(s)" in result.output


def test_cli_lists_every_break_and_exits_non_zero(orc, journey, monkeypatch):
    rma, events = journey
    _sql(orc, update(AuditEvent).where(AuditEvent.id == events[2].id).values(actor="someone else"))
    _sql(orc, delete(AuditEvent).where(AuditEvent.id == events[5].id))
    result = _cli(orc, monkeypatch)
    assert result.exit_code == 1
    assert f"{rma['number']}: event {events[2].id} ({events[2].kind}): contents changed" in result.output
    assert f"{rma['number']}: event {events[6].id} ({events[6].kind}): link broken" in result.output
    assert "BROKEN: 2 break(s)" in result.output
    assert _cli(orc, monkeypatch, "--rma", "RMA-XX-999999").exit_code != 0


def test_upgrading_an_existing_database_seals_its_events(settings):
    """Events written before the hash-chain migration are chained by it, in id order per RMA."""
    engine = make_engine(settings.database_url)
    try:
        config = alembic_config(engine)
        command.upgrade(config, "0001")
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO centres (code, name, currency, labour_rate, timezone) "
                "VALUES ('SG', 'Singapore', 'SGD', 60, 'UTC')"
            )
            for kind in ("deployed", "rma_opened", "status_changed"):
                conn.execute(_legacy_insert(), {"at": utcnow(), "kind": kind})
        command.upgrade(config, "heads")
        from sqlalchemy.orm import Session

        with Session(engine) as session:
            rows = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
            assert [r.kind for r in rows] == ["deployed", "rma_opened", "status_changed"]
            assert rows[0].prev_hash == GENESIS and rows[1].prev_hash == rows[0].hash
            assert verify_chain(session) == []
            assert session.scalar(select(func.count()).where(AuditEvent.hash.is_(None))) == 0
    finally:
        engine.dispose()


def _legacy_insert():
    from sqlalchemy import bindparam, column, table

    from engine.store.model import UTCDateTime

    legacy = table(
        "audit_events",
        column("rma_id"),
        column("at", UTCDateTime()),
        column("actor"),
        column("kind"),
        column("task_name"),
        column("detail"),
        column("customer_visible"),
    )
    return legacy.insert().values(
        rma_id=None,
        at=bindparam("at"),
        actor="system",
        kind=bindparam("kind"),
        task_name=None,
        detail="legacy event",
        customer_visible=False,
    )
