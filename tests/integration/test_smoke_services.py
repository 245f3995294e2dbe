"""Services end to end on each backend: open an RMA and walk it to the end."""

from engine.services import portal, rmas, tasks
from tests.driver import only_task
from tests.helpers import INTAKE, actor, rma_payload


def test_out_of_warranty_rma_is_quoted_approved_repaired_and_returned(orc):
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=30))
    assert rma["status"] == "received" and rma["number"].startswith("RMA-SG-")
    steps = [
        ("sg.reception", "record_condition", INTAKE, "diagnosing"),
        (
            "sg.tech",
            "diagnose",
            {"diagnosis": "Dead board", "fault_category": "electronic", "parts_cost": 100, "labour_hours": 2},
            "awaiting_approval",
        ),
    ]
    for username, name, data, status in steps:
        task = only_task(orc, username, rma["id"])
        assert task["name"] == name
        result = tasks.complete_task(orc, actor(orc, username), task["id"], data)
        assert result["rma"]["status"] == status
    view = portal.portal_view(orc, rma["tracking_token"])
    assert view["decision_pending"] and float(view["quote"]["total"]) == 100 + 2 * 60
    portal.record_customer_decision(orc, rma["tracking_token"], True)
    for username, name, data in [
        ("sg.tech", "repair", {"repair_notes": "Board replaced"}),
        ("sg.qa", "qa_check", {"qa_passed": True}),
        ("sg.reception", "ship_return", {"carrier": "DHL", "tracking_number": "JD01"}),
    ]:
        task = only_task(orc, username, rma["id"])
        assert task["name"] == name
        tasks.complete_task(orc, actor(orc, username), task["id"], data)
    final = rmas.get_rma(orc, actor(orc, "sg.reception"), rma["id"])
    assert final["status"] == "closed" and final["outcome"] == "repaired"
    assert final["open_tasks"] == []
    kinds = [h["kind"] for h in final["history"]]
    assert kinds.count("task_completed") == 5 and "quote_decided" in kinds and kinds[-1] == "rma_closed"
