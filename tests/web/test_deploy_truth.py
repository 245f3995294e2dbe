"""Issue 15.9 and the XSD half of 15.7, through the deploy API: what a deploy says is true and names the uploaded
file and element; what SpiffWorkflow and SpiffArena accept is not refused by the XSD step.

Each case uploads one stage file as a centre variant (NL) over the shipped processes, as a process owner would."""

from __future__ import annotations

import io
import re

import pytest
from lxml import etree

from engine.services import processes
from tests.bpmn_edit import add_plain_centre, line_of
from tests.helpers import INTAKE, rma_payload

DIAGNOSIS = "stages/rma_diagnosis.bpmn"
DIAGNOSIS_DATA = {"diagnosis": "Dead board", "fault_category": "electronic", "parts_cost": 100, "labour_hours": 2}
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@pytest.fixture
def nl(api, orc):
    add_plain_centre(orc, "NL")
    with orc.reading() as s:
        api.shipped = dict(processes.latest_bundle(s, None).files)
    return api


def _upload(api, files: dict, path="/api/processes/deploy", centre="NL"):
    data = {"files": [(io.BytesIO(text.encode()), name) for name, text in files.items()]}
    if centre:
        data["centre"] = centre
    return api.client.post(path, data=data, headers=api.headers("owner"), content_type="multipart/form-data")


