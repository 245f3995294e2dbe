"""Issue 15 points 2-4, as a process owner meets them: a DE variant deployed through the deploy API and an RMA
driven over the HTTP API. Run-time mistakes (a multi-instance over a missing or non-list collection, a condition
on a variable nothing set, a script error) put the RMA in incident naming the element, and a retry after the fix
continues; an event-based gateway's timer is scheduled and fires and its message is delivered; any awaited
message is delivered by an integrator with POST /api/rmas/<id>/messages/<name>."""

from __future__ import annotations

import io
from datetime import UTC, date, timedelta

import pytest
import time_machine

from engine.services import requests as request_service
from engine.services.scheduler import fire_due_timers
from engine.store.model import Instance, Rma, utcnow
from tests.helpers import CAMERA_MODEL, INTAKE, seed_request_form, staff_session

# the parametrised corpus runs on SQLite; the representative journeys (event-based gateway, message delivery, a retry
# after the fix) on both backends
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def as_utc(moment):
    """A timestamp as stored (SQLite gives it back naive, in UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="rma_intake_definitions" targetNamespace="urn:rma-orchestrator:processes">
"""


def intake(middle: str, extra_defs: str = "", lane_refs: str = "") -> str:
    """The intake stage: record_condition, then `middle` (elements from `mid_in` to `mid_out`), then the end."""
    return (
        HEAD
        + extra_defs
        + f"""
  <bpmn:process id="rma_intake" name="RMA intake" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_reception" name="Reception">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>record_condition</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
        {lane_refs}
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f_start</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="record_condition" name="Record condition">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="record_condition.json" />
          <spiffworkflow:property name="rmaStatus" value="received" />
          <spiffworkflow:property name="notifyCustomer" value="intake_receipt" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f_start</bpmn:incoming><bpmn:outgoing>f_mid</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f_start" sourceRef="start" targetRef="record_condition" />
    <bpmn:sequenceFlow id="f_mid" sourceRef="record_condition" targetRef="mid_in" />
{middle}
    <bpmn:sequenceFlow id="f_end" sourceRef="mid_out" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f_end</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""
    )


MI_OVER = """
    <bpmn:scriptTask id="mid_in" name="Check each accessory">
      <bpmn:incoming>f_mid</bpmn:incoming><bpmn:outgoing>f_mi_out</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics isSequential="true">
        <bpmn:loopDataInputRef>{collection}</bpmn:loopDataInputRef>
        <bpmn:loopDataOutputRef>checked_list</bpmn:loopDataOutputRef>
        <bpmn:inputDataItem id="accessory" name="accessory" />
        <bpmn:outputDataItem id="checked" name="checked" />
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:script>checked = accessory</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f_mi_out" sourceRef="mid_in" targetRef="mid_out" />
    <bpmn:scriptTask id="mid_out" name="Done"><bpmn:incoming>f_mi_out</bpmn:incoming>
      <bpmn:outgoing>f_end</bpmn:outgoing><bpmn:script>done = True</bpmn:script></bpmn:scriptTask>
"""


def deploy_de(api, files: dict[str, str], username: str = "owner"):
    data = {"files": [(io.BytesIO(text.encode()), name) for name, text in files.items()], "centre": "DE"}
    return api.client.post(
        "/api/processes/deploy", data=data, headers=api.headers(username), content_type="multipart/form-data"
    )


SCRIPT = """
    <bpmn:scriptTask id="mid_in" name="Compute"><bpmn:incoming>f_mid</bpmn:incoming><bpmn:outgoing>f_x</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f_x" sourceRef="mid_in" targetRef="mid_out" />
    <bpmn:scriptTask id="mid_out" name="Done"><bpmn:incoming>f_x</bpmn:incoming>
      <bpmn:outgoing>f_end</bpmn:outgoing><bpmn:script>done = True</bpmn:script></bpmn:scriptTask>
"""
GATEWAY = """
    <bpmn:exclusiveGateway id="mid_in" name="Customs cleared?"><bpmn:incoming>f_mid</bpmn:incoming>
      <bpmn:outgoing>f_yes</bpmn:outgoing><bpmn:outgoing>f_no</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f_yes" sourceRef="mid_in" targetRef="mid_out">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">customs_cleared == True</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no" sourceRef="mid_in" targetRef="mid_out">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">customs_cleared == False</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:exclusiveGateway id="mid_out"><bpmn:incoming>f_yes</bpmn:incoming><bpmn:incoming>f_no</bpmn:incoming>
      <bpmn:outgoing>f_end</bpmn:outgoing></bpmn:exclusiveGateway>
"""
SET_THEN_MI = """
    <bpmn:scriptTask id="mid_in" name="Set"><bpmn:incoming>f_mid</bpmn:incoming><bpmn:outgoing>f_x</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f_x" sourceRef="mid_in" targetRef="mi" />
    <bpmn:scriptTask id="mi" name="Check each accessory">
      <bpmn:incoming>f_x</bpmn:incoming><bpmn:outgoing>f_mi_out</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics isSequential="{seq}">
        <bpmn:loopDataInputRef>accessory_list</bpmn:loopDataInputRef>
        <bpmn:loopDataOutputRef>checked_list</bpmn:loopDataOutputRef>
        <bpmn:inputDataItem id="accessory" name="accessory" />
        <bpmn:outputDataItem id="checked" name="checked" />
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:script>checked = accessory</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f_mi_out" sourceRef="mi" targetRef="mid_out" />
    <bpmn:scriptTask id="mid_out" name="Done"><bpmn:incoming>f_mi_out</bpmn:incoming>
      <bpmn:outgoing>f_end</bpmn:outgoing><bpmn:script>done = True</bpmn:script></bpmn:scriptTask>
"""
# (middle of the intake stage, the failing element, what the incident's error says, the variable the deploy answer
# warns is read on a path where nothing set it)
CASES = {
    "multi-instance over a missing collection": (
        MI_OVER.format(collection="accessory_list"),
        "mid_in",
        "runs over 'accessory_list', which no step before it has set",
        "accessory_list",
    ),
    "parallel multi-instance over a number": (
        SET_THEN_MI.format(script="accessory_list = 5", seq="false"),
        "mi",
        "runs over 'accessory_list', which is a number, not a list",
        None,
    ),
    "parallel multi-instance over None": (
        SET_THEN_MI.format(script="accessory_list = None", seq="false"),
        "mi",
        "which is empty (None), not a list",
        None,
    ),
    "sequential multi-instance over text": (
        SET_THEN_MI.format(script="accessory_list = 'charger'", seq="true"),
        "mi",
        "which is text, not a list",
        None,
    ),
    "condition reading a variable no path set": (GATEWAY, "mid_in", "'customs_cleared' is not set", "customs_cleared"),
    "no condition of a gateway holds": (
        GATEWAY.replace("customs_cleared ==", "condition_grade == 'Z' and customs_cleared =="),
        "mid_in",
        "No conditions satisfied",
        "customs_cleared",
    ),
    "script error": (
        SCRIPT.format(script="total = undefined_thing + 1"),
        "mid_in",
        "undefined_thing",
        "undefined_thing",
    ),
    "script type error": (SCRIPT.format(script="total = 'a' + 1"), "mid_in", "TypeError", None),
}


def process_data(orc, rma_id: int) -> dict:
    with orc.uow() as uow:
        instance = uow.session.get(Instance, rma_id)
        workflow = orc.runtime.load(orc.parsed_bundle(uow.session, instance.bundle_id), instance.state)
        return orc.runtime.current_data(workflow)


def _incident(api, rma_id: int) -> dict:
    [incident] = [i for i in api.get("manager", "/api/incidents").get_json()["items"] if i["rma_id"] == rma_id]
    return incident


@SQLITE_ONLY
@pytest.mark.parametrize("case", list(CASES))
def test_a_run_time_mistake_puts_the_rma_in_incident_naming_the_element(api, case):
    middle, element, error, unset = CASES[case]
    deployed = deploy_de(api, {"rma_intake.bpmn": intake(middle)})
    assert deployed.status_code == 201, deployed.get_json()  # accepted: a warning, not a refusal
    warned = [(w["file"], w["element"]) for w in deployed.get_json()["warnings"] if f"'{unset}'" in w["message"]]
    assert warned == ([("stages/rma_intake.bpmn", element)] if unset else []), deployed.get_json()["warnings"]
    rma = api.open_rma("de.reception", centre="DE")
    task = api.only_task("de.reception", rma["id"])
    done = api.complete("de.reception", task["id"], INTAKE)
    assert done.status_code == 200, done.get_json()  # the reception's work is kept, never a 500
    assert done.get_json()["rma"]["status"] == "incident"
    incident = _incident(api, rma["id"])
    assert incident["task"] == element and error in incident["error"], incident
    assert (incident["status"], incident["stage"], incident["status_before"]) == ("open", "intake", "received")
    retried = api.post("manager", f"/api/incidents/{rma['id']}/retry", {})  # no fix yet: it fails again
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["incident"]["attempts"] == 2, retried.get_json()


FIXES = {
    "condition": (
        GATEWAY,
        GATEWAY.replace("customs_cleared == True", "condition_grade == 'A'").replace(
            "customs_cleared == False", "condition_grade != 'A'"
        ),
    ),
    "multi-instance": (
        MI_OVER.format(collection="accessory_list"),
        MI_OVER.format(collection="accessory_list")
        .replace(
            "<bpmn:loopDataInputRef>accessory_list</bpmn:loopDataInputRef>",
            "<bpmn:loopCardinality>2</bpmn:loopCardinality>",
        )
        .replace('<bpmn:inputDataItem id="accessory" name="accessory" />', "")
        .replace("checked = accessory", "checked = True"),
    ),
}


@pytest.mark.parametrize("fix", list(FIXES))
def test_an_operator_retries_after_the_fix_and_the_rma_goes_on(api, orc, fix):
    broken, fixed = FIXES[fix]
    assert deploy_de(api, {"rma_intake.bpmn": intake(broken)}).status_code == 201
    rma = api.open_rma("de.reception", centre="DE")
    api.do("de.reception", rma["id"], "record_condition", INTAKE)
    assert api.rma("de.reception", rma["id"])["status"] == "incident"
    assert deploy_de(api, {"rma_intake.bpmn": intake(fixed)}).status_code == 201
    retried = api.post("manager", f"/api/incidents/{rma['id']}/retry", {"on_current_version": True})
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["incident"]["status"] == "resolved"
    after = api.rma("de.reception", rma["id"])
    assert after["status"] == "diagnosing" and after["process"]["version"] == 3
    assert [t["name"] for t in after["open_tasks"]] == ["diagnose"]


# ------------------------------------------------------------------------------------------------------------------
# the inbound stage redrawn: "parcel received, or 30 days pass" as an event-based gateway

INBOUND_GATEWAY = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="rma_inbound_definitions" targetNamespace="urn:rma-orchestrator:processes">
  <bpmn:message id="parcel_received_message" name="parcel_received" />
  <bpmn:process id="rma_inbound" name="RMA inbound shipping" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f_wait</bpmn:outgoing></bpmn:startEvent>
    <bpmn:eventBasedGateway id="parcel_or_30_days" name="Parcel received, or 30 days pass">
      <bpmn:incoming>f_wait</bpmn:incoming>
      <bpmn:outgoing>f_parcel</bpmn:outgoing><bpmn:outgoing>f_days</bpmn:outgoing>
    </bpmn:eventBasedGateway>
    <bpmn:intermediateCatchEvent id="parcel_scanned" name="Parcel received">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="rmaStatus" value="awaiting_unit" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f_parcel</bpmn:incoming><bpmn:outgoing>f_arrived</bpmn:outgoing>
      <bpmn:messageEventDefinition id="parcel_def" messageRef="parcel_received_message">
        <bpmn:extensionElements>
          <spiffworkflow:messageVariable>parcel</spiffworkflow:messageVariable>
        </bpmn:extensionElements>
      </bpmn:messageEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="thirty_days" name="30 days pass">
      <bpmn:incoming>f_days</bpmn:incoming><bpmn:outgoing>f_expire</bpmn:outgoing>
      <bpmn:timerEventDefinition id="thirty_days_timer">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P30D"</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:scriptTask id="record_arrival" name="Record the arrival">
      <bpmn:incoming>f_arrived</bpmn:incoming><bpmn:outgoing>f_arrived_end</bpmn:outgoing>
      <bpmn:script>parcel_arrived = True</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:scriptTask id="expire_request" name="Expire the request">
      <bpmn:incoming>f_expire</bpmn:incoming><bpmn:outgoing>f_expired_end</bpmn:outgoing>
      <bpmn:script>parcel_arrived = False
outcome = 'expired'</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="arrived"><bpmn:incoming>f_arrived_end</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="expired"><bpmn:incoming>f_expired_end</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f_wait" sourceRef="start" targetRef="parcel_or_30_days" />
    <bpmn:sequenceFlow id="f_parcel" sourceRef="parcel_or_30_days" targetRef="parcel_scanned" />
    <bpmn:sequenceFlow id="f_days" sourceRef="parcel_or_30_days" targetRef="thirty_days" />
    <bpmn:sequenceFlow id="f_arrived" sourceRef="parcel_scanned" targetRef="record_arrival" />
    <bpmn:sequenceFlow id="f_expire" sourceRef="thirty_days" targetRef="expire_request" />
    <bpmn:sequenceFlow id="f_arrived_end" sourceRef="record_arrival" targetRef="arrived" />
    <bpmn:sequenceFlow id="f_expired_end" sourceRef="expire_request" targetRef="expired" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def inbound_gateway(api, orc):
    seed_request_form(orc)
    response = deploy_de(api, {"rma_inbound.bpmn": INBOUND_GATEWAY})
    assert response.status_code == 201, response.get_json()
    return orc


def _awaiting_parcel(api, orc) -> dict:
    """An online request to DE, authorised for shipment: the RMA waits at the event-based gateway."""
    made = request_service.submit_request(
        orc,
        {
            "centre": "DE",
            "customer": {"name": "Jonas Weber", "email": "jonas@example.com", "language": "de"},
            "product": {
                "model": CAMERA_MODEL["model"],
                "serial_number": "SN-GW-1",
                "purchase_date": (date.today() - timedelta(days=200)).isoformat(),
            },
            "fault_description": "Does not power on",
        },
        "receipt.pdf",
        PDF,
        "198.51.100.7",
    )
    request_service.answer_troubleshooting(orc, made["tracking_token"], {"troubleshoot_solved": False})
    [rma] = api.get("manager", "/api/rmas", query_string={"q": made["number"]}).get_json()["items"]
    api.do("de.reception", rma["id"], "review_request", {"review_decision": "ship_in"})
    return api.rma("de.reception", rma["id"])


def _next_timer_at(orc, rma_id):
    with orc.uow() as uow:
        return uow.session.get(Instance, rma_id).next_timer_at


def _status(orc, rma_id) -> str:
    with orc.uow() as uow:
        return uow.session.get(Rma, rma_id).status


def test_event_based_gateway_expires_after_30_days_when_no_parcel_comes(api, inbound_gateway):
    orc = inbound_gateway
    before = utcnow()
    rma = _awaiting_parcel(api, orc)
    assert rma["status"] == "awaiting_unit"
    due = as_utc(_next_timer_at(orc, rma["id"]))  # the gateway's timer is scheduled
    assert before + timedelta(days=30) <= due <= utcnow() + timedelta(days=30)
    with time_machine.travel(due - timedelta(days=1), tick=False) as clock:  # time is moved, never slept
        fire_due_timers(orc)
        assert _status(orc, rma["id"]) == "awaiting_unit"  # not yet
        clock.move_to(due + timedelta(minutes=1))
        fire_due_timers(orc)
    after = api.rma("de.reception", rma["id"])
    assert (after["status"], after["outcome"]) == ("closed", "expired")
    fired = [e for e in after["history"] if e["kind"] == "timer_fired"]
    assert [e["data"]["events"] for e in fired] == [["thirty_days"]]  # the branch's timer event, not the gateway
    assert api.post("de.reception", "/api/parcels", {"number": rma["number"]}).status_code == 409


def test_event_based_gateway_accepts_the_parcel_scan_before_the_30_days(api, inbound_gateway, client):
    orc = inbound_gateway
    rma = _awaiting_parcel(api, orc)
    with client.session_transaction() as sess:
        staff_session(sess, client.application, "de.reception")
    page = client.get(f"/rmas/{rma['id']}").get_data(as_text=True)
    assert "Waiting for <strong>parcel_received</strong>" in page
    booked = api.post("de.reception", "/api/parcels", {"number": rma["number"]})
    assert booked.status_code == 200, booked.get_json()
    assert api.only_task("de.reception", rma["id"])["name"] == "record_condition"
    assert process_data(orc, rma["id"])["parcel"]["received_by"] == "de.reception"  # the gateway's branch took it
    assert _next_timer_at(orc, rma["id"]) is None  # the 30-day branch is gone with the gateway
    fire_due_timers(orc, now=utcnow() + timedelta(days=31))
    assert api.rma("de.reception", rma["id"])["status"] == "received"
    assert "Waiting for" not in client.get(f"/rmas/{rma['id']}").get_data(as_text=True)
    assert api.rma("de.reception", rma["id"])["awaiting_messages"] == []


# ------------------------------------------------------------------------------------------------------------------
# any awaited message, delivered by an integrator: POST /api/rmas/<id>/messages/<name>

CUSTOMS_MESSAGE = '  <bpmn:message id="customs_message" name="customs_cleared" />\n'
AWAIT_CUSTOMS = """
    <bpmn:receiveTask id="mid_in" name="Wait for customs" messageRef="customs_message">
      <bpmn:extensionElements>
        <spiffworkflow:messageVariable>customs</spiffworkflow:messageVariable>
        <spiffworkflow:properties>
          <spiffworkflow:property name="rmaStatus" value="received" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f_mid</bpmn:incoming><bpmn:outgoing>f_x</bpmn:outgoing>
    </bpmn:receiveTask>
    <bpmn:sequenceFlow id="f_x" sourceRef="mid_in" targetRef="mid_out" />
    <bpmn:scriptTask id="mid_out" name="Record the customs reference"><bpmn:incoming>f_x</bpmn:incoming>
      <bpmn:outgoing>f_end</bpmn:outgoing><bpmn:script>customs_reference = customs['reference']</bpmn:script>
    </bpmn:scriptTask>
"""


@pytest.fixture
def customs(api):
    """DE's intake waits, after the condition is recorded, for the message customs_cleared from an integrator."""
    deployed = deploy_de(api, {"rma_intake.bpmn": intake(AWAIT_CUSTOMS, CUSTOMS_MESSAGE)})
    assert deployed.status_code == 201, deployed.get_json()
    rma = api.open_rma("de.reception", centre="DE")
    return rma


def _deliver(api, username, rma_id, name="customs_cleared", data=None):
    return api.post(username, f"/api/rmas/{rma_id}/messages/{name}", {"data": data or {}})


def test_a_message_the_rma_waits_for_is_delivered_with_202_and_its_payload_lands_in_the_data(api, orc, customs, client):
    rma = customs
    early = _deliver(api, "de.reception", rma["id"], data={"reference": "C-0"})
    assert early.status_code == 409  # it waits for the condition to be recorded, not for the message
    assert "not waiting for the message 'customs_cleared'" in early.get_json()["message"]
    api.do("de.reception", rma["id"], "record_condition", INTAKE)
    assert api.rma("de.reception", rma["id"])["status"] == "received"
    with client.session_transaction() as sess:
        staff_session(sess, client.application, "de.tech")
    page = client.get(f"/rmas/{rma['id']}").get_data(as_text=True)
    assert "Waiting for <strong>customs_cleared</strong>" in page
    assert f"POST /api/rmas/{rma['id']}/messages/customs_cleared" in page
    [waits] = api.rma("de.reception", rma["id"])["awaiting_messages"]  # the same, for integrators
    via = f"POST /api/rmas/{rma['id']}/messages/customs_cleared"
    assert (waits["message"], waits["via"]) == ("customs_cleared", via)

    assert _deliver(api, "de.reception", rma["id"], name="parcel_received").status_code == 409
    assert _deliver(api, "de.reception", 999_999).status_code == 404
    assert _deliver(api, "sg.reception", rma["id"]).status_code == 404  # another centre's RMA does not exist
    delivered = _deliver(api, "de.tech", rma["id"], data={"reference": "C-42", "broker": "Zoll GmbH"})
    assert delivered.status_code == 202, delivered.get_json()
    assert delivered.get_json() == {
        "message": "customs_cleared",
        "rma": {"id": rma["id"], "number": rma["number"], "status": "diagnosing", "stage": "diagnosis"},
    }
    data = process_data(orc, rma["id"])
    assert data["customs"] == {"reference": "C-42", "broker": "Zoll GmbH"} and data["customs_reference"] == "C-42"
    assert _deliver(api, "de.tech", rma["id"], data={"reference": "C-43"}).status_code == 409  # once only
    history = api.rma("de.reception", rma["id"])["history"]
    assert [e["data"]["message"] for e in history if e["kind"] == "message_delivered"] == ["customs_cleared"]
    assert "Waiting for" not in client.get(f"/rmas/{rma['id']}").get_data(as_text=True)


@SQLITE_ONLY
def test_a_payload_a_column_cannot_store_is_refused_and_the_message_waits(api, customs):
    rma = customs
    api.do("de.reception", rma["id"], "record_condition", INTAKE)
    refused = _deliver(api, "de.tech", rma["id"], data={"reference": "C\x00"})
    assert refused.status_code == 422, refused.get_json()
    too_long = api.post("de.tech", f"/api/rmas/{rma['id']}/messages/{'m' * 201}", {"data": {}})
    assert too_long.status_code == 422
    assert api.rma("de.reception", rma["id"])["status"] == "received"
    assert _deliver(api, "de.tech", rma["id"], data={"reference": "C-1"}).status_code == 202


MESSAGE_OR_TIMER = """
    <bpmn:intermediateCatchEvent id="mid_in" name="Customs cleared, or 5 days pass">
      <bpmn:incoming>f_mid</bpmn:incoming><bpmn:outgoing>f_x</bpmn:outgoing>
      <bpmn:messageEventDefinition id="customs_def" messageRef="customs_message">
        <bpmn:extensionElements>
          <spiffworkflow:messageVariable>customs</spiffworkflow:messageVariable>
        </bpmn:extensionElements>
      </bpmn:messageEventDefinition>
      <bpmn:timerEventDefinition id="five_days">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P5D"</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f_x" sourceRef="mid_in" targetRef="mid_out" />
    <bpmn:scriptTask id="mid_out" name="Note how it went on"><bpmn:incoming>f_x</bpmn:incoming>
      <bpmn:outgoing>f_end</bpmn:outgoing><bpmn:script>went_on = True</bpmn:script>
    </bpmn:scriptTask>
"""


@SQLITE_ONLY
@pytest.mark.parametrize("way", ["message", "timer"])
def test_a_multiple_event_catch_has_its_timer_scheduled_and_takes_its_message(api, orc, way):
    deployed = deploy_de(api, {"rma_intake.bpmn": intake(MESSAGE_OR_TIMER, CUSTOMS_MESSAGE)})
    assert deployed.status_code == 201, deployed.get_json()
    rma = api.open_rma("de.reception", centre="DE")
    before = utcnow()
    api.do("de.reception", rma["id"], "record_condition", INTAKE)
    due = as_utc(_next_timer_at(orc, rma["id"]))
    assert before + timedelta(days=5) <= due <= utcnow() + timedelta(days=5)
    if way == "message":
        delivered = _deliver(api, "de.reception", rma["id"], data={"reference": "C-7"})
        assert delivered.status_code == 202, delivered.get_json()
        assert process_data(orc, rma["id"])["customs"] == {"reference": "C-7"}
    else:
        with time_machine.travel(due + timedelta(minutes=1), tick=False):
            fire_due_timers(orc)
        assert "customs" not in process_data(orc, rma["id"])
        assert _deliver(api, "de.reception", rma["id"]).status_code == 409  # too late: it went on
    after = api.rma("de.reception", rma["id"])
    assert after["status"] == "diagnosing" and [t["name"] for t in after["open_tasks"]] == ["diagnose"]
    assert _next_timer_at(orc, rma["id"]) is None or as_utc(_next_timer_at(orc, rma["id"])) != due


CORRELATED_MESSAGES = """
  <bpmn:collaboration id="intake_collaboration">
    <bpmn:correlationKey name="shipment_key">
      <bpmn:correlationPropertyRef>shipment</bpmn:correlationPropertyRef>
    </bpmn:correlationKey>
  </bpmn:collaboration>
  <bpmn:message id="customs_message" name="customs_cleared" />
  <bpmn:message id="release_message" name="customs_released" />
  <bpmn:correlationProperty id="shipment" name="shipment">
    <bpmn:correlationPropertyRetrievalExpression messageRef="customs_message">
      <bpmn:formalExpression>shipment_id</bpmn:formalExpression>
    </bpmn:correlationPropertyRetrievalExpression>
    <bpmn:correlationPropertyRetrievalExpression messageRef="release_message">
      <bpmn:formalExpression>shipment_id</bpmn:formalExpression>
    </bpmn:correlationPropertyRetrievalExpression>
  </bpmn:correlationProperty>
"""
CLEARED_THEN_RELEASED = """
    <bpmn:receiveTask id="mid_in" name="Wait for customs" messageRef="customs_message">
      <bpmn:extensionElements>
        <spiffworkflow:messageVariable>customs</spiffworkflow:messageVariable>
      </bpmn:extensionElements>
      <bpmn:incoming>f_mid</bpmn:incoming><bpmn:outgoing>f_x</bpmn:outgoing>
    </bpmn:receiveTask>
    <bpmn:sequenceFlow id="f_x" sourceRef="mid_in" targetRef="mid_out" />
    <bpmn:receiveTask id="mid_out" name="Wait for the release" messageRef="release_message">
      <bpmn:extensionElements>
        <spiffworkflow:messageVariable>release</spiffworkflow:messageVariable>
      </bpmn:extensionElements>
      <bpmn:incoming>f_x</bpmn:incoming><bpmn:outgoing>f_end</bpmn:outgoing>
    </bpmn:receiveTask>
"""


def test_a_second_message_must_carry_the_correlation_key_the_first_set(api, orc):
    deployed = deploy_de(api, {"rma_intake.bpmn": intake(CLEARED_THEN_RELEASED, CORRELATED_MESSAGES)})
    assert deployed.status_code == 201, deployed.get_json()
    rma = api.open_rma("de.reception", centre="DE")
    api.do("de.reception", rma["id"], "record_condition", INTAKE)
    first = _deliver(api, "de.tech", rma["id"], data={"shipment_id": "S-1", "office": "Leipzig"})
    assert first.status_code == 202, first.get_json()
    other = _deliver(api, "de.tech", rma["id"], name="customs_released", data={"shipment_id": "S-2"})
    assert other.status_code == 409 and "correlation" in other.get_json()["message"]
    right = _deliver(api, "de.tech", rma["id"], name="customs_released", data={"shipment_id": "S-1"})
    assert right.status_code == 202, right.get_json()
    assert right.get_json()["rma"]["status"] == "diagnosing"
    data = process_data(orc, rma["id"])
    assert data["customs"]["office"] == "Leipzig" and data["release"] == {"shipment_id": "S-1"}


def test_a_message_cannot_write_a_fact_the_guard_rails_rely_on(api):
    """With the message API, a messageVariable is a writer like any other: one named after a policy fact (here
    `in_warranty`, on the receive task as SpiffArena writes it) is refused at deploy naming the element."""
    forged = AWAIT_CUSTOMS.replace(
        "<spiffworkflow:messageVariable>customs</spiffworkflow:messageVariable>",
        "<spiffworkflow:messageVariable>in_warranty</spiffworkflow:messageVariable>",
    ).replace("customs_reference = customs['reference']", "noted = True")
    refused = deploy_de(api, {"rma_intake.bpmn": intake(forged, CUSTOMS_MESSAGE)})
    assert refused.status_code == 422, refused.get_json()
    errors = refused.get_json()["errors"]
    assert any(e["element"] == "mid_in" and "in_warranty" in e["message"] for e in errors), errors
