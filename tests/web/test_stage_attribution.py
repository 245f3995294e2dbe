"""Issue 15.10: a task inside a subprocess or a nested call activity belongs to the enclosing stage.

A centre variant of the diagnosis stage whose diagnosis runs inside an embedded subprocess (`inspection`) and then
calls another process (`diagnosis_check`, not a stage of the skeleton) for a confirmation. Deployed through the
deploy API and driven over the HTTP API: the inbox, the RMA and the customer's tracking page say `diagnosis` for
both tasks, and the customer's estimate does not jump back to the first step."""

from __future__ import annotations

import io
import re

import pytest

from engine.process.stages import enclosing_stage
from tests.bpmn_edit import add_plain_centre, simple_form
from tests.helpers import INTAKE, rma_payload

DIAGNOSIS_DATA = {"diagnosis": "Dead board", "fault_category": "electronic", "parts_cost": 100, "labour_hours": 2}
HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="{pid}_definitions" targetNamespace="urn:rma-orchestrator:processes">
"""
DIAGNOSIS_VARIANT = (
    HEAD.format(pid="rma_diagnosis")
    + """  <bpmn:process id="rma_diagnosis" name="RMA diagnosis" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_technician" name="Technician">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>inspection</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>check</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:subProcess id="inspection" name="Inspection">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:laneSet id="inspection_lanes">
        <bpmn:lane id="inspection_technician" name="Technician">
          <bpmn:flowNodeRef>inspection_start</bpmn:flowNodeRef>
          <bpmn:flowNodeRef>diagnose</bpmn:flowNodeRef>
          <bpmn:flowNodeRef>inspection_end</bpmn:flowNodeRef>
        </bpmn:lane>
      </bpmn:laneSet>
      <bpmn:startEvent id="inspection_start"><bpmn:outgoing>s1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:userTask id="diagnose" name="Diagnose fault">
        <bpmn:extensionElements>
          <spiffworkflow:properties>
            <spiffworkflow:property name="formJsonSchemaFilename" value="diagnose.json" />
            <spiffworkflow:property name="rmaStatus" value="diagnosing" />
          </spiffworkflow:properties>
        </bpmn:extensionElements>
        <bpmn:incoming>s1</bpmn:incoming>
        <bpmn:outgoing>s2</bpmn:outgoing>
      </bpmn:userTask>
      <bpmn:endEvent id="inspection_end"><bpmn:incoming>s2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="s1" sourceRef="inspection_start" targetRef="diagnose" />
      <bpmn:sequenceFlow id="s2" sourceRef="diagnose" targetRef="inspection_end" />
    </bpmn:subProcess>
    <bpmn:callActivity id="check" name="Check the diagnosis" calledElement="diagnosis_check">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:callActivity>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="inspection" />
    <bpmn:sequenceFlow id="f2" sourceRef="inspection" targetRef="check" />
    <bpmn:sequenceFlow id="f3" sourceRef="check" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
)
CHECK_PROCESS = (
    HEAD.format(pid="diagnosis_check")
    + """  <bpmn:process id="diagnosis_check" name="Diagnosis check" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_technician" name="Technician">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>confirm_diagnosis</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="confirm_diagnosis" name="Confirm the diagnosis">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="confirm_diagnosis.json" />
          <spiffworkflow:property name="rmaStatus" value="diagnosing" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="confirm_diagnosis" />
    <bpmn:sequenceFlow id="f2" sourceRef="confirm_diagnosis" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
)
VARIANT = {
    "rma_diagnosis.bpmn": DIAGNOSIS_VARIANT,
    "diagnosis_check.bpmn": CHECK_PROCESS,
    "confirm_diagnosis.json": simple_form("Confirm", "confirmed_by", "Confirmed by"),
}


def test_enclosing_stage_is_the_process_the_skeleton_called():
    assert enclosing_stage([("rma", False), ("rma_diagnosis", True)]) == "diagnosis"
    assert enclosing_stage([("rma", False), ("rma_diagnosis", True), ("inspection", False)]) == "diagnosis"
    assert enclosing_stage([("rma", False), ("rma_diagnosis", True), ("x", False), ("helper", True)]) == "diagnosis"
    assert enclosing_stage([("rma", False), ("skeleton_sub", False), ("rma_repair", True)]) == "repair"
    assert enclosing_stage([("rma", False)]) == "rma"


def _deploy_variant(api, centre: str):
    data = {"files": [(io.BytesIO(t.encode()), n) for n, t in VARIANT.items()], "centre": centre}
    return api.client.post(
        "/api/processes/deploy", data=data, headers=api.headers("owner"), content_type="multipart/form-data"
    )


def _task(api, rma_id: int, name: str) -> dict:
    items = api.get("nl.tech", "/api/tasks", query_string={"rma_id": rma_id}).get_json()["items"]
    assert [t["name"] for t in items] == [name]
    return items[0]


def _tracking(api, token: str) -> dict:
    response = api.client.get(f"/api/portal/{token}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def nl_api(api, orc):
    add_plain_centre(orc, "NL")
    return api


def _staff_session(app, username: str):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    done = client.post("/login", data={"username": username, "password": "demo", "csrf_token": csrf})
    assert done.status_code == 302
    return client


def _pages_stage(staff, rma_id: int) -> tuple[str, str]:
    """The stage of the RMA's task in the inbox, and the RMA page's stage."""
    inbox = staff.get("/inbox").get_data(as_text=True)
    in_inbox = re.findall(r'<td data-label="Stage">([^<]*)</td>', inbox)
    page = staff.get(f"/rmas/{rma_id}").get_data(as_text=True)
    on_page = re.search(r"<dt>Stage</dt><dd>([^<]*)</dd>", page)
    assert len(in_inbox) == 1 and on_page, (in_inbox, on_page)
    return in_inbox[0].strip(), on_page.group(1).strip()


def test_tasks_in_a_subprocess_and_a_called_process_show_the_enclosing_stage(nl_api, app):
    api = nl_api
    deployed = _deploy_variant(api, "NL")
    assert deployed.status_code == 201, deployed.get_json()
    rma = api.post("nl.reception", "/api/rmas", rma_payload(centre="NL")).get_json()
    api.do("nl.reception", rma["id"], "record_condition", INTAKE)

    # the diagnosis, inside the subprocess 'inspection'
    diagnose = _task(api, rma["id"], "diagnose")
    assert diagnose["stage"] == "diagnosis"
    assert api.rma("nl.tech", rma["id"])["stage"] == "diagnosis"
    tracking = _tracking(api, rma["tracking_token"])
    assert tracking["stage"] == "diagnosis"
    assert [s["key"] for s in tracking["steps"] if s["state"] == "current"] == ["diagnosing"]
    estimate = (tracking["eta"]["low_days"], tracking["eta"]["high_days"])
    staff = _staff_session(app, "nl.tech")
    assert _pages_stage(staff, rma["id"]) == ("Diagnosis", "Diagnosis")

    # the confirmation, in the process the stage calls
    assert api.complete("nl.tech", diagnose["id"], DIAGNOSIS_DATA).status_code == 200
    confirm = _task(api, rma["id"], "confirm_diagnosis")
    assert confirm["stage"] == "diagnosis"
    assert api.rma("nl.tech", rma["id"])["stage"] == "diagnosis"
    tracking = _tracking(api, rma["tracking_token"])
    assert tracking["stage"] == "diagnosis"
    assert [s["key"] for s in tracking["steps"] if s["state"] == "current"] == ["diagnosing"]
    # still in the diagnosis step: the estimate neither restarts from the first step nor grows
    assert (tracking["eta"]["low_days"], tracking["eta"]["high_days"]) <= estimate
    assert _pages_stage(staff, rma["id"]) == ("Diagnosis", "Diagnosis")

    # and on: the next stage is the next stage
    assert api.complete("nl.tech", confirm["id"], {"confirmed_by": "Lee"}).status_code == 200
    assert api.rma("nl.tech", rma["id"])["stage"] != "diagnosis"
