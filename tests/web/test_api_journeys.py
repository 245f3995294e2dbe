"""Whole RMA journeys driven only through the HTTP API, status checked at every step."""

from __future__ import annotations

from tests.helpers import INTAKE

DIAGNOSIS = {"diagnosis": "Dead main board", "fault_category": "electronic", "parts_cost": 100, "labour_hours": 2}


def _decide(api, token: str, approve: bool) -> dict:
    response = api.client.post(f"/api/portal/{token}/decision", json={"approve": approve})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_out_of_warranty_rma_is_quoted_approved_repaired_after_failed_qa_and_returned(api):
    rma = api.open_rma(months_old=30)
    assert rma["status"] == "received" and rma["number"].startswith("RMA-SG-")
    assert [t["name"] for t in rma["open_tasks"]] == ["record_condition"]

    assert api.do("sg.reception", rma["id"], "record_condition", INTAKE)["status"] == "diagnosing"
    assert api.do("sg.tech", rma["id"], "diagnose", DIAGNOSIS)["status"] == "awaiting_approval"
    quoted = api.rma("sg.reception", rma["id"])
    assert quoted["in_warranty"] is False
    assert quoted["quote_total"] == 100 + 2 * 60 and quoted["currency"] == "SGD"

    decided = _decide(api, rma["tracking_token"], True)
    assert decided["status"] == "repairing" and decided["decision_pending"] is False
    assert api.do("sg.tech", rma["id"], "repair", {"repair_notes": "Board replaced"})["status"] == "quality_check"
    assert (
        api.do("sg.qa", rma["id"], "qa_check", {"qa_passed": False, "qa_notes": "Still no power"})["status"]
        == "repairing"
    )
    assert api.do("sg.tech", rma["id"], "repair", {"repair_notes": "Reseated cable"})["status"] == "quality_check"
    assert api.do("sg.qa", rma["id"], "qa_check", {"qa_passed": True})["status"] == "returning"
    closed = api.do("sg.reception", rma["id"], "ship_return", {"carrier": "DHL", "tracking_number": "JD01"})
    assert closed["status"] == "closed" and closed["outcome"] == "repaired"

    final = api.rma("sg.reception", rma["id"])
    assert final["open_tasks"] == [] and final["closed_at"] is not None
    kinds = [event["kind"] for event in final["history"]]
    assert kinds.count("task_completed") == 7 and "quote_decided" in kinds and kinds[-1] == "rma_closed"


def test_declined_quote_returns_unit_unrepaired(api):
    rma = api.open_rma(months_old=30)
    api.do("sg.reception", rma["id"], "record_condition", INTAKE)
    api.do("sg.tech", rma["id"], "diagnose", DIAGNOSIS)

    assert _decide(api, rma["tracking_token"], False)["status"] == "returning"
    closed = api.do("sg.reception", rma["id"], "ship_return", {"carrier": "DHL", "tracking_number": "JD02"})
    assert closed["status"] == "closed" and closed["outcome"] == "returned_unrepaired"
    history = api.rma("sg.reception", rma["id"])["history"]
    assert not any(event["task"] == "repair" for event in history)


def test_no_fault_found_skips_quote_and_repair(api):
    rma = api.open_rma(months_old=30)
    api.do("sg.reception", rma["id"], "record_condition", INTAKE)
    state = api.do(
        "sg.tech", rma["id"], "diagnose", {"diagnosis": "Works as specified", "fault_category": "no_fault_found"}
    )
    assert state["status"] == "returning"
    closed = api.do("sg.reception", rma["id"], "ship_return", {"carrier": "DHL", "tracking_number": "JD03"})
    assert closed["status"] == "closed" and closed["outcome"] == "no_fault_found"
    assert api.client.get(f"/api/portal/{rma['tracking_token']}").get_json()["decision_pending"] is False


def test_in_warranty_fault_goes_to_repair_without_asking_the_customer(api):
    rma = api.open_rma(months_old=6)
    api.do("sg.reception", rma["id"], "record_condition", INTAKE)
    assert api.do("sg.tech", rma["id"], "diagnose", DIAGNOSIS)["status"] == "repairing"
    assert api.rma("sg.tech", rma["id"])["in_warranty"] is True


def test_german_centre_quotes_its_own_labour_rate_in_euro(api):
    rma = api.open_rma("de.reception", centre="DE", months_old=30)
    api.do("de.reception", rma["id"], "record_condition", INTAKE)
    api.do("de.tech", rma["id"], "diagnose", DIAGNOSIS)
    quoted = api.rma("de.reception", rma["id"])
    assert quoted["quote_total"] == 100 + 2 * 75 and quoted["currency"] == "EUR"
