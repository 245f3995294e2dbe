"""A diagnosis stage that uses every spiffworkflow: extension and the SpiffWorkflow constructs that reference
variables rather than elements (issue 15.7): the modeler round trip must keep all of it.

`rma_diagnosis` runs: the diagnosis (properties, instructions, pre and post scripts), a parallel multi-instance
script over a collection (loopDataInputRef / inputDataItem / loopDataOutputRef / outputDataItem), a sequential
multi-instance by cardinality, a data object, a script with unit tests and a call activity. `rma_diagnosis_inbox`,
which nothing calls (a warning), holds the message constructs (a receive task with a message variable and a
correlated message, a send task with a payload, a service task with its operator, a business rule task). Every
element has DI, laid out on a simple grid, so bpmn-js shows it all."""

from __future__ import annotations

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="kitchen_sink_definitions" targetNamespace="urn:rma-orchestrator:processes">
  <bpmn:collaboration id="kitchen_sink_collaboration">
    <bpmn:participant id="diagnosis_participant" name="RMA diagnosis" processRef="rma_diagnosis" />
    <bpmn:participant id="inbox_participant" name="Diagnosis inbox" processRef="rma_diagnosis_inbox" />
    <bpmn:correlationKey name="lab_key" id="lab_key">
      <bpmn:correlationPropertyRef>lab_rma_number</bpmn:correlationPropertyRef>
    </bpmn:correlationKey>
  </bpmn:collaboration>
  <bpmn:correlationProperty id="lab_rma_number" name="lab_rma_number">
    <bpmn:correlationPropertyRetrievalExpression messageRef="lab_report">
      <bpmn:formalExpression>rma_number</bpmn:formalExpression>
    </bpmn:correlationPropertyRetrievalExpression>
  </bpmn:correlationProperty>
  <bpmn:message id="lab_report" name="lab_report">
    <bpmn:extensionElements>
      <spiffworkflow:messagePayload>{"rma_number": rma_number}</spiffworkflow:messagePayload>
    </bpmn:extensionElements>
  </bpmn:message>
"""
DIAGNOSIS_PROCESS = """  <bpmn:process id="rma_diagnosis" name="RMA diagnosis" isExecutable="true">
    <bpmn:documentation>Every extension a process owner may draw.</bpmn:documentation>
    <bpmn:laneSet id="diagnosis_lanes">
      <bpmn:lane id="lane_technician" name="Technician">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>diagnose</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>check_parts</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>count_rounds</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>summarise</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>extras</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:dataObject id="parts_object" />
    <bpmn:startEvent id="start" name="Unit ready"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="diagnose" name="Diagnose fault">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="diagnose.json" />
          <spiffworkflow:property name="rmaStatus" value="diagnosing" />
        </spiffworkflow:properties>
        <spiffworkflow:instructionsForEndUser>Check the **seals** of {{ serial_number }}.
        </spiffworkflow:instructionsForEndUser>
        <spiffworkflow:preScript>parts = ["lens", "board"]</spiffworkflow:preScript>
        <spiffworkflow:postScript>diagnosed_parts = len(parts)</spiffworkflow:postScript>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:scriptTask id="check_parts" name="Check each part">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopDataInputRef>parts</bpmn:loopDataInputRef>
        <bpmn:loopDataOutputRef>checked_parts</bpmn:loopDataOutputRef>
        <bpmn:inputDataItem id="part" name="part" />
        <bpmn:outputDataItem id="checked" name="checked" />
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:script>checked = part.upper()</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:scriptTask id="count_rounds" name="Count rounds">
      <bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics isSequential="true">
        <bpmn:loopCardinality>2</bpmn:loopCardinality>
        <bpmn:loopDataOutputRef>rounds</bpmn:loopDataOutputRef>
        <bpmn:outputDataItem id="round" name="round" />
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:script>round = 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:scriptTask id="summarise" name="Summarise">
      <bpmn:extensionElements>
        <spiffworkflow:unitTests>
          <spiffworkflow:unitTest id="summarise_two">
            <spiffworkflow:inputJson>{"checked_parts": ["A", "B"]}</spiffworkflow:inputJson>
            <spiffworkflow:expectedOutputJson>{"parts_summary": "A, B"}</spiffworkflow:expectedOutputJson>
          </spiffworkflow:unitTest>
        </spiffworkflow:unitTests>
      </bpmn:extensionElements>
      <bpmn:incoming>f4</bpmn:incoming>
      <bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:dataOutputAssociation id="to_parts_object">
        <bpmn:targetRef>parts_ref</bpmn:targetRef>
      </bpmn:dataOutputAssociation>
      <bpmn:script>parts_summary = ", ".join(checked_parts)
