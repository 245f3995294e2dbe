"""Every path through the shipped RMA process, with a dump/load round trip at every wait."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from engine.process.definitions import BPMN_NS, parse_bundle, read_bundle_dir
from tests.conftest import PROCESSES_DIR
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
    Walk,
    diagnosis,
    start_data,
)

IN_WARRANTY = {"purchase_date": "2023-01-10", "received_on": "2024-06-03"}  # 16 months
OUT_OF_WARRANTY = {"purchase_date": "2020-01-10", "received_on": "2024-06-03"}  # 52 months


def walk_in_warranty_repair(parsed, fault="electronic") -> Walk:
    walk = Walk(parsed, start_data(**IN_WARRANTY))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis(fault, parts_cost=80, labour_hours=1))
    walk.do(REPAIR, REPAIR_FORM)
    walk.do(QA_CHECK, {"qa_passed": True, "qa_notes": "Powers on, all tests green"})
    walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


def walk_approved_repair_failing_qa_once(parsed, **start) -> Walk:
    walk = Walk(parsed, start_data(**{**OUT_OF_WARRANTY, **start}))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("mechanical", parts_cost=100, labour_hours=2))
    walk.do(CUSTOMER_APPROVAL, {"approve": True})
    walk.do(REPAIR, REPAIR_FORM)
    walk.do(QA_CHECK, {"qa_passed": False, "qa_notes": "Shutter sticks"})
    walk.do(REPAIR, {"repair_notes": "Replaced the shutter"})
    walk.do(QA_CHECK, {"qa_passed": True})
    walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


def walk_declined_quote(parsed) -> Walk:
    walk = Walk(parsed, start_data(**OUT_OF_WARRANTY))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("sensor", parts_cost=300, labour_hours=3))
    walk.do(CUSTOMER_APPROVAL, {"approve": False})
    walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


def walk_no_fault_found(parsed, dates=IN_WARRANTY) -> Walk:
    walk = Walk(parsed, start_data(**dates))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("no_fault_found"))
    walk.do(SHIP_RETURN, SHIP_FORM)
    return walk


def walk_to_first_decision(parsed, fault: str, purchase_date: str, received_on: str, **form) -> Walk:
    """Intake and diagnosis only; leaves the instance at whatever the warranty check routes to."""
    walk = Walk(parsed, start_data(purchase_date=purchase_date, received_on=received_on))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis(fault, **form))
    return walk


def test_new_rma_waits_for_reception_to_record_condition(parsed):
    walk = Walk(parsed, start_data())
    [task] = walk.wait()
    assert (task.name, task.title, task.role) == ("record_condition", "Record condition", "reception")
    assert task.form_file == "record_condition.json"
    assert walk.status == "received"
    assert walk.data["rma_number"] == "RMA-SG-0001"


def test_in_warranty_fault_is_repaired_and_returned_without_a_quote(parsed):
    walk = walk_in_warranty_repair(parsed)
    data = walk.finish()
    assert walk.names == ["record_condition", "diagnose", "repair", "qa_check", "ship_return"]
    assert walk.statuses == ["received", "diagnosing", "repairing", "quality_check", "returning", "closed"]
    assert data["outcome"] == "repaired"
    assert data["in_warranty"] is True
    assert data["age_months"] == 16
    assert "quote_total" not in data
    assert data["tracking_number"] == "JD0001"


def test_approved_quote_is_repaired_and_a_failed_qa_loops_back_to_a_new_repair_task(parsed):
    walk = walk_approved_repair_failing_qa_once(parsed)
    data = walk.finish()
    assert walk.names == [
        "record_condition",
        "diagnose",
        "customer_approval",
        "repair",
        "qa_check",
        "repair",
        "qa_check",
        "ship_return",
    ]
    assert walk.statuses == [
        "received",
        "diagnosing",
        "awaiting_approval",
        "repairing",
        "quality_check",
        "repairing",
        "quality_check",
        "returning",
        "closed",
    ]
    repair_ids = [t.id for t in walk.done if t.name == "repair"]
    qa_ids = [t.id for t in walk.done if t.name == "qa_check"]
    assert len(set(repair_ids)) == 2 and len(set(qa_ids)) == 2
    assert data["outcome"] == "repaired"
    assert data["qa_passed"] is True
    assert data["repair_notes"] == "Replaced the shutter"


def test_declined_quote_returns_unit_unrepaired_without_any_repair_task(parsed):
    walk = walk_declined_quote(parsed)
    data = walk.finish()
    assert walk.names == ["record_condition", "diagnose", "customer_approval", "ship_return"]
    assert "repair" not in walk.names and "qa_check" not in walk.names
    assert walk.statuses == ["received", "diagnosing", "awaiting_approval", "returning", "closed"]
    assert data["outcome"] == "returned_unrepaired"
    assert data["approve"] is False


@pytest.mark.parametrize("dates", [IN_WARRANTY, OUT_OF_WARRANTY], ids=["in_warranty", "out_of_warranty"])
def test_no_fault_found_goes_straight_to_return_without_quote_or_repair(parsed, dates):
    walk = walk_no_fault_found(parsed, dates)
    data = walk.finish()
    assert walk.names == ["record_condition", "diagnose", "ship_return"]
    assert walk.statuses == ["received", "diagnosing", "returning", "closed"]
    assert data["outcome"] == "no_fault_found"
    assert "quote_total" not in data


@pytest.mark.parametrize("fault", ["physical_damage", "liquid_damage"])
def test_damage_inside_24_months_is_not_covered_and_needs_approval(parsed, fault):
    walk = walk_to_first_decision(parsed, fault, "2024-01-10", "2024-03-20", parts_cost=40, labour_hours=1)
    [task] = walk.wait()
    assert task.name == "customer_approval" and task.role == "customer"
    assert walk.status == "awaiting_approval"
    data = walk.data
    assert data["age_months"] == 2
    assert data["in_warranty"] is False
    assert "damage" in data["warranty_reason"]


@pytest.mark.parametrize(
    ("purchase_date", "received_on", "months", "covered"),
    [
        ("2022-03-15", "2024-03-15", 24, True),
        ("2022-03-15", "2024-04-14", 24, True),  # one day short of the 25th month
        ("2022-03-15", "2024-04-15", 25, False),
        ("2022-01-31", "2024-02-29", 24, True),  # month end: Feb 29 is not yet the 31st
    ],
)
def test_warranty_boundary_is_24_whole_months_from_purchase_to_receipt(
    parsed, purchase_date, received_on, months, covered
):
    walk = walk_to_first_decision(parsed, "electronic", purchase_date, received_on)
    [task] = walk.wait()
    assert walk.data["age_months"] == months
    assert walk.data["in_warranty"] is covered
    assert task.name == ("repair" if covered else "customer_approval")


@pytest.mark.parametrize(
    ("centre", "currency", "rate", "parts", "hours", "total"),
    [
        ("SG", "SGD", 60, 100, 2, 220),
        ("DE", "EUR", 75, 100, 2, 250),
        ("DE", "EUR", 75, 19.99, 0.5, 57.49),
    ],
)
def test_quote_is_parts_plus_labour_hours_at_the_centre_rate(parsed, centre, currency, rate, parts, hours, total):
    walk = Walk(parsed, start_data(centre=centre, currency=currency, labour_rate=rate, **OUT_OF_WARRANTY))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("firmware", parts_cost=parts, labour_hours=hours))
    [task] = walk.wait()
    assert task.name == "customer_approval"
    assert walk.data["quote_total"] == pytest.approx(total)
    assert walk.data["currency"] == currency


def test_omitted_estimates_default_to_zero_and_give_a_zero_quote(parsed):
    walk = Walk(parsed, start_data(**OUT_OF_WARRANTY))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("firmware"))
    walk.wait()
    assert (walk.data["parts_cost"], walk.data["labour_hours"], walk.data["quote_total"]) == (0, 0, 0)


def test_state_restores_onto_a_separately_parsed_bundle(parsed):
    walk = Walk(parsed, start_data(**OUT_OF_WARRANTY))
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("mechanical", parts_cost=100, labour_hours=2))
    state = walk.rt.dump(walk.wf)
    other = parse_bundle(read_bundle_dir(PROCESSES_DIR))
    assert other.spec is not parsed.spec
    restored = walk.rt.load(other, state)
    [task] = walk.rt.ready_tasks(restored)
    assert task.name == "customer_approval"
    walk.rt.complete(restored, task.id, {"approve": True})
    assert [t.name for t in walk.rt.ready_tasks(restored)] == ["repair"]
    assert json.loads(state)["spec_name"] == "rma"


def _all_flows() -> set[tuple[str, str, str, str]]:
    """(diagram, process id, source, target) for every sequence flow of every shipped diagram, variants included."""
    flows = set()
    for path in PROCESSES_DIR.rglob("*.bpmn"):
        diagram = path.relative_to(PROCESSES_DIR).as_posix()
        for process in etree.parse(str(path)).getroot().iter(f"{{{BPMN_NS}}}process"):
            for flow in process.iter(f"{{{BPMN_NS}}}sequenceFlow"):
                flows.add((diagram, process.get("id"), flow.get("sourceRef"), flow.get("targetRef")))
    return flows


def _flows_taken(walks) -> set[tuple[str, str, str, str]]:
    """Walk.flows_taken, each flow qualified by the shipped diagram that drew it: a centre's bundle names its
    variant stage like the base stage (stages/rma_repair.bpmn), so the diagram is found by its content."""
    diagrams = {}
    for path in PROCESSES_DIR.rglob("*.bpmn"):
        diagrams.setdefault(path.read_text(encoding="utf-8"), []).append(path.relative_to(PROCESSES_DIR).as_posix())
    taken = set()
    for walk in walks:
        for process_id, source, target in walk.flows_taken():
            [diagram] = diagrams[walk.parsed.files[walk.parsed.process_files[process_id]]]
            taken.add((diagram, process_id, source, target))
    return taken


def test_the_path_walks_together_take_every_sequence_flow_of_every_diagram(parsed, parsed_de, parsed_sg):
    from tests.processes import test_batch_paths as batch
    from tests.processes import test_repair_or_replace_paths as offers
    from tests.processes import test_triage_paths as triage
    from tests.processes import test_variant_paths as de
    from tests.processes.test_approval_timers import walk_expired_quote, walk_reminded_then_approved
    from tests.processes.test_sla_timers import walk_both_slas_breached_and_reviewed

    walks = [
        walk_in_warranty_repair(parsed),
        walk_approved_repair_failing_qa_once(parsed),
        walk_declined_quote(parsed),
        walk_no_fault_found(parsed),
        walk_reminded_then_approved(parsed),
        walk_expired_quote(parsed),
        walk_both_slas_breached_and_reviewed(parsed),
        triage.walk_solved_by_the_customer(parsed),
        triage.walk_resolved_remotely_by_staff(parsed),
        triage.walk_shipped_in_and_repaired(parsed),
        triage.walk_reminded_then_expired(parsed),
        batch.walk_batch_unit_shipped_in(parsed),
        offers.walk_replaced(parsed),
        offers.walk_traded_in(parsed),
        offers.walk_goodwill_approved_then_repaired(parsed),
        offers.walk_goodwill_rejected_then_declined(parsed),
        de.walk_factory_repair(parsed_de),
        de.walk_in_house_repair(parsed_de),
        *(walk(parsed_sg) for walk in de.SG_WALKS),
    ]
    taken = _flows_taken(walks)
    flows = _all_flows()
    assert len(flows) > 30
    assert {d for d, *_ in flows} >= {
        "stages/rma_repair.bpmn",
        "variants/DE/stages/rma_repair.bpmn",
        "stages/rma_approval.bpmn",
        "variants/SG/stages/rma_approval.bpmn",
    }
    assert flows - taken == set()
