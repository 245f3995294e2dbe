"""Loan units: a centre's pool, offered when the estimate runs long, and an RMA cannot close while one is out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.errors import Conflict, NotAllowed
from engine.services import customers, loans, portal, rmas
from engine.services.milestones import LoanOutstanding
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload

SHIP = {"carrier": "DHL", "tracking_number": "JD1"}


def at_return(orc, serial="SN-L1") -> dict:
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=30, serial=serial))
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    complete_open_task(
        orc, "sg.tech", rma["id"], "diagnose", {"diagnosis": "x", "fault_category": "sensor", "parts_cost": 10}
    )
    portal.record_customer_decision(orc, rma["tracking_token"], False)
    return rma


def test_an_unreturned_loan_blocks_closing_until_it_is_back(orc):
    reception = actor(orc, "sg.reception")
    unit = loans.add_unit(orc, reception, "SG", "LOAN-1", "Vista X100 Camera")
    rma = at_return(orc)
    loan = loans.issue(orc, reception, rma["id"], unit["id"])
    assert loan["unit"]["code"] == "LOAN-1" and loan["returned_at"] is None
    with pytest.raises(LoanOutstanding) as refused:
        complete_open_task(orc, "sg.reception", rma["id"], "ship_return", SHIP)
    assert refused.value.status == 409 and "loan unit" in refused.value.message
    view = rmas.get_rma(orc, reception, rma["id"])
    assert view["status"] == "returning" and [t["name"] for t in view["open_tasks"]] == ["ship_return"]
    assert [t["status"] for t in view["open_tasks"]] == ["open"]  # the refused completion left nothing behind
    loans.return_unit(orc, reception, rma["id"])
    complete_open_task(orc, "sg.reception", rma["id"], "ship_return", SHIP)
    assert rmas.get_rma(orc, reception, rma["id"])["status"] == "closed"
    kinds = [e["kind"] for e in rmas.get_rma(orc, reception, rma["id"])["history"]]
    assert "loan_issued" in kinds and "loan_returned" in kinds


def test_a_unit_is_lent_to_one_rma_at_a_time_and_one_per_rma(orc):
    reception = actor(orc, "sg.reception")
    first, second = (loans.add_unit(orc, reception, "SG", code, "Loaner") for code in ("L-A", "L-B"))
    a, b = at_return(orc, "SN-A"), at_return(orc, "SN-B")
    loans.issue(orc, reception, a["id"], first["id"])
    with pytest.raises(Conflict, match="already lent out"):
        loans.issue(orc, reception, b["id"], first["id"])
    with pytest.raises(Conflict, match="already has a loan unit out"):
        loans.issue(orc, reception, a["id"], second["id"])
    pool = {u["code"]: u["lent_to_rma_id"] for u in loans.pool(orc, reception, "SG")}
    assert pool == {"L-A": a["id"], "L-B": None}


def test_only_reception_or_a_manager_of_the_centre_lends(orc):
    unit = loans.add_unit(orc, actor(orc, "sg.reception"), "SG", "L-X", "Loaner")
    rma = at_return(orc)
    with pytest.raises(NotAllowed):
        loans.issue(orc, actor(orc, "sg.tech"), rma["id"], unit["id"])
    with pytest.raises(NotAllowed):
        loans.add_unit(orc, actor(orc, "de.reception"), "SG", "L-Y", "Loaner")


def test_reception_is_offered_a_loan_when_the_estimate_runs_longer_than_the_threshold(orc, monkeypatch):
    reception = actor(orc, "sg.reception")
    loans.add_unit(orc, reception, "SG", "L-1", "Loaner")
    rma = rmas.open_rma(orc, reception, rma_payload(months_old=6))
    side = customers.customer_side(orc, reception, rma["id"])
    # no history yet: the standard times put the later date about two weeks out
    assert side["eta"]["source"] == "defaults" and side["loans"]["days_left"] > 7
    assert side["loans"]["offer"] is True and [u["code"] for u in side["loans"]["available"]] == ["L-1"]
    monkeypatch.setattr(orc, "settings", replace(orc.settings, loan_offer_days=60))
    assert customers.customer_side(orc, reception, rma["id"])["loans"]["offer"] is False
