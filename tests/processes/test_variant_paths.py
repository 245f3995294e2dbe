"""Every path through the centres' variant stages (processes/variants/), with a dump/load round trip at every wait.

Centre DE replaces the base repair stage: the technician first decides where the unit is repaired;
units flagged factory_only go to the factory, and the technician records the factory's report before
finishing the repair locally. Everything around the stage (warranty, approval, QA, return) is the base's.

Centre SG replaces the base approval stage by one that adds to it: when the customer approves a repair
that will take long (the technician's estimate: labour_hours of 4 or more), reception offers a loan unit
before the repair starts. Every base approval path (offers, goodwill, reminder, expiry) runs unchanged.
"""

from __future__ import annotations

import pytest

from engine.errors import InvalidFormData
from engine.process.forms import validate_submission
from tests.conftest import PROCESSES_DIR
from tests.processes import test_approval_timers as timers
from tests.processes import test_repair_or_replace_paths as offers
from tests.processes import test_rma_paths as base_paths
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

DE = {"centre": "DE", "currency": "EUR", "labour_rate": 75}
IN_WARRANTY = {"purchase_date": "2023-01-10", "received_on": "2024-06-03"}  # 16 months
OUT_OF_WARRANTY = {"purchase_date": "2020-01-10", "received_on": "2024-06-03"}  # 52 months

DECIDE_REPAIR_SITE = Step("decide_repair_site", "Technician", "technician", "repairing", "repair")
SHIP_TO_FACTORY = Step("ship_to_factory", "Technician", "technician", "repairing", "repair")
RECORD_FACTORY_REPORT = Step("record_factory_report", "Technician", "technician", "repairing", "repair")

TO_FACTORY = {"factory_only": True, "factory_reason": "Sealed optics: only the factory may open them"}
REPAIR_HERE = {"factory_only": False}
FACTORY_SHIPMENT = {"factory_carrier": "DHL", "factory_tracking_number": "JD-FAC-0001"}
FACTORY_REPORT = {"factory_report": "Optical block replaced and calibrated", "factory_reference": "FR-2024-118"}
QA_PASSED = {"qa_passed": True, "qa_notes": "Powers on, all tests green"}


def walk_factory_repair(parsed_de) -> Walk:
    walk = Walk(parsed_de, start_data(**DE, **IN_WARRANTY))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("sensor", parts_cost=80, labour_hours=1))
    walk.do(DECIDE_REPAIR_SITE, TO_FACTORY)
    walk.do(SHIP_TO_FACTORY, FACTORY_SHIPMENT)
    walk.do(RECORD_FACTORY_REPORT, FACTORY_REPORT)
    walk.do(REPAIR, {"repair_notes": "Reassembled after the factory repair", "parts_used": "none"})
    walk.do(QA_CHECK, QA_PASSED)
    walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


def walk_in_house_repair(parsed_de) -> Walk:
    walk = Walk(parsed_de, start_data(**DE, **IN_WARRANTY))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("electronic", parts_cost=80, labour_hours=1))
    walk.do(DECIDE_REPAIR_SITE, REPAIR_HERE)
    walk.do(REPAIR, REPAIR_FORM)
    walk.do(QA_CHECK, QA_PASSED)
    walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


def walk_approved_factory_repair_failing_qa_then_repaired_here(parsed_de) -> Walk:
    walk = Walk(parsed_de, start_data(**DE, **OUT_OF_WARRANTY))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("firmware", parts_cost=100, labour_hours=2))
    walk.do(CUSTOMER_APPROVAL, {"approve": True})
    walk.do(DECIDE_REPAIR_SITE, TO_FACTORY)
    walk.do(SHIP_TO_FACTORY, FACTORY_SHIPMENT)
    walk.do(RECORD_FACTORY_REPORT, FACTORY_REPORT)
    walk.do(REPAIR, {"repair_notes": "Reassembled"})
    walk.do(QA_CHECK, {"qa_passed": False, "qa_notes": "Focus motor grinds"})
    walk.do(DECIDE_REPAIR_SITE, {"factory_only": False, "factory_reason": ""})
    walk.do(REPAIR, {"repair_notes": "Replaced the focus motor", "parts_used": "FM-7"})
    walk.do(QA_CHECK, QA_PASSED)
    walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


