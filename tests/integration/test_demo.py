"""`rma demo` gives a new user RMAs at different stages, each with the task its stage waits for."""

from __future__ import annotations

from engine.demo import OPEN_DEMO_RMAS, create_catalogue_and_locations, create_demo_rmas
from engine.services import catalogue, centres, rmas
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