parts_object = parts_summary</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:dataObjectReference id="parts_ref" name="Parts" dataObjectRef="parts_object" />
    <bpmn:callActivity id="extras" name="Extras" calledElement="diagnosis_extras">
      <bpmn:incoming>f5</bpmn:incoming>
      <bpmn:outgoing>f6</bpmn:outgoing>
    </bpmn:callActivity>
    <bpmn:endEvent id="end" name="Diagnosed"><bpmn:incoming>f6</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="diagnose" />
    <bpmn:sequenceFlow id="f2" sourceRef="diagnose" targetRef="check_parts" />
    <bpmn:sequenceFlow id="f3" sourceRef="check_parts" targetRef="count_rounds" />
    <bpmn:sequenceFlow id="f4" sourceRef="count_rounds" targetRef="summarise" />
    <bpmn:sequenceFlow id="f5" sourceRef="summarise" targetRef="extras" />
    <bpmn:sequenceFlow id="f6" sourceRef="extras" targetRef="end" />
  </bpmn:process>
"""
INBOX_PROCESS = """  <bpmn:process id="rma_diagnosis_inbox" name="Diagnosis inbox" isExecutable="true">
    <bpmn:startEvent id="inbox_start"><bpmn:outgoing>g1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:receiveTask id="await_lab" name="Await the lab report" messageRef="lab_report">
      <bpmn:extensionElements>
        <spiffworkflow:messageVariable>lab_report</spiffworkflow:messageVariable>
      </bpmn:extensionElements>
      <bpmn:incoming>g1</bpmn:incoming>
      <bpmn:outgoing>g2</bpmn:outgoing>
    </bpmn:receiveTask>
    <bpmn:sendTask id="tell_lab" name="Tell the lab" messageRef="lab_report">
      <bpmn:incoming>g2</bpmn:incoming>
      <bpmn:outgoing>g3</bpmn:outgoing>
    </bpmn:sendTask>
    <bpmn:serviceTask id="tell_erp" name="Tell the ERP">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="http/PostRequest" resultVariable="erp_answer">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="url" type="str" value="erp_url" />
            <spiffworkflow:parameter id="data" type="any" value="{&#34;rma&#34;: rma_number}" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>g3</bpmn:incoming>
      <bpmn:outgoing>g4</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:businessRuleTask id="decide_route" name="Decide the route">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>lab_route</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
      <bpmn:incoming>g4</bpmn:incoming>
      <bpmn:outgoing>g5</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:endEvent id="inbox_end"><bpmn:incoming>g5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="g1" sourceRef="inbox_start" targetRef="await_lab" />
    <bpmn:sequenceFlow id="g2" sourceRef="await_lab" targetRef="tell_lab" />
    <bpmn:sequenceFlow id="g3" sourceRef="tell_lab" targetRef="tell_erp" />
    <bpmn:sequenceFlow id="g4" sourceRef="tell_erp" targetRef="decide_route" />
    <bpmn:sequenceFlow id="g5" sourceRef="decide_route" targetRef="inbox_end" />
  </bpmn:process>
"""
EXTRAS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="extras_definitions" targetNamespace="urn:rma-orchestrator:processes">
  <bpmn:process id="diagnosis_extras" name="Diagnosis extras" isExecutable="true">
    <bpmn:startEvent id="x_start"><bpmn:outgoing>x1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="note_extras" name="Note the extras">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="auditNote" value="extras noted" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>x1</bpmn:incoming>
      <bpmn:outgoing>x2</bpmn:outgoing>
      <bpmn:script>extras_noted = True</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="x_end"><bpmn:incoming>x2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="x1" sourceRef="x_start" targetRef="note_extras" />
    <bpmn:sequenceFlow id="x2" sourceRef="note_extras" targetRef="x_end" />
  </bpmn:process>
</bpmn:definitions>
"""
SHAPED = {"startEvent", "endEvent", "userTask", "scriptTask", "callActivity", "receiveTask", "sendTask",
          "serviceTask", "businessRuleTask", "dataObjectReference"}  # fmt: skip