def test_de_bundle_replaces_the_base_repair_stage_with_the_variant_and_keeps_the_rest(parsed, parsed_de):
    variant = (PROCESSES_DIR / "variants" / "DE" / "stages" / "rma_repair.bpmn").read_text(encoding="utf-8")
    repair_file = parsed_de.process_files["rma_repair"]
    assert parsed_de.files[repair_file] == variant
    assert parsed.files[parsed.process_files["rma_repair"]] != variant
    assert sum(text == variant for text in parsed_de.files.values()) == 1, "the base repair stage is gone"
    assert parsed_de.process_files.keys() == parsed.process_files.keys()
    for pid, name in parsed.process_files.items():
        if pid != "rma_repair":
            assert parsed_de.files[parsed_de.process_files[pid]] == parsed.files[name], pid
    assert {"decide_repair_site.json", "ship_to_factory.json", "record_factory_report.json"} <= set(parsed_de.forms)
    assert not {"decide_repair_site.json", "ship_to_factory.json", "record_factory_report.json"} & set(parsed.forms)
    assert parsed_de.hash != parsed.hash


def test_factory_only_unit_is_sent_to_the_factory_and_its_report_recorded_before_qa(parsed_de):
    walk = walk_factory_repair(parsed_de)
    data = walk.finish()
    assert walk.names == [
        "record_condition",
        "diagnose",
        "decide_repair_site",
        "ship_to_factory",
        "record_factory_report",
        "repair",
        "qa_check",
        "ship_return",
    ]
    assert walk.statuses == [
        "received",
        "diagnosing",
        "repairing",
        "repairing",
        "repairing",
        "repairing",
        "quality_check",
        "returning",
        "closed",
    ]
    assert data["outcome"] == "repaired"
    assert data["in_warranty"] is True
    assert "quote_total" not in data
    assert data["factory_only"] is True
    assert data["factory_reason"] == TO_FACTORY["factory_reason"]
    assert (data["factory_carrier"], data["factory_tracking_number"]) == ("DHL", "JD-FAC-0001")
    assert (data["factory_report"], data["factory_reference"]) == (FACTORY_REPORT["factory_report"], "FR-2024-118")
    assert data["repair_notes"] == "Reassembled after the factory repair"
    assert data["tracking_number"] == "JD0001"


def test_unit_repaired_in_house_skips_the_factory_steps(parsed_de):
    walk = walk_in_house_repair(parsed_de)
    data = walk.finish()
    assert walk.names == ["record_condition", "diagnose", "decide_repair_site", "repair", "qa_check", "ship_return"]
    assert walk.statuses == ["received", "diagnosing", "repairing", "repairing", "quality_check", "returning", "closed"]
    assert data["outcome"] == "repaired"
    assert data["factory_only"] is False
    assert not {"factory_carrier", "factory_tracking_number", "factory_report", "factory_reference"} & set(data)
    assert data["repair_notes"] == REPAIR_FORM["repair_notes"]


def test_failed_qa_after_a_factory_repair_asks_for_the_repair_site_again(parsed_de):
    walk = walk_approved_factory_repair_failing_qa_then_repaired_here(parsed_de)
    data = walk.finish()
    assert walk.names == [
        "record_condition",
        "diagnose",
        "customer_approval",
        "decide_repair_site",
        "ship_to_factory",
        "record_factory_report",
        "repair",
        "qa_check",
        "decide_repair_site",
        "repair",
        "qa_check",
        "ship_return",
    ]
    decisions = [t.id for t in walk.done if t.name == "decide_repair_site"]
    assert len(set(decisions)) == 2
    assert data["outcome"] == "repaired"
    assert data["approve"] is True
    assert data["quote_total"] == pytest.approx(250)  # 100 + 2 h at the DE rate of 75
    assert data["factory_only"] is False  # the second decision: repaired here
    # the browser sends '' for the untouched reason, which is dropped: the first round's reason stays
    assert data["factory_reason"] == TO_FACTORY["factory_reason"]
    assert data["factory_report"] == FACTORY_REPORT["factory_report"]  # the first round's report is kept
    assert data["repair_notes"] == "Replaced the focus motor"