def _edited(xml: str, edit) -> str:
    root = etree.fromstring(xml.encode("utf-8"))
    edit(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


def _plain(errors: list) -> None:
    """No message is Python's: no exception repr, no element XML as bytes, no '?' for the file."""
    for e in errors:
        assert e["file"] != "?" and "b'<" not in e["message"] and 'b"<' not in e["message"], e
        assert not re.search(r"\w+(Error|Exception)\(", e["message"]), e


# --- a non-executable process -------------------------------------------------------------------------------------


def test_a_non_executable_stage_is_named_in_the_uploaded_file_not_the_skeleton(nl):
    stage = nl.shipped[DIAGNOSIS].replace('id="rma_diagnosis" name="RMA diagnosis" isExecutable="true"',
                                          'id="rma_diagnosis" name="RMA diagnosis" isExecutable="false"')  # fmt: skip
    assert stage != nl.shipped[DIAGNOSIS]
    response = _upload(nl, {"rma_diagnosis.bpmn": stage})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert [(e["file"], e["element"]) for e in errors] == [(DIAGNOSIS, "rma_diagnosis")], errors
    assert errors[0]["line"] == line_of(stage, 'isExecutable="false"')
    assert 'isExecutable="false"' in errors[0]["message"] and "rma.bpmn" not in errors[0]["message"]
    _plain(errors)


# --- data stores --------------------------------------------------------------------------------------------------


def _with_data_store(root):
    process = root.find(f"{{{BPMN}}}process")
    diagnose = process.find(f"{{{BPMN}}}userTask[@id='diagnose']")
    ref = etree.SubElement(process, f"{{{BPMN}}}dataStoreReference", id="parts_db_ref", dataStoreRef="parts_db")
    ref.tail = "\n"
    out = etree.SubElement(diagnose, f"{{{BPMN}}}dataOutputAssociation", id="to_parts_db")
    etree.SubElement(out, f"{{{BPMN}}}targetRef").text = "parts_db_ref"
    store = etree.Element(f"{{{BPMN}}}dataStore", id="parts_db", name="Parts database")
    root.find(f"{{{BPMN}}}process").addprevious(store)


def test_a_data_store_is_refused_as_not_supported_with_file_and_element(nl):
    stage = _edited(nl.shipped[DIAGNOSIS], _with_data_store)
    response = _upload(nl, {"rma_diagnosis.bpmn": stage})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert {(e["file"], e["element"]) for e in errors} == {(DIAGNOSIS, "parts_db_ref"), (DIAGNOSIS, "parts_db")}
    assert all("data stores are not supported" in e["message"] and e["line"] for e in errors)
    assert "Parts database" in next(e for e in errors if e["element"] == "parts_db_ref")["message"]
    _plain(errors)


# --- implicit end events ------------------------------------------------------------------------------------------


def _implicit_end(root):
    """The diagnosis ends after the task itself: no end event, no flow out of the task."""
    process = root.find(f"{{{BPMN}}}process")
    for el in list(process.iter()):
        if el.get("id") in ("end", "flow_to_end") or (
            isinstance(el.tag, str) and el.text in ("end", "flow_to_end") and el.tag != f"{{{BPMN}}}documentation"
        ):
            el.getparent().remove(el)
    for el in list(root.iter()):
        if el.get("bpmnElement") in ("end", "flow_to_end"):
            el.getparent().remove(el)


def test_an_activity_without_outgoing_flow_ends_its_path_and_the_rma_goes_on(nl):
    stage = _edited(nl.shipped[DIAGNOSIS], _implicit_end)
    assert 'id="end"' not in stage and "flow_to_end" not in stage
    response = _upload(nl, {"rma_diagnosis.bpmn": stage})
    assert response.status_code == 201, response.get_json()
    rma = nl.post("nl.reception", "/api/rmas", rma_payload(centre="NL", months_old=6)).get_json()
    nl.do("nl.reception", rma["id"], "record_condition", INTAKE)
    after = nl.do("nl.tech", rma["id"], "diagnose", DIAGNOSIS_DATA)

    # in warranty: the diagnosis stage ended with its task, and the skeleton went on to the repair
    assert after["stage"] == "repair" and nl.only_task("nl.tech", rma["id"])["name"] == "repair"


def test_a_gateway_without_outgoing_flow_is_still_refused(nl):
    def dead_end_gateway(root):
        process = root.find(f"{{{BPMN}}}process")
        flow = process.find(f"{{{BPMN}}}sequenceFlow[@id='flow_to_end']")
        flow.set("targetRef", "dead_end")
        gateway = etree.SubElement(process, f"{{{BPMN}}}exclusiveGateway", id="dead_end")
        etree.SubElement(gateway, f"{{{BPMN}}}incoming").text = "flow_to_end"
        for ref in root.iter(f"{{{BPMN}}}flowNodeRef"):
            if ref.text == "diagnose":
                etree.SubElement(ref.getparent(), f"{{{BPMN}}}flowNodeRef").text = "dead_end"

    response = _upload(nl, {"rma_diagnosis.bpmn": _edited(nl.shipped[DIAGNOSIS], dead_end_gateway)})
    assert response.status_code == 422
    messages = [e["message"] for e in response.get_json()["errors"] if e["element"] == "dead_end"]
    assert any("no outgoing sequence flow" in m for m in messages), response.get_json()


# --- compensation -------------------------------------------------------------------------------------------------


def _with_compensation(root):
    process = root.find(f"{{{BPMN}}}process")
    boundary = etree.SubElement(process, f"{{{BPMN}}}boundaryEvent", id="undo_diagnosis", attachedToRef="diagnose")
    etree.SubElement(boundary, f"{{{BPMN}}}compensateEventDefinition", id="undo_definition")
    handler = etree.SubElement(process, f"{{{BPMN}}}scriptTask", id="forget_diagnosis", isForCompensation="true")
    etree.SubElement(handler, f"{{{BPMN}}}script").text = "diagnosis = None"
    etree.SubElement(process, f"{{{BPMN}}}association", id="undo_link", sourceRef="undo_diagnosis",
                     targetRef="forget_diagnosis")  # fmt: skip
    for ref in root.iter(f"{{{BPMN}}}flowNodeRef"):
        if ref.text == "diagnose":
            for node in ("undo_diagnosis", "forget_diagnosis"):
                etree.SubElement(ref.getparent(), f"{{{BPMN}}}flowNodeRef").text = node


def test_compensation_is_refused_with_a_plain_reason(nl):
    stage = _edited(nl.shipped[DIAGNOSIS], _with_compensation)
    response = _upload(nl, {"rma_diagnosis.bpmn": stage})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert {e["element"] for e in errors} == {"undo_diagnosis", "forget_diagnosis"}, errors
    assert all(e["file"] == DIAGNOSIS and e["line"] and "compensation is not supported" in e["message"] for e in errors)
    _plain(errors)


# --- a process nothing calls --------------------------------------------------------------------------------------

ORPHAN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="orphan_definitions"
    targetNamespace="urn:t">
  <bpmn:process id="rma_orphan" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="tidy">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>SCRIPT</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="tidy" />
    <bpmn:sequenceFlow id="f2" sourceRef="tidy" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_process_nothing_calls_is_a_warning_in_the_deploy_answer(nl):
    orphan = ORPHAN.replace("SCRIPT", "tidied = True")
    checked = _upload(nl, {"rma_orphan.bpmn": orphan}, path="/api/processes/validate")
    assert checked.status_code == 200, checked.get_json()
    response = _upload(nl, {"rma_orphan.bpmn": orphan})
    assert response.status_code == 201, response.get_json()
    for answer in (checked.get_json(), response.get_json()):
        uncalled = [w for w in answer["warnings"] if "never runs" in w["message"]]
        assert [(w["file"], w["element"]) for w in uncalled] == [("stages/rma_orphan.bpmn", "rma_orphan")]
        assert uncalled[0]["line"] == line_of(orphan, 'id="rma_orphan"')
    plain = _upload(nl, {"rma_intake.bpmn": nl.shipped["stages/rma_intake.bpmn"]}, centre=None)
    assert plain.status_code == 200 and not [w for w in plain.get_json()["warnings"] if "never runs" in w["message"]]


def test_the_scripts_of_a_process_nothing_calls_are_checked_by_the_sandbox(nl):
    orphan = ORPHAN.replace("SCRIPT", "import os")
    response = _upload(nl, {"rma_orphan.bpmn": orphan})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert [(e["file"], e["element"]) for e in errors] == [("stages/rma_orphan.bpmn", "tidy")], errors
    assert errors[0]["message"].startswith("script refused") and errors[0]["line"] == line_of(orphan, 'id="tidy"')


# --- the XSD step ---------------------------------------------------------------------------------------------------


def test_an_xsd_error_on_an_element_without_an_id_names_the_nearest_element_with_one(nl):
    stage = nl.shipped[DIAGNOSIS].replace(
        '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P2D"</bpmn:timeDuration>',
        '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P2D"</bpmn:timeDuration>\n'
        "        <bpmn:timeCycle>R/P1D</bpmn:timeCycle>\n        <bpmn:bogus />",
    )
    assert "bpmn:bogus" in stage
    response = _upload(nl, {"rma_diagnosis.bpmn": stage})
    assert response.status_code == 422
    errors = [e for e in response.get_json()["errors"] if e["message"].startswith("XSD")]
    assert errors and all(e["element"] == "diagnosis_overdue_timer" for e in errors), errors
    assert errors[0]["line"] == line_of(stage, "<bpmn:timeCycle>")
    assert "{http" not in errors[0]["message"] and "bpmn:timeCycle" in errors[0]["message"]


SPIFFARENA_STAGE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Definitions_arena">
  <bpmn:collaboration id="collaboration">
    <bpmn:participant id="participant" processRef="rma_diagnosis" />
    <bpmn:correlationKey name="rma_key" id="rma_key">
      <bpmn:correlationPropertyRef>rma_number</bpmn:correlationPropertyRef>
    </bpmn:correlationKey>
  </bpmn:collaboration>
  <bpmn:correlationProperty id="rma_number" name="rma_number">
    <bpmn:correlationPropertyRetrievalExpression messageRef="lab_report">
      <bpmn:formalExpression>rma_number</bpmn:formalExpression>
    </bpmn:correlationPropertyRetrievalExpression>
  </bpmn:correlationProperty>
  <bpmn:message id="lab_report" name="lab_report">
    <bpmn:extensionElements>
      <spiffworkflow:messageVariable>lab_report</spiffworkflow:messageVariable>
    </bpmn:extensionElements>
  </bpmn:message>
  <bpmn:process id="rma_diagnosis" name="RMA diagnosis" isExecutable="true">
    <bpmn:documentation>Diagnosis as SpiffArena writes it.</bpmn:documentation>
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_technician" name="Technician">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>diagnose</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="diagnose" name="Diagnose fault">
      <bpmn:documentation>Look at the unit.</bpmn:documentation>
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="diagnose.json" />
          <spiffworkflow:property name="rmaStatus" value="diagnosing" />
        </spiffworkflow:properties>
        <spiffworkflow:instructionsForEndUser>Check the **seals**.</spiffworkflow:instructionsForEndUser>
        <spiffworkflow:preScript>checked_seals = False</spiffworkflow:preScript>
        <spiffworkflow:postScript>checked_seals = True</spiffworkflow:postScript>
        <spiffworkflow:allowGuest>false</spiffworkflow:allowGuest>
        <spiffworkflow:serviceTaskOperator id="unused_here" />
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:documentation>Written after the flows, as some modelers do.</bpmn:documentation>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="diagnose" />
    <bpmn:sequenceFlow id="f2" sourceRef="diagnose" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_the_xsd_step_accepts_what_spiffarena_writes(nl):
    """No targetNamespace, documentation after an element's flows, a correlation property's retrieval expression
    as bpmn-js writes it (formalExpression), and spiffworkflow: elements the extension's own XSD does not describe
    or describes more strictly than SpiffArena's modeler writes them."""
    response = _upload(nl, {"rma_diagnosis.bpmn": SPIFFARENA_STAGE})
    assert response.status_code == 201, response.get_json()
    rma = nl.post("nl.reception", "/api/rmas", rma_payload(centre="NL", months_old=6)).get_json()
    nl.do("nl.reception", rma["id"], "record_condition", INTAKE)
    after = nl.do("nl.tech", rma["id"], "diagnose", DIAGNOSIS_DATA)
    assert after["stage"] == "repair"


@pytest.mark.without_csrf
def test_the_upload_page_shows_the_warning_after_the_deploy(nl, app):
    from tests.helpers import staff_session

    client = app.test_client()
    with client.session_transaction() as sess:
        staff_session(sess, app, "owner")
    orphan = ORPHAN.replace("SCRIPT", "tidied = True")
    data = {"files": [(io.BytesIO(orphan.encode()), "rma_orphan.bpmn")], "centre": "NL", "note": "orphan"}
    response = client.post("/processes/upload", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    warning = re.search(r'<div class="flash flash-warning"[^>]*>([^<]*rma_orphan[^<]*)</div>', page)
    assert warning and "never runs" in warning.group(1) and "stages/rma_orphan.bpmn:4" in warning.group(1)


def test_a_property_without_a_value_is_named_not_a_bare_key(nl):
    status = '<spiffworkflow:property name="rmaStatus" value="diagnosing" />'
    stage = nl.shipped[DIAGNOSIS].replace(status, status + '\n          <spiffworkflow:property name="note" />', 1)
    response = _upload(nl, {"rma_diagnosis.bpmn": stage})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert [(e["file"], e["element"], e["line"]) for e in errors] == [
        (DIAGNOSIS, "diagnose", line_of(stage, '<spiffworkflow:property name="note" />'))
    ], errors
    assert "property note has no value attribute" in errors[0]["message"]
    _plain(errors)


def _repair_then_stop(root):
    """The skeleton: after the repair, a gateway sends a 'quick' RMA to a script with no outgoing flow."""
    process = next(p for p in root.iter(f"{{{BPMN}}}process") if p.get("id") == "rma")
    flow = process.find(f"{{{BPMN}}}sequenceFlow[@id='flow_to_qa']")
    flow.set("targetRef", "quick_or_not")
    gateway = etree.SubElement(process, f"{{{BPMN}}}exclusiveGateway", id="quick_or_not", default="flow_not_quick")
    script = etree.SubElement(process, f"{{{BPMN}}}scriptTask", id="wrap_up", name="Wrap up")
    etree.SubElement(script, f"{{{BPMN}}}script").text = "wrapped_up = True"
    quick = etree.SubElement(process, f"{{{BPMN}}}sequenceFlow", id="flow_quick", sourceRef="quick_or_not",
                             targetRef="wrap_up")  # fmt: skip
    etree.SubElement(quick, f"{{{BPMN}}}conditionExpression").text = "quick == True"
    etree.SubElement(process, f"{{{BPMN}}}sequenceFlow", id="flow_not_quick", sourceRef="quick_or_not",
                     targetRef="stage_qa")  # fmt: skip
    for incoming in process.find(f"{{{BPMN}}}callActivity[@id='stage_qa']").iterfind(f"{{{BPMN}}}incoming"):
        if incoming.text == "flow_to_qa":
            incoming.text = "flow_not_quick"
    del gateway


def test_a_path_that_ends_implicitly_is_a_path_for_the_policy(nl):
    """Ending after the repair without QA, by a task with no outgoing flow instead of an end event, is refused as
    the end event would be: implicit ends are ends of the policy's flow graph."""
    skeleton = _edited(nl.shipped["rma.bpmn"], _repair_then_stop)
    response = _upload(nl, {"rma.bpmn": skeleton})
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]
    assert [e["rule"] for e in errors if e.get("rule")] == ["return_after_qa_reaches_end"], errors
    assert "wrap_up" in [step["element"] for step in errors[0]["path"]]
