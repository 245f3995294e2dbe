"""Repair or replace: the offers the decision table gives, the customer's choice, and goodwill before the quote
changes."""

from __future__ import annotations

import pytest

from tests.processes.walk import (
    CUSTOMER_APPROVAL,
    DIAGNOSE,
    INTAKE_FORM,
    QA_CHECK,
    RECORD_CONDITION,
    REPAIR,
    REPAIR_FORM,
    SHIP_FORM,
    SHIP_RETURN,
    Step,
    Walk,
    diagnosis,
    start_data,
)

OUT_OF_WARRANTY = {"purchase_date": "2020-01-10", "received_on": "2024-06-03"}
SHIP_REPLACEMENT = Step("ship_replacement", "Reception", "reception", "replacing", "replacement")
APPROVE_GOODWILL = Step("approve_goodwill", "Manager", "manager", "reviewing_quote", "approval")
REPLACEMENT_FORM = {"replacement_serial": "VX200-0001", "carrier": "DHL", "tracking_number": "JD0002"}


def quoted(parsed, parts_cost: float, labour_hours: float = 2, **facts) -> Walk:
    """Out of warranty, diagnosed: quote = parts + hours x 60 (SG)."""
    walk = Walk(parsed, start_data(**OUT_OF_WARRANTY, **facts))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("mechanical", parts_cost=parts_cost, labour_hours=labour_hours))
    walk.wait()
    return walk


def offers(walk: Walk) -> dict:
    d = walk.data
    return {
        k: d[k]
        for k in (
            "quote_share",
            "offer_repair",
            "offer_replacement",
            "replacement_price",
            "offer_trade_in",
            "trade_in_credit",
            "trade_in_price",
            "choice",
        )
    }


def walk_replaced(parsed) -> Walk:
    walk = quoted(parsed, 300, replacement_value=400)  # 420 / 400 = 105% of a new unit
    walk.do(CUSTOMER_APPROVAL, {"approve": True, "choice": "replacement"})
    walk.do(SHIP_REPLACEMENT, REPLACEMENT_FORM)
    return walk


def walk_traded_in(parsed) -> Walk:
    walk = quoted(
        parsed, 200, replacement_value=500, has_successor=True, successor_model="Vista X200 Camera", successor_value=700
    )  # 320 / 500 = 64%
    walk.do(CUSTOMER_APPROVAL, {"approve": True, "choice": "trade_in"})
    walk.do(SHIP_REPLACEMENT, REPLACEMENT_FORM)
    return walk


def walk_goodwill_approved_then_repaired(parsed) -> Walk:
    walk = quoted(parsed, 100)  # quote 220
    walk.restore()
    walk.rt.deliver_message(walk.wf, "goodwill_proposed", {"kind": "discount", "amount": 50, "reason": "Loyal"})
    walk.do(APPROVE_GOODWILL, {"goodwill_approved": True, "goodwill_notes": "OK"})
    assert walk.data["quote_total"] == 170
    walk.do(CUSTOMER_APPROVAL, {"approve": True})
    walk.do(REPAIR, REPAIR_FORM)
    walk.do(QA_CHECK, {"qa_passed": True})
    walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


def walk_goodwill_rejected_then_declined(parsed) -> Walk:
    walk = quoted(parsed, 100)
    walk.restore()
    walk.rt.deliver_message(walk.wf, "goodwill_proposed", {"kind": "discount", "amount": 50, "reason": "Asked"})
    walk.do(APPROVE_GOODWILL, {"goodwill_approved": False})
    assert walk.data["quote_total"] == 220
    walk.do(CUSTOMER_APPROVAL, {"approve": False, "choice": "decline"})
    walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


@pytest.mark.parametrize(
    ("parts", "facts", "expected"),
    [
        (100, {}, dict(quote_share=-1, offer_replacement=False, offer_trade_in=False)),  # model unknown
        (100, {"replacement_value": 1000}, dict(quote_share=0.22, offer_replacement=False)),  # cheap repair
        (
            200,
            {"replacement_value": 500},
            dict(
                quote_share=0.64,
                offer_replacement=True,
                replacement_price=350.0,
                offer_trade_in=False,
                trade_in_price=None,
            ),
        ),
        (
            200,
            {"replacement_value": 500, "has_successor": True, "successor_value": 700},
            dict(
                offer_replacement=True,
                replacement_price=350.0,
                offer_trade_in=True,
                trade_in_credit=150.0,
                trade_in_price=550.0,
            ),
        ),
        (
            300,
            {"replacement_value": 400, "has_successor": True, "successor_value": 600},
            dict(quote_share=1.05, replacement_price=240.0, trade_in_credit=160.0, trade_in_price=440.0),
        ),
    ],
    ids=["unknown_value", "under_half", "costly", "costly_with_successor", "uneconomical_with_successor"],
)
def test_the_table_decides_the_offers(parsed, parts, facts, expected):
    walk = quoted(parsed, parts, **facts)
    got = offers(walk)
    assert {k: got[k] for k in expected} == expected
    assert got["offer_repair"] is True and got["choice"] == "repair"


def test_same_situation_same_offer_for_every_customer(parsed):
    one = offers(quoted(parsed, 200, replacement_value=500, customer_name="A", customer_email="a@example.com"))
    two = offers(quoted(parsed, 200, replacement_value=500, customer_name="B", customer_email="b@example.com"))
    assert one == two


def test_customer_who_chooses_a_replacement_gets_a_new_unit_and_it_closes_as_replaced(parsed):
    walk = walk_replaced(parsed)
    data = walk.finish()
    assert walk.names == ["record_condition", "diagnose", "customer_approval", "ship_replacement"]
    assert data["outcome"] == "replaced" and data["replacement_price"] == 240.0


def test_trade_in_ships_the_newer_model_and_closes_as_traded_in(parsed):
    walk = walk_traded_in(parsed)
    data = walk.finish()
    assert data["outcome"] == "traded_in" and data["trade_in_price"] == 550.0


def test_plain_approval_still_means_repair_at_the_quoted_price(parsed):
    walk = quoted(parsed, 300, replacement_value=400)
    walk.do(CUSTOMER_APPROVAL, {"approve": True})
    [task] = walk.wait()
    assert task.name == "repair"


def test_goodwill_lowers_the_quote_only_after_a_manager_approves_and_the_customer_decides_again(parsed):
    walk = walk_goodwill_approved_then_repaired(parsed)
    data = walk.finish()
    assert walk.names == [
        "record_condition",
        "diagnose",
        "approve_goodwill",
        "customer_approval",
        "repair",
        "qa_check",
        "ship_return",
    ]
    assert (data["goodwill_total"], data["quote_total"], data["outcome"]) == (50, 170, "repaired")


def test_rejected_goodwill_leaves_the_quote_as_it_was(parsed):
    walk = walk_goodwill_rejected_then_declined(parsed)
    data = walk.finish()
    assert (data["goodwill_total"], data["quote_total"], data["outcome"]) == (0, 220, "returned_unrepaired")


def test_goodwill_can_only_be_proposed_while_the_customer_is_deciding(parsed):
    from engine.execution.runtime import MessageNotAwaited

    walk = Walk(parsed, start_data(**OUT_OF_WARRANTY))
    walk.restore()
    with pytest.raises(MessageNotAwaited):
        walk.rt.deliver_message(walk.wf, "goodwill_proposed", {"amount": 10})