def test_declined_quote_in_de_never_reaches_the_repair_site_decision(parsed_de):
    walk = Walk(parsed_de, start_data(**DE, **OUT_OF_WARRANTY))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("sensor", parts_cost=300, labour_hours=3))
    walk.do(CUSTOMER_APPROVAL, {"approve": False})
    walk.do(SHIP_RETURN, SHIP_FORM)
    data = walk.finish()
    assert walk.names == ["record_condition", "diagnose", "customer_approval", "ship_return"]
    assert data["outcome"] == "returned_unrepaired"
    assert "factory_only" not in data


def test_same_rma_on_the_base_bundle_goes_straight_to_repair(parsed):
    walk = Walk(parsed, start_data(**DE, **IN_WARRANTY))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("sensor", parts_cost=80, labour_hours=1))
    [task] = walk.wait()
    assert task.name == "repair"


@pytest.mark.parametrize(
    "form",
    [{}, {"factory_only": "yes"}, {"factory_reason": "Sealed optics"}],
    ids=["empty", "not_a_boolean", "reason_only"],
)
def test_repair_site_decision_needs_a_yes_or_no_on_factory_only(parsed_de, form):
    walk = Walk(parsed_de, start_data(**DE, **IN_WARRANTY))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("sensor"))
    [task] = walk.wait()
    assert task.name == "decide_repair_site"
    with pytest.raises(InvalidFormData) as err:
        validate_submission(parsed_de.form(task.form_file), form)
    assert "factory_only" in err.value.errors


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"factory_carrier": "DHL"}, "factory_tracking_number"),
        ({"factory_carrier": "", "factory_tracking_number": "JD-FAC-0001"}, "factory_carrier"),
    ],
    ids=["no_tracking_number", "empty_carrier"],
)
def test_unit_leaves_for_the_factory_only_with_carrier_and_tracking_number(parsed_de, form, field):
    schema = parsed_de.form("ship_to_factory.json")
    with pytest.raises(InvalidFormData) as err:
        validate_submission(schema, form)
    assert field in err.value.errors


def test_factory_report_cannot_be_recorded_empty(parsed_de):
    schema = parsed_de.form("record_factory_report.json")
    with pytest.raises(InvalidFormData) as err:
        validate_submission(schema, {"factory_report": "", "factory_reference": "FR-1"})
    assert "factory_report" in err.value.errors


# --- centre SG: the approval stage offers a loan unit for a long repair ------------------------------------

SG = {"centre": "SG", "currency": "SGD", "labour_rate": 60}
OFFER_LOAN_UNIT = Step("offer_loan_unit", "Reception", "reception", "repairing", "approval")
LOAN_LENT = {"loan_lent": True, "loan_unit_code": "SG-LOAN-03", "loan_note": "With charger and strap"}
NO_LOAN = {"loan_lent": False, "loan_note": "Customer has a spare camera"}
LONG_REPAIR_HOURS = 4  # the gateway loan_needed's rule (documented in the BPMN)


def _sg_quoted(parsed_sg, labour_hours: float, parts_cost: float = 150, **facts) -> Walk:
    walk = Walk(parsed_sg, start_data(**SG, **OUT_OF_WARRANTY, **facts))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("mechanical", parts_cost=parts_cost, labour_hours=labour_hours))
    return walk


def walk_long_repair_with_loan_unit(parsed_sg) -> Walk:
    walk = _sg_quoted(parsed_sg, labour_hours=6)
    walk.do(CUSTOMER_APPROVAL, {"approve": True})
    walk.do(OFFER_LOAN_UNIT, LOAN_LENT)
    walk.do(REPAIR, REPAIR_FORM)
    walk.do(QA_CHECK, QA_PASSED)
    walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


def walk_long_repair_loan_declined(parsed_sg) -> Walk:
    walk = _sg_quoted(parsed_sg, labour_hours=LONG_REPAIR_HOURS)
    walk.do(CUSTOMER_APPROVAL, {"approve": True, "choice": "repair"})
    walk.do(OFFER_LOAN_UNIT, NO_LOAN)
    walk.do(REPAIR, REPAIR_FORM)
    walk.do(QA_CHECK, QA_PASSED)
    walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


def walk_short_repair_without_loan(parsed_sg) -> Walk:
    walk = _sg_quoted(parsed_sg, labour_hours=2)
    walk.do(CUSTOMER_APPROVAL, {"approve": True})
    walk.do(REPAIR, REPAIR_FORM)
    walk.do(QA_CHECK, QA_PASSED)
    walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


