"""A partner's batch unit (channel `batch`, issue 17.3) waits for its parcel in the inbound stage, then runs the
ordinary repair; its warranty check counts from the date the engine chose (warranty_start_date)."""

from __future__ import annotations

from tests.processes.test_triage_paths import _parcel_arrives
from tests.processes.walk import (
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


def walk_batch_unit_shipped_in(parsed, **data) -> Walk:
    walk = Walk(parsed, start_data(channel="batch", **data))
    assert walk.wait() == [] and walk.status == "awaiting_unit"
    _parcel_arrives(walk)
    walk.do(RECORD_CONDITION, INTAKE_FORM)
    walk.do(DIAGNOSE, diagnosis("electronic", parts_cost=80, labour_hours=1))
    return walk


def test_a_batch_unit_waits_for_its_parcel_then_is_repaired_in_warranty_from_its_installation(parsed):
    # bought 52 months before it came in, installed 4 months before: the installation date counts
    walk = walk_batch_unit_shipped_in(
        parsed, purchase_date="2020-01-10", warranty_start_date="2024-02-01", warranty_date_basis="installation"
    )
    assert walk.data["age_months"] == 4 and walk.data["in_warranty"] is True
    walk.do(REPAIR, REPAIR_FORM)
    walk.do(QA_CHECK, {"qa_passed": True})
    walk.do(SHIP_RETURN, SHIP_FORM)
    assert walk.finish()["outcome"] == "repaired"


def test_a_unit_without_any_warranty_date_is_out_of_warranty(parsed):
    walk = walk_batch_unit_shipped_in(parsed, warranty_start_date=None, warranty_date_basis="none")
    assert walk.data["in_warranty"] is False and walk.data["age_months"] == 9999
    assert [t.name for t in walk.wait()] == ["customer_approval"]
