"""Every path through centre DE's repair stage (processes/variants/DE), with a dump/load round trip at every wait.

Centre DE replaces the base repair stage: the technician first decides where the unit is repaired;
units flagged factory_only go to the factory, and the technician records the factory's report before
finishing the repair locally. Everything around the stage (warranty, approval, QA, return) is the base's.
"""
from __future__ import annotations

import pytest

from engine.errors import InvalidFormData
from engine.forms import validate_submission
from tests.conftest import PROCESSES_DIR
from tests.processes.walk import (
    CUSTOMER_APPROVAL, DIAGNOSE, INTAKE_FORM, QA_CHECK, RECORD_CONDITION, REPAIR, REPAIR_FORM, SHIP_FORM,
    SHIP_RETURN, Step, Walk, diagnosis, start_data,
)

DE = {"centre": "DE", "currency": "EUR", "labour_rate": 75}
IN_WARRANTY = {"purchase_date": "2023-01-10", "received_on": "2024-06-03"}      # 16 months
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
    assert walk.names == ["record_condition", "diagnose", "decide_repair_site", "ship_to_factory",
                          "record_factory_report", "repair", "qa_check", "ship_return"]
    assert walk.statuses == ["received", "diagnosing", "repairing", "repairing", "repairing", "repairing",
                             "quality_check", "returning", "closed"]
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
    assert walk.statuses == ["received", "diagnosing", "repairing", "repairing", "quality_check", "returning",
                             "closed"]
    assert data["outcome"] == "repaired"
    assert data["factory_only"] is False
    assert not {"factory_carrier", "factory_tracking_number", "factory_report", "factory_reference"} & set(data)
    assert data["repair_notes"] == REPAIR_FORM["repair_notes"]


def test_failed_qa_after_a_factory_repair_asks_for_the_repair_site_again(parsed_de):
    walk = walk_approved_factory_repair_failing_qa_then_repaired_here(parsed_de)
    data = walk.finish()
    assert walk.names == ["record_condition", "diagnose", "customer_approval", "decide_repair_site",
                          "ship_to_factory", "record_factory_report", "repair", "qa_check",
                          "decide_repair_site", "repair", "qa_check", "ship_return"]
    decisions = [t.id for t in walk.done if t.name == "decide_repair_site"]
    assert len(set(decisions)) == 2
    assert data["outcome"] == "repaired"
    assert data["approve"] is True
    assert data["quote_total"] == pytest.approx(250)   # 100 + 2 h at the DE rate of 75
    assert data["factory_only"] is False                # the second decision: repaired here
    # the browser sends '' for the untouched reason, which is dropped: the first round's reason stays
    assert data["factory_reason"] == TO_FACTORY["factory_reason"]
    assert data["factory_report"] == FACTORY_REPORT["factory_report"]   # the first round's report is kept
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


@pytest.mark.parametrize("form", [{}, {"factory_only": "yes"}, {"factory_reason": "Sealed optics"}],
                         ids=["empty", "not_a_boolean", "reason_only"])
def test_repair_site_decision_needs_a_yes_or_no_on_factory_only(parsed_de, form):
    walk = Walk(parsed_de, start_data(**DE, **IN_WARRANTY))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("sensor"))
    [task] = walk.wait()
    assert task.name == "decide_repair_site"
    with pytest.raises(InvalidFormData) as err:
        validate_submission(parsed_de.form(task.form_file), form)
    assert "factory_only" in err.value.errors


@pytest.mark.parametrize(("form", "field"), [
    ({"factory_carrier": "DHL"}, "factory_tracking_number"),
    ({"factory_carrier": "", "factory_tracking_number": "JD-FAC-0001"}, "factory_carrier"),
], ids=["no_tracking_number", "empty_carrier"])
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