def walk_long_repair_declined(parsed_sg) -> Walk:
    walk = _sg_quoted(parsed_sg, labour_hours=8)
    walk.do(CUSTOMER_APPROVAL, {"approve": False, "choice": "decline"})
    walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


# The base approval paths (offers, goodwill, reminder, expiry) walked on SG's bundle: none is a long repair,
# so each runs exactly as on the base; together with the walks above they take every flow of SG's diagram.
SG_BASE_APPROVAL_WALKS = [
    base_paths.walk_approved_repair_failing_qa_once,
    base_paths.walk_declined_quote,
    timers.walk_reminded_then_approved,
    timers.walk_expired_quote,
    offers.walk_replaced,
    offers.walk_traded_in,
    offers.walk_goodwill_approved_then_repaired,
    offers.walk_goodwill_rejected_then_declined,
]
SG_WALKS = [
    walk_long_repair_with_loan_unit,
    walk_long_repair_loan_declined,
    walk_short_repair_without_loan,
    walk_long_repair_declined,
    *SG_BASE_APPROVAL_WALKS,
]


def test_sg_bundle_replaces_the_base_approval_stage_and_keeps_the_rest(parsed, parsed_sg):
    variant = (PROCESSES_DIR / "variants" / "SG" / "stages" / "rma_approval.bpmn").read_text(encoding="utf-8")
    approval_file = parsed_sg.process_files["rma_approval"]
    assert parsed_sg.files[approval_file] == variant
    assert sum(text == variant for text in parsed_sg.files.values()) == 1, "the base approval stage is gone"
    assert parsed_sg.process_files.keys() == parsed.process_files.keys()
    for pid, name in parsed.process_files.items():
        if pid != "rma_approval":
            assert parsed_sg.files[parsed_sg.process_files[pid]] == parsed.files[name], pid
    assert "offer_loan_unit.json" in parsed_sg.forms and "offer_loan_unit.json" not in parsed.forms
    assert parsed_sg.hash not in (parsed.hash,)


def test_sg_approval_stage_keeps_every_base_element_and_only_adds_the_loan_offer(parsed, parsed_sg):
    from lxml import etree

    from engine.process.definitions import BPMN_NS

    def elements(text):
        root = etree.fromstring(text.encode("utf-8"))
        [process] = root.iter(f"{{{BPMN_NS}}}process")
        return {el.get("id"): el for el in process.iter() if isinstance(el.tag, str) and el.get("id")}

    base = elements(parsed.files[parsed.process_files["rma_approval"]])
    sg = elements(parsed_sg.files[parsed_sg.process_files["rma_approval"]])
    assert set(sg) - set(base) == {
        "loan_needed",
        "offer_loan_unit",
        "flow_to_offer_loan_unit",
        "flow_no_loan_needed",
        "flow_loan_offered",
        "lane_reception",
    }
    assert set(base) <= set(sg)
    changed = {i for i in base if etree.tostring(base[i]) != etree.tostring(sg[i])}
    # the customer's decision now flows to the loan gateway, and the end is reached from two flows; the
    # customer's lane also holds the gateway; the containers (process, lane set) hold the new elements
    assert changed == {"flow_to_end", "end", "lane_customer", "rma_approval_lanes", "rma_approval"}
    assert etree.tostring(base["customer_approval"]) == etree.tostring(sg["customer_approval"])
    assert sg["flow_to_end"].get("sourceRef") == "customer_approval"


def test_approved_long_repair_offers_a_loan_unit_before_the_repair(parsed_sg):
    walk = walk_long_repair_with_loan_unit(parsed_sg)
    data = walk.finish()
    assert walk.names == [
        "record_condition",
        "diagnose",
        "customer_approval",
        "offer_loan_unit",
        "repair",
        "qa_check",
        "ship_return",
    ]
    assert walk.statuses == [
        "received",
        "diagnosing",
        "awaiting_approval",
        "repairing",
        "repairing",
        "quality_check",
        "returning",
        "closed",
    ]
    assert data["quote_total"] == pytest.approx(510)  # 150 + 6 h at the SG rate of 60
    assert (data["loan_lent"], data["loan_unit_code"], data["loan_note"]) == (
        True,
        "SG-LOAN-03",
        "With charger and strap",
    )
    assert data["outcome"] == "repaired"


