"""Reception sees the customer's and the unit's earlier RMAs; a unit back within 90 days is a repeat repair."""

from __future__ import annotations

from datetime import timedelta

import time_machine

from engine.services import customers, rmas, tasks
from engine.store.model import utcnow
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload


def repaired(orc, serial: str, email="kim@example.com") -> dict:
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=6, serial=serial, email=email))
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    complete_open_task(orc, "sg.tech", rma["id"], "diagnose", {"diagnosis": "x", "fault_category": "electronic"})
    complete_open_task(orc, "sg.tech", rma["id"], "repair", {"repair_notes": "fixed"})
    complete_open_task(orc, "sg.qa", rma["id"], "qa_check", {"qa_passed": True})
    complete_open_task(orc, "sg.reception", rma["id"], "ship_return", {"carrier": "DHL", "tracking_number": "1"})
    return rma


def test_earlier_rmas_of_the_customer_and_of_the_unit_are_shown(orc):
    first = repaired(orc, "SN-H1")
    other_unit = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SN-H2"))
    stranger = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SN-H1", email="zoe@example.com"))
    now = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SN-H1"))
    earlier = customers.customer_side(orc, actor(orc, "sg.reception"), now["id"])["earlier"]
    # zoe@ gave the same phone number as Kim: by email or phone, she counts as the same customer
    assert [r["number"] for r in earlier["customer"]] == [stranger["number"], other_unit["number"], first["number"]]
    assert [r["number"] for r in earlier["unit"]] == [stranger["number"], first["number"]]


def test_a_unit_back_within_90_days_of_a_repair_is_flagged_on_the_technicians_task(orc):
    first = repaired(orc, "SN-R1")
    again = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SN-R1"))
    complete_open_task(orc, "sg.reception", again["id"], "record_condition", INTAKE)
    tech = actor(orc, "sg.tech")
    task = tasks.list_tasks(orc, tech, rma_id=again["id"])["items"][0]
    assert task["rma"]["repeat_of_id"] == first["id"]
    assert customers.customer_side(orc, tech, again["id"])["repeat_of"]["number"] == first["number"]


def test_a_unit_back_after_90_days_is_not_a_repeat_repair(orc):
    repaired(orc, "SN-R2")
    with time_machine.travel(utcnow() + timedelta(days=91), tick=False):
        later = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SN-R2", months_old=3))
    assert customers.customer_side(orc, actor(orc, "sg.reception"), later["id"])["repeat_of"] is None
