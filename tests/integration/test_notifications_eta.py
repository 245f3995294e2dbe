"""The estimate from a real history in the database: closed RMAs whose stage times are known exactly."""

from __future__ import annotations

from datetime import timedelta

import time_machine

from engine.customer import estimates
from engine.services import customers, portal, rmas
from engine.store.model import utcnow
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload

STAGE_DAYS = {"diagnose": 2, "repair": 3, "qa_check": 1, "ship_return": 1}


def closed_history(orc, start, n: int) -> None:
    """n in-warranty repairs, each: diagnosis 2 days, repair 3, QA 1, return 1 (7 days after intake)."""
    with time_machine.travel(start, tick=False) as clock:
        for i in range(n):
            at = start + timedelta(hours=i)
            clock.move_to(at)
            rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=6, serial=f"SN-E{i}"))
            complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
            steps = [
                ("sg.tech", "diagnose", {"diagnosis": "x", "fault_category": "electronic"}),
                ("sg.tech", "repair", {"repair_notes": "ok"}),
                ("sg.qa", "qa_check", {"qa_passed": True}),
                ("sg.reception", "ship_return", {"carrier": "DHL", "tracking_number": "1"}),
            ]
            for user, name, data in steps:
                at += timedelta(days=STAGE_DAYS[name])
                clock.move_to(at)
                complete_open_task(orc, user, rma["id"], name, data)


def test_estimate_comes_from_this_centres_recent_repairs_and_says_so(orc):
    estimates.clear_cache()
    start = utcnow() - timedelta(days=40)
    closed_history(orc, start, 20)
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=6, serial="SN-NEW"))
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    eta = customers.customer_side(orc, actor(orc, "sg.reception"), rma["id"])["eta"]
    assert eta["source"] == "history" and eta["samples"] == 20
    assert (eta["low_days"], eta["high_days"]) == (7, 7)  # every earlier repair took 7 days after intake
    assert eta["basis"] == "from 20 repairs at this centre in the last 90 days"
    assert (eta["latest"] - eta["earliest"]).days == 0


def test_the_customer_sees_the_estimate_in_their_language_and_it_is_recomputed_at_each_milestone(orc):
    estimates.clear_cache()
    payload = rma_payload(months_old=6, serial="SN-DE")
    payload["customer"]["language"] = "de"
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), payload)
    before = portal.portal_view(orc, rma["tracking_token"])["eta"]
    assert before["basis"].startswith("aus unseren Standard-Bearbeitungszeiten")
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    complete_open_task(orc, "sg.tech", rma["id"], "diagnose", {"diagnosis": "x", "fault_category": "electronic"})
    after = portal.portal_view(orc, rma["tracking_token"])["eta"]
    assert after["computed_at"] > before["computed_at"] and after["high_days"] < before["high_days"]
