"""A webhook reports the RMA as the step leaves it: the reactions that set the stage run before the webhooks."""

from __future__ import annotations

import json

from sqlalchemy import select

from engine.store.model import OutboxMessage
from tests.web.test_api_requests import finder_and_catalogue, submit  # noqa: F401  (the request fixture)


def _events(orc, rma_id: int) -> list[dict]:
    with orc.reading() as s:
        bodies = s.scalars(
            select(OutboxMessage.body)
            .where(OutboxMessage.rma_id == rma_id, OutboxMessage.channel == "webhook")
            .order_by(OutboxMessage.id)
        ).all()
    return [json.loads(body) for body in bodies]


def test_a_status_change_webhook_carries_the_stage_the_rma_is_in_after_the_step(orc, client, api):
    created = api.post("manager", "/api/webhooks", {"url": "https://erp.example.com/rma-events"})
    assert created.status_code == 201, created.get_json()
    request = submit(client).get_json()
    assert (
        client.post(
            f"/api/requests/{request['tracking_token']}/troubleshooting", json={"troubleshoot_solved": False}
        ).status_code
        == 200
    )
    rma_id = api.get("manager", "/api/rmas").get_json()["items"][0]["id"]

    api.do("sg.reception", rma_id, "review_request", {"review_decision": "ship_in"})

    rma = api.rma("manager", rma_id)
    assert (rma["status"], rma["stage"]) == ("awaiting_unit", "inbound")  # the stage a later reaction sets
    changes = [e for e in _events(orc, rma_id) if e["type"] == "rma.status_changed"]
    assert changes[-1]["data"]["to"] == "awaiting_unit"
    assert changes[-1]["rma"]["stage"] == rma["stage"] == "inbound"
    every_stage = [(e["rma"]["status"], e["rma"]["stage"]) for e in _events(orc, rma_id)]
    assert ("awaiting_unit", "inbound") in every_stage
