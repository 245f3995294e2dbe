"""The demo's six months of closed RMAs (issue 16.12): the dashboard's lead times, the estimates' basis and the
earlier-RMA panels show figures from them, and each copied RMA is what the engine itself would have stored."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select

from engine import demo_history
from engine.customer import estimates
from engine.demo import CUSTOMERS, OPEN_DEMO_RMAS, create_catalogue_and_locations, create_demo_rmas
from engine.services import customers, dashboard, service_record, stage_visits
from engine.store.audit import verify_chain
from engine.store.model import AuditEvent, HumanTask, Instance, OutboxMessage, Rma, StageVisit, utcnow
from tests.helpers import actor

STAGES = {"intake", "diagnosis", "repair", "qa", "return"}


def _open_by_customer(orc) -> dict:
    with orc.reading() as s:
        return {
            r.customer_name: {"id": r.id, "number": r.number}
            for r in s.scalars(select(Rma).where(Rma.status != "closed"))
        }


def test_without_the_history_the_figures_are_empty_and_the_estimates_fall_back(orc):
    """The control for the tests below: the figures they find come from the history."""
    create_catalogue_and_locations(orc)
    assert create_demo_rmas(orc, history=False) == OPEN_DEMO_RMAS
    manager = actor(orc, "manager")
    assert dashboard.dashboard(orc, manager)["end_to_end"] == []
    for rma in _open_by_customer(orc).values():
        side = customers.customer_side(orc, manager, rma["id"])
        assert side["eta"]["source"] == "defaults"
        assert side["earlier"] == {"customer": [], "unit": []}


def test_demo_history_gives_the_dashboard_the_estimates_and_the_earlier_rma_panels_real_figures(orc):
    create_catalogue_and_locations(orc)
    created = create_demo_rmas(orc)
    assert created == sum(demo_history.PER_CENTRE.values()) + OPEN_DEMO_RMAS
    manager = actor(orc, "manager")
    estimates.clear_cache()

    # Dashboard: end-to-end lead times in each month of its six (the current one may have none yet) per centre,
    # and every stage's lead time.
    figures = dashboard.dashboard(orc, manager)
    months = defaultdict(set)
    for row in figures["end_to_end"]:
        assert row["count"] > 0 and 24 <= row["p50_hours"] <= row["p90_hours"] <= 24 * 30
        months[row["centre"]].add(row["period"])
    assert {c: len(m) >= 5 for c, m in months.items()} == {"SG": True, "DE": True}
    for centre in ("SG", "DE"):
        assert STAGES <= {r["stage"] for r in figures["stages"] if r["centre"] == centre}

    # Estimates of the open demo RMAs: from the centre's history, not the standard times.
    opened = _open_by_customer(orc)
    assert set(opened) == set(CUSTOMERS)
    for rma in opened.values():
        eta = customers.customer_side(orc, manager, rma["id"])["eta"]
        assert eta["source"] == "history", rma["number"]
        assert eta["samples"] >= 20 and f"from {eta['samples']} repairs" in eta["basis"]

    # Earlier RMAs: Arjun's recorder and Mei Ling's camera came in before, Lena had another unit repaired.
    arjun = customers.customer_side(orc, manager, opened["Arjun Nair"]["id"])["earlier"]
    assert [(r["serial_number"], r["outcome"]) for r in arjun["unit"]] == [("NVR8-20931", "repaired")]
    assert arjun["customer"] == arjun["unit"]
    assert timedelta(days=115) < utcnow() - arjun["unit"][0]["created_at"] < timedelta(days=130)
    mei_ling = customers.customer_side(orc, manager, opened["Mei Ling Tan"]["id"])["earlier"]
    assert [(r["serial_number"], r["outcome"]) for r in mei_ling["unit"]] == [("VX100-55012", "no_fault_found")]
    lena = customers.customer_side(orc, manager, opened["Lena Fischer"]["id"])["earlier"]
    assert lena["unit"] == [] and [r["product_model"] for r in lena["customer"]] == ["DomeCam 4K"]

    _each_closed_rma_is_what_the_engine_stores(orc, manager)


def _each_closed_rma_is_what_the_engine_stores(orc, manager) -> None:
    now = utcnow()
    with orc.uow() as uow:
        s = uow.session
        assert verify_chain(s) == []  # every copied trail is a valid hash chain
        closed = s.scalars(select(Rma).where(Rma.status == "closed").order_by(Rma.id)).all()
        assert len(closed) == sum(demo_history.PER_CENTRE.values())
        assert len({r.customer_email for r in closed}) > 150 and len({r.customer_phone for r in closed}) > 150
        assert len({r.tracking_token for r in closed}) == len(closed)
        tasks_of = defaultdict(list)
        for t in s.scalars(select(HumanTask).where(HumanTask.rma_id.in_([r.id for r in closed]))):
            tasks_of[t.rma_id].append(t)
        visits_of = defaultdict(list)
        for v in s.scalars(select(StageVisit)):
            visits_of[v.rma_id].append((v.stage, round(v.seconds, 3), v.month))
        parcels = {t.data["tracking_number"] for ts in tasks_of.values() for t in ts if t.name == "ship_return"}
        assert len(parcels) == len(closed)  # each its own parcel
        for rma in closed:
            assert rma.number == f"RMA-{rma.centre_code}-{rma.id:06d}"
            assert now - timedelta(days=200) < rma.created_at < rma.closed_at < now
            assert rma.customer_language == ("de" if rma.centre_code == "DE" else "en")
            assert rma.customer_phone.startswith("+49" if rma.centre_code == "DE" else "+65")
            tasks = sorted(tasks_of[rma.id], key=lambda t: t.created_at)
            assert tasks and all(t.status == "completed" for t in tasks)
            assert rma.created_at < tasks[0].created_at
            for before, after in zip(tasks, tasks[1:], strict=False):
                assert before.created_at < before.completed_at <= after.created_at
                if before.due_at is not None:  # no SLA timer fired: each task finished within its SLA
                    assert before.completed_at < before.due_at
            assert tasks[-1].completed_at <= rma.closed_at
            expected = stage_visits.visits(
                rma.id, [(t.centre_code, t.stage, t.created_at, t.completed_at) for t in tasks if t.role != "manager"]
            )
            assert sorted(visits_of[rma.id]) == sorted(
                (v["stage"], round(v["seconds"], 3), v["month"]) for v in expected
            )
            assert s.get(Instance, rma.id).completed
        # No trace of the templates the copies were made from, in any text the engine stored.
        texts = [m.body + m.recipient for m in s.scalars(select(OutboxMessage))]
        texts += [str(e.data) + e.detail for e in s.scalars(select(AuditEvent))]
        texts += [i.state.decode() for i in s.scalars(select(Instance))]
        for token in ("Tmplcustomer", "tmplcustomer", "TMPLSERIAL", "TMPLPARCEL", "Template fault", "+00 5550"):
            assert not any(token in text for text in texts), token
        sample = closed[len(closed) // 2]
        messages = s.scalars(select(OutboxMessage).where(OutboxMessage.rma_id == sample.id)).all()
        assert messages and all(sample.number in m.subject for m in messages)
        assert any(sample.tracking_token in m.body for m in messages)
        sample_id = sample.id
    # The service record of a copied RMA reads as any other: each step with what was entered, by whom, when.
    stages = [v["stage"] for v in service_record.service_record(orc, manager, sample_id)["visits"]]
    assert stages[0] == "intake" and stages[-1] == "return" and "diagnosis" in stages