def test_customer_may_decline_the_loan_unit_and_the_repair_goes_ahead(parsed_sg):
    walk = walk_long_repair_loan_declined(parsed_sg)
    data = walk.finish()
    assert walk.names == [
        "record_condition",
        "diagnose",
        "customer_approval",
        "offer_loan_unit",
        "repair",
        "qa_check",
        "ship_return",
    ]
    assert data["loan_lent"] is False and "loan_unit_code" not in data
    assert data["outcome"] == "repaired"


def test_approved_short_repair_goes_straight_to_the_repair(parsed_sg):
    walk = walk_short_repair_without_loan(parsed_sg)
    data = walk.finish()
    assert walk.names == ["record_condition", "diagnose", "customer_approval", "repair", "qa_check", "ship_return"]
    assert data["outcome"] == "repaired"
    assert "loan_lent" not in data


def test_declined_long_repair_offers_no_loan_unit(parsed_sg):
    walk = walk_long_repair_declined(parsed_sg)
    data = walk.finish()
    assert walk.names == ["record_condition", "diagnose", "customer_approval", "ship_return"]
    assert data["outcome"] == "returned_unrepaired"
    assert "loan_lent" not in data


@pytest.mark.parametrize(("hours", "offered"), [(3.5, False), (3.99, False), (4, True), (4.5, True), (12, True)])
def test_a_repair_is_long_from_four_labour_hours(parsed_sg, hours, offered):
    walk = _sg_quoted(parsed_sg, labour_hours=hours)
    walk.do(CUSTOMER_APPROVAL, {"approve": True})
    [task] = walk.wait()
    assert task.name == ("offer_loan_unit" if offered else "repair")


def test_long_repair_on_the_base_bundle_offers_no_loan_unit(parsed):
    walk = _sg_quoted(parsed, labour_hours=6)
    walk.do(CUSTOMER_APPROVAL, {"approve": True})
    [task] = walk.wait()
    assert task.name == "repair"


@pytest.mark.parametrize("choice", ["replacement", "trade_in"])
def test_long_repair_replaced_or_traded_in_offers_no_loan_unit(parsed_sg, choice):
    # 300 + 5 h x 60 = 600 against a new unit of 700 (86%): the table offers a replacement and a trade-in
    walk = _sg_quoted(
        parsed_sg,
        labour_hours=5,
        parts_cost=300,
        replacement_value=700,
        has_successor=True,
        successor_model="Vista X200 Camera",
        successor_value=900,
    )
    walk.wait()
    assert walk.data["offer_replacement"] and walk.data["offer_trade_in"], "the table no longer offers both"
    walk.do(CUSTOMER_APPROVAL, {"approve": True, "choice": choice})
    [task] = walk.wait()
    assert task.name == "ship_replacement"


@pytest.mark.parametrize("walk_path", SG_BASE_APPROVAL_WALKS, ids=lambda f: f.__name__)
def test_every_base_approval_path_runs_unchanged_on_the_sg_bundle(parsed, parsed_sg, walk_path):
    on_base, on_sg = walk_path(parsed), walk_path(parsed_sg)
    assert on_sg.names == on_base.names
    assert "offer_loan_unit" not in on_sg.names
    assert [t.name for t in on_sg.wait()] == [t.name for t in on_base.wait()]
    assert on_sg.data == on_base.data and on_sg.status == on_base.status


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({}, "loan_lent"),
        ({"loan_lent": "yes"}, "loan_lent"),
        ({"loan_lent": True}, "loan_unit_code"),
        ({"loan_lent": True, "loan_unit_code": ""}, "loan_unit_code"),
    ],
    ids=["empty", "not_a_boolean", "lent_without_unit", "lent_with_empty_unit"],
)
def test_loan_offer_records_whether_a_unit_was_lent_and_which(parsed_sg, form, field):
    schema = parsed_sg.form("offer_loan_unit.json")
    with pytest.raises(InvalidFormData) as err:
        validate_submission(schema, form)
    assert field in err.value.errors
    assert validate_submission(schema, {"loan_lent": False}) == {"loan_lent": False}
