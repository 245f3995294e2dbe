"""Centre SG's approval stage (processes/variants/SG) offers a loan unit for a long repair; lending one books it out."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.errors import InvalidFormData
from engine.services import customers, loans, portal, rmas
from engine.store.model import Loan
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload


def approved(orc, labour_hours: float, serial: str = "SN-SGL") -> dict:
    """An SG RMA out of warranty whose quote the customer approved."""
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=40, serial=serial))
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    complete_open_task(
        orc,
        "sg.tech",
        rma["id"],
        "diagnose",
        {"diagnosis": "Shutter jammed", "fault_category": "mechanical", "parts_cost": 80, "labour_hours": labour_hours},
    )
    portal.record_customer_decision(orc, rma["tracking_token"], True)
    return rma


def open_tasks(orc, rma_id: int) -> list[str]:
    return [t["name"] for t in rmas.get_rma(orc, actor(orc, "manager"), rma_id)["open_tasks"]]


def test_lending_in_the_loan_offer_books_the_unit_out_and_the_repair_follows(orc):
    reception = actor(orc, "sg.reception")
    loans.add_unit(orc, reception, "SG", "SG-LOAN-03", "Vista X100 Camera")
    rma = approved(orc, labour_hours=6)
    view = rmas.get_rma(orc, reception, rma["id"])
    assert open_tasks(orc, rma["id"]) == ["offer_loan_unit"] and view["status"] == "repairing"
    with pytest.raises(InvalidFormData) as refused:
        complete_open_task(
            orc, "sg.reception", rma["id"], "offer_loan_unit", {"loan_lent": True, "loan_unit_code": "NOPE"}
        )
    assert "loan_unit_code" in refused.value.errors
    assert open_tasks(orc, rma["id"]) == ["offer_loan_unit"]  # the refused completion left nothing behind
    complete_open_task(
        orc,
        "sg.reception",
        rma["id"],
        "offer_loan_unit",
        {"loan_lent": True, "loan_unit_code": "SG-LOAN-03", "loan_note": "With strap"},
    )
    assert open_tasks(orc, rma["id"]) == ["repair"]
    panel = customers.customer_side(orc, reception, rma["id"])["loans"]
    assert panel["out"]["unit"]["code"] == "SG-LOAN-03" and panel["out"]["note"] == "With strap"
    assert panel["out"]["issued_by"] == "sg.reception"
    history = rmas.get_rma(orc, reception, rma["id"])["history"]
    assert [e["kind"] for e in history].count("loan_issued") == 1


def test_a_unit_already_out_cannot_be_lent_again_through_the_offer(orc):
    reception = actor(orc, "sg.reception")
    unit = loans.add_unit(orc, reception, "SG", "SG-LOAN-07", "Loaner")
    first, second = approved(orc, 6, "SN-1"), approved(orc, 6, "SN-2")
    loans.issue(orc, reception, first["id"], unit["id"])
    with pytest.raises(InvalidFormData, match="already lent out"):
        complete_open_task(
            orc, "sg.reception", second["id"], "offer_loan_unit", {"loan_lent": True, "loan_unit_code": "SG-LOAN-07"}
        )
    # lent from the RMA page first, then recorded in the task: the same loan, not a second one
    complete_open_task(
        orc, "sg.reception", first["id"], "offer_loan_unit", {"loan_lent": True, "loan_unit_code": "SG-LOAN-07"}
    )
    with orc.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Loan)) == 1


def test_no_loan_lent_books_nothing_and_a_short_repair_is_not_offered_one(orc):
    long_repair, short_repair = approved(orc, 4, "SN-L"), approved(orc, 2, "SN-S")
    complete_open_task(
        orc, "sg.reception", long_repair["id"], "offer_loan_unit", {"loan_lent": False, "loan_note": "Has a spare"}
    )
    assert open_tasks(orc, long_repair["id"]) == ["repair"]
    assert open_tasks(orc, short_repair["id"]) == ["repair"]
    with orc.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Loan)) == 0
