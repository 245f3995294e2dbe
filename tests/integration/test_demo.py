"""`rma demo` gives a new user RMAs at different stages, each with the task its stage waits for."""

from __future__ import annotations

from datetime import date

from engine.demo import (
    OPEN_DEMO_RMAS,
    SHIPPED_BEFORE_PURCHASE,
    UNREGISTERED_SERIAL,
    create_catalogue_and_locations,
    create_demo_rmas,
)
from engine.services import catalogue, centres, register, rmas
from tests.helpers import actor


def test_demo_rmas_stand_at_different_stages_and_are_not_created_twice(orc):
    assert create_demo_rmas(orc, history=False) == OPEN_DEMO_RMAS == 5
    items = rmas.list_rmas(orc, actor(orc, "manager"))["items"]
    waiting_on = {
        (rma["centre"], rma["status"]): [
            t["name"] for t in rmas.get_rma(orc, actor(orc, "manager"), rma["id"])["open_tasks"]
        ]
        for rma in items
    }
    assert waiting_on == {
        ("SG", "received"): ["record_condition"],
        ("SG", "diagnosing"): ["diagnose"],
        ("SG", "awaiting_approval"): ["customer_approval"],
        ("DE", "repairing"): ["decide_repair_site"],  # the Berlin variant asks first
        ("DE", "quality_check"): ["qa_check"],
    }
    assert create_demo_rmas(orc) == 0


def test_demo_catalogue_and_centres_let_a_customer_request_online_at_once(orc):
    create_catalogue_and_locations(orc)
    create_catalogue_and_locations(orc)  # again: nothing doubled
    models = {m["model"]: m for m in catalogue.list_models(orc)}
    assert len(models) == 5 and models["Vista X100 Camera"]["successor_model"] == "Vista X200 Camera"
    assert models["NightGuard NVR-8"]["known_issues"][0]["code"] == "reboot_loop"
    found = centres.find_centres(orc, near="Berlin")["items"]
    assert [c["code"] for c in found][:2] == ["DE", "SG"]


def test_the_demo_units_are_in_the_register_of_units_sold_but_one_flagged_example(orc):
    create_demo_rmas(orc, history=False)
    manager = actor(orc, "manager")
    flagged = {}
    for item in rmas.list_rmas(orc, manager)["items"]:
        rma = rmas.get_rma(orc, manager, item["id"])
        flagged[rma["product"]["serial_number"]] = [f["code"] for f in rma["serial_flags"]]
        if rma["product"]["serial_number"] != UNREGISTERED_SERIAL:
            unit = register.get_unit(orc, manager, rma["product"]["serial_number"])
            assert unit["model"] == rma["product"]["model"]
            bought = date.fromisoformat(str(rma["product"]["purchase_date"])[:10])
            assert unit["ship_date"] == bought - SHIPPED_BEFORE_PURCHASE
            assert rma["warranty"]["basis"] == "purchase"  # registering did not change how the warranty counts
    assert len(flagged) == OPEN_DEMO_RMAS
    assert {s: f for s, f in flagged.items() if f} == {UNREGISTERED_SERIAL: ["serial_not_registered"]}
    assert register.list_units(orc, manager)["total"] == OPEN_DEMO_RMAS - 1