def with_di(xml: str) -> str:
    """`xml` with a diagram: participants and lanes as bands, flow nodes in a row, flows as straight edges."""
    root = etree.fromstring(xml.encode("utf-8"))
    di_ns = "http://www.omg.org/spec/BPMN/20100524/DI"
    dc_ns = "http://www.omg.org/spec/DD/20100524/DC"
    dd_ns = "http://www.omg.org/spec/DD/20100524/DI"
    collaboration = root.find(f"{{{BPMN}}}collaboration")
    plane_of = collaboration.get("id") if collaboration is not None else root.find(f"{{{BPMN}}}process").get("id")
    diagram = etree.SubElement(root, f"{{{di_ns}}}BPMNDiagram", id="kitchen_sink_diagram")
    plane = etree.SubElement(diagram, f"{{{di_ns}}}BPMNPlane", id="kitchen_sink_plane", bpmnElement=plane_of)
    centres: dict[str, tuple[int, int]] = {}

    def shape(element: str, x: int, y: int, w: int, h: int, **extra: str) -> None:
        node = etree.SubElement(plane, f"{{{di_ns}}}BPMNShape", id=f"{element}_di", bpmnElement=element, **extra)
        etree.SubElement(node, f"{{{dc_ns}}}Bounds", x=str(x), y=str(y), width=str(w), height=str(h))
        centres[element] = (x + w // 2, y + h // 2)

    participants = {p.get("processRef"): p.get("id") for p in root.iter(f"{{{BPMN}}}participant")}
    for row, process in enumerate(root.iter(f"{{{BPMN}}}process")):
        top = 80 + row * 260
        nodes = [el for el in process if etree.QName(el).localname in SHAPED]
        width = 120 + 150 * len(nodes)
        if process.get("id") in participants:
            shape(participants[process.get("id")], 100, top, width + 60, 220, isHorizontal="true")
        for lane in process.iter(f"{{{BPMN}}}lane"):
            shape(lane.get("id"), 130, top, width + 30, 220, isHorizontal="true")
        for i, el in enumerate(nodes):
            small = etree.QName(el).localname in ("startEvent", "endEvent", "dataObjectReference")
            w, h = (36, 36) if small else (100, 80)
            below = 70 if el.get("id") == "parts_ref" else 0
            shape(el.get("id"), 180 + 150 * i, top + 110 - h // 2 + below, w, h)
        for flow in process.iter(f"{{{BPMN}}}sequenceFlow"):
            flow_id = flow.get("id")
            edge = etree.SubElement(plane, f"{{{di_ns}}}BPMNEdge", id=f"{flow_id}_di", bpmnElement=flow_id)
            for end in (flow.get("sourceRef"), flow.get("targetRef")):
                x, y = centres[end]
                etree.SubElement(edge, f"{{{dd_ns}}}waypoint", x=str(x), y=str(y))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


DIAGNOSIS_FILE = with_di(HEAD + DIAGNOSIS_PROCESS + INBOX_PROCESS + "</bpmn:definitions>\n")
EXTRAS_FILE = with_di(EXTRAS)
LAB_ROUTE = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="lab_route_definitions" name="Lab route"
    namespace="urn:rma-orchestrator:decisions" expressionLanguage="python">
  <decision id="lab_route" name="Lab route">
    <decisionTable id="lab_route_table" hitPolicy="UNIQUE">
      <input id="lab_input" label="Lab report">
        <inputExpression id="lab_input_expression" typeRef="string"><text>lab_report</text></inputExpression>
      </input>
      <output id="lab_output" label="Route" name="lab_route" typeRef="string" />
      <rule id="lab_any">
        <inputEntry id="lab_any_in"><text>-</text></inputEntry>
        <outputEntry id="lab_any_out"><text>"bench"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""
FILES = {
    "stages/rma_diagnosis.bpmn": DIAGNOSIS_FILE,
    "stages/diagnosis_extras.bpmn": EXTRAS_FILE,
    "decisions/lab_route.dmn": LAB_ROUTE,
}
