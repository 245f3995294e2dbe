"""Issue 15.1 and 15.6 through the deploy API: the company policy protects the facts it relies on, event
subprocesses and boundary events are paths, abstract tasks pass through and a human task needs a lane.

Every variant is centre DE's, uploaded as a process owner would (POST /api/processes/deploy, centre DE) and
refused with 422 naming the rule, the writer or the path, with file, element and line.
"""

from __future__ import annotations

import io
import json

import pytest
from lxml import etree

from engine.process.definitions import read_bundle_dir
from tests.bpmn_edit import NSMAP, insert_node, line_of
from tests.conftest import PROCESSES_DIR
from tests.driver import FORMS as STANDARD

DE = read_bundle_dir(PROCESSES_DIR, "DE")
WRAP = f'<w xmlns:bpmn="{NSMAP["bpmn"]}" xmlns:spiffworkflow="{NSMAP["spiffworkflow"]}">{{}}</w>'
LANES = "Reception, Technician, QA, Customer or Manager"


def _q(tag: str) -> str:
    prefix, local = tag.split(":")
    return f"{{{NSMAP[prefix]}}}{local}"


def _fragment(xml: str) -> list:
    return list(etree.fromstring(WRAP.format(xml)))


def stage(name: str) -> str:
    return DE[f"stages/{name}.bpmn"]


def add_children(xml: str, element_id: str, children: str, extension: bool = False) -> str:
    """Append `children` (BPMN/spiff XML) to element `element_id`, or to its extensionElements."""
    root = etree.fromstring(xml.encode("utf-8"))
    el = root.find(f".//*[@id='{element_id}']")
    assert el is not None, element_id
    if extension:
        holder = el.find(_q("bpmn:extensionElements"))
        if holder is None:
            holder = etree.Element(_q("bpmn:extensionElements"))
            el.insert(0 if el.find(_q("bpmn:documentation")) is None else 1, holder)
        el = holder
    for child in _fragment(children):
        el.append(child)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


def add_to_process(xml: str, children: str) -> str:
    """Put process-level elements (data objects, event subprocesses) after the process's last flow element."""
    root = etree.fromstring(xml.encode("utf-8"))
    process = root.find(_q("bpmn:process"))
    last = process.findall(_q("bpmn:sequenceFlow"))[-1]
    for child in reversed(_fragment(children)):
        last.addnext(child)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


def insert(xml: str, after: str, tag: str, task_id: str, children: str = "", **attributes: str) -> str:
    """A new flow node on the flow leaving `after` (in its lane), with `children` appended."""
    xml = insert_node(xml, after, tag, task_id, task_id.replace("_", " ").capitalize(), {}, **attributes)
    return add_children(xml, task_id, children) if children else xml


def deploy(api, files: dict[str, str], centre: str | None = "DE"):
    data: dict = {"files": [(io.BytesIO(t.encode()), n) for n, t in files.items()]}
    if centre is not None:
        data["centre"] = centre
    return api.client.post(
        "/api/processes/deploy", data=data, headers=api.headers("owner"), content_type="multipart/form-data"
    )


def refusal(api, files: dict[str, str], rule: str | None, element: str) -> dict:
    """The one error naming `element` (and `rule`, for a policy refusal) of a 422 deploy answer."""
    response = deploy(api, files)
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]
    found = [e for e in errors if e.get("element") == element and (rule is None or e.get("rule") == rule)]
    assert len(found) == 1, errors
    error = found[0]
    assert error["file"].endswith(".bpmn") and isinstance(error["line"], int) and error["line"] > 0, error
    return error


# --- (a), (b), (c): the three bypasses of the issue -------------------------------------------------------------


def test_post_script_setting_in_warranty_is_refused(api):
    xml = add_children(
        stage("rma_warranty"),
        "check_warranty",
        "<spiffworkflow:postScript>in_warranty = True</spiffworkflow:postScript>",
        True,
    )
    error = refusal(api, {"rma_warranty.bpmn": xml}, "warranty_decided_only_by_the_rules", "check_warranty")
    assert error["file"] == "stages/rma_warranty.bpmn"
    assert error["line"] == line_of(xml, 'id="check_warranty"')
    assert "business rule task 'check_warranty'" in error["message"]
    assert "writes in_warranty by its postScript" in error["message"]
    assert "only check_warranty (decision 'warranty') may write it" in error["message"]


def test_pre_script_setting_in_warranty_is_refused(api):
    xml = add_children(
        stage("rma_repair"), "repair", "<spiffworkflow:preScript>in_warranty = True</spiffworkflow:preScript>", True
    )
    error = refusal(api, {"rma_repair.bpmn": xml}, "warranty_decided_only_by_the_rules", "repair")
    assert "user task 'repair' (stages/rma_repair.bpmn" in error["message"]
    assert "writes in_warranty by its preScript" in error["message"]


def test_form_field_named_in_warranty_is_refused(api):
    form = json.loads(DE["forms/diagnose.json"])
    form["properties"]["in_warranty"] = {"type": "boolean", "title": "Goodwill: treat as in warranty"}
    error = refusal(api, {"diagnose.json": json.dumps(form)}, "warranty_decided_only_by_the_rules", "diagnose")
    assert error["file"] == "stages/rma_diagnosis.bpmn"
    assert "writes in_warranty by field 'in_warranty' of form diagnose.json" in error["message"]


ESP_REPAIR = """
<bpmn:subProcess id="bench_shortcut" name="Bench shortcut" triggeredByEvent="true">
  <bpmn:startEvent id="shortcut_start" name="After an hour" isInterrupting="false">
    <bpmn:outgoing>shortcut_flow_1</bpmn:outgoing>
    <bpmn:timerEventDefinition id="shortcut_timer">
      <bpmn:timeDuration>"PT1H"</bpmn:timeDuration>
    </bpmn:timerEventDefinition>
  </bpmn:startEvent>
  <bpmn:userTask id="repair" name="Repair unit">
    <bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="formJsonSchemaFilename" value="repair.json" />
    </spiffworkflow:properties></bpmn:extensionElements>
    <bpmn:incoming>shortcut_flow_1</bpmn:incoming>
    <bpmn:outgoing>shortcut_flow_2</bpmn:outgoing>
  </bpmn:userTask>
  <bpmn:endEvent id="shortcut_end"><bpmn:incoming>shortcut_flow_2</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="shortcut_flow_1" sourceRef="shortcut_start" targetRef="repair" />
  <bpmn:sequenceFlow id="shortcut_flow_2" sourceRef="repair" targetRef="shortcut_end" />
</bpmn:subProcess>"""


def _with_lane(xml: str, lane: str, element: str) -> str:
    root = etree.fromstring(xml.encode("utf-8"))
    target = next(x for x in root.iter(_q("bpmn:lane")) if x.get("name") == lane)
    etree.SubElement(target, _q("bpmn:flowNodeRef")).text = element
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


def test_repair_in_an_event_subprocess_of_the_diagnosis_is_a_path(api):
    xml = _with_lane(add_to_process(stage("rma_diagnosis"), ESP_REPAIR), "Technician", "bench_shortcut")
    error = refusal(api, {"rma_diagnosis.bpmn": xml}, "approval_before_chargeable_repair", "repair")
    steps = [p["element"] for p in error["path"]]
    assert steps[0] == "start" and steps[-3:] == ["bench_shortcut", "shortcut_start", "repair"], steps
    assert "customer_approval" not in steps and "stage_diagnosis" in steps
    assert (
        "'repair' (Repair unit) is reached without passing customer_approval (when in_warranty is False)"
        in (error["message"])
    )
    assert "bench_shortcut (Bench shortcut) → shortcut_start (After an hour) → repair (Repair unit)" in error["message"]
    assert error["file"] == "stages/rma_diagnosis.bpmn" and error["line"] == line_of(xml, 'id="repair"')


def test_boundary_event_of_a_stage_is_a_path_from_everything_inside_it(api):
    # an error boundary on the repair stage's call activity that returns the unit: it can fire after `repair`
    # ran inside the stage, so the unit can reach ship_return without QA after its last repair
    xml = add_to_process(
        DE["rma.bpmn"],
        """
<bpmn:boundaryEvent id="repair_escape" name="Repair abandoned" attachedToRef="stage_repair">
  <bpmn:outgoing>flow_repair_escape</bpmn:outgoing>
  <bpmn:errorEventDefinition id="repair_escape_error" />
</bpmn:boundaryEvent>
<bpmn:sequenceFlow id="flow_repair_escape" sourceRef="repair_escape" targetRef="merge_before_return" />""",
    )
    root = etree.fromstring(xml.encode("utf-8"))
    merge = root.find(".//*[@id='merge_before_return']")
    merge.find(_q("bpmn:outgoing")).addprevious(etree.Element(_q("bpmn:incoming")))
    merge.find(_q("bpmn:outgoing")).getprevious().text = "flow_repair_escape"
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")
    error = refusal(api, {"rma.bpmn": xml}, "qa_after_last_repair", "ship_return")
    steps = [p["element"] for p in error["path"]]
    assert steps[0] == "repair" and steps[1] == "repair_escape" and "qa_check" not in steps, steps
    assert error["message"].startswith("policy 'qa_after_last_repair' broken: ")
    assert "'ship_return' (Ship unit back) is reached without passing qa_check" in error["message"]


# --- every other kind of writer ----------------------------------------------------------------------------------


def test_script_task_setting_the_quote_is_refused(api):
    xml = insert(
        stage("rma_diagnosis"),
        "diagnose",
        "bpmn:scriptTask",
        "free_quote",
        "<bpmn:script>quote_total = 0</bpmn:script>",
    )
    error = refusal(api, {"rma_diagnosis.bpmn": xml}, "quote_computed_only_by_the_quote", "free_quote")
    assert "script task 'free_quote'" in error["message"] and "writes quote_total by its script" in error["message"]
    assert "only compute_quote (its script), apply_goodwill (its script) may write it" in error["message"]


def test_decision_output_from_another_task_is_refused(api):
    xml = insert(
        stage("rma_repair"),
        "start",
        "bpmn:businessRuleTask",
        "recheck_warranty",
        "",
    )
    xml = add_children(
        xml, "recheck_warranty", "<spiffworkflow:calledDecisionId>warranty</spiffworkflow:calledDecisionId>", True
    )
    error = refusal(api, {"rma_repair.bpmn": xml}, "warranty_decided_only_by_the_rules", "recheck_warranty")
    assert "writes in_warranty by an output of decision 'warranty' (decisions/warranty.dmn)" in error["message"]


def test_service_task_result_is_refused(api):
    xml = insert(stage("rma_diagnosis"), "diagnose", "bpmn:serviceTask", "ask_erp")
    xml = add_children(
        xml,
        "ask_erp",
        """<spiffworkflow:serviceTaskOperator id="http/GetRequest" resultVariable="in_warranty">
             <spiffworkflow:parameters>
               <spiffworkflow:parameter id="url" type="str" value="erp_warranty_url" />
             </spiffworkflow:parameters>
           </spiffworkflow:serviceTaskOperator>""",
        True,
    )
    error = refusal(api, {"rma_diagnosis.bpmn": xml}, "warranty_decided_only_by_the_rules", "ask_erp")
    assert "service task 'ask_erp'" in error["message"]
    assert "writes in_warranty by its service result (resultVariable)" in error["message"]


def test_multi_instance_output_is_refused(api):
    xml = insert(
        stage("rma_diagnosis"),
        "diagnose",
        "bpmn:scriptTask",
        "tally",
        """<bpmn:multiInstanceLoopCharacteristics isSequential="true">
             <bpmn:loopCardinality>2</bpmn:loopCardinality>
             <bpmn:loopDataOutputRef>outcome</bpmn:loopDataOutputRef>
             <bpmn:outputDataItem id="tally_item" />
           </bpmn:multiInstanceLoopCharacteristics>
           <bpmn:script>tally_item = 1</bpmn:script>""",
    )
    error = refusal(api, {"rma_diagnosis.bpmn": xml}, "outcome_set_only_by_the_process_end", "tally")
    assert "writes outcome by its multi-instance output collection (loopDataOutputRef)" in error["message"]


def test_data_object_named_after_a_fact_is_refused(api):
    xml = insert(
        stage("rma_diagnosis"),
        "diagnose",
        "bpmn:scriptTask",
        "read_file",
        """<bpmn:property id="read_file_target" name="__targetRef_placeholder" />
           <bpmn:dataInputAssociation id="read_file_input">
             <bpmn:sourceRef>approve_ref</bpmn:sourceRef>
             <bpmn:targetRef>read_file_target</bpmn:targetRef>
           </bpmn:dataInputAssociation>
           <bpmn:script>noted = 1</bpmn:script>""",
    )
    xml = add_to_process(
        xml,
        '<bpmn:dataObject id="approve" name="Approval on file" />'
        '<bpmn:dataObjectReference id="approve_ref" name="Approval on file" dataObjectRef="approve" />',
    )
    error = refusal(api, {"rma_diagnosis.bpmn": xml}, "only_the_customer_approves", "approve")
    assert error["line"] == line_of(xml, '<bpmn:dataObject id="approve"')
    assert "data object 'approve'" in error["message"]
    assert "writes approve by a data object (read or written by read_file)" in error["message"]


def test_a_centre_may_not_rewrite_the_warranty_table(api):
    shipped = DE["decisions/warranty.dmn"]
    expired = '<outputEntry id="rule_warranty_expired_in_warranty">\n          <text>False</text>'
    assert expired in shipped
    generous = shipped.replace(expired, expired.replace("False", "True"))
    response = deploy(api, {"warranty.dmn": generous})
    assert response.status_code == 422, response.get_json()
    [error] = [e for e in response.get_json()["errors"] if e.get("rule") == "warranty_decided_only_by_the_rules"]
    assert (error["file"], error["element"]) == ("decisions/warranty.dmn", "warranty")
    assert error["line"] == line_of(generous, '<decision id="warranty"')
    assert (
        "This variant changes decision 'warranty' (decisions/warranty.dmn), which decides in_warranty"
        in (error["message"])
    )
    # the company's process owner may change it for everyone (the base), and the variants follow
    response = deploy(api, {"warranty.dmn": generous}, centre=None)
    assert response.status_code == 201, response.get_json()


def test_shipped_processes_and_variants_still_deploy(api):
    for centre in ("DE", "SG"):
        files = read_bundle_dir(PROCESSES_DIR, centre)
        stages = {n.rsplit("/", 1)[-1]: t for n, t in files.items() if n.startswith("stages/")}
        response = deploy(api, stages, centre)
        assert response.status_code in (200, 201), response.get_json()


# --- 15.6: tasks and lanes ---------------------------------------------------------------------------------------


def test_user_task_outside_a_lane_is_refused(api):
    xml = insert_node(
        stage("rma_diagnosis"),
        "diagnose",
        "bpmn:userTask",
        "photograph",
        "Photograph unit",
        {"formJsonSchemaFilename": "diagnose.json"},
    )
    root = etree.fromstring(xml.encode("utf-8"))
    for ref in list(root.iter(_q("bpmn:flowNodeRef"))):
        if ref.text == "photograph":
            ref.getparent().remove(ref)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")
    error = refusal(api, {"rma_diagnosis.bpmn": xml}, None, "photograph")
    assert error["message"].endswith(f"put task photograph in a lane: {LANES}")
    assert error["line"] == line_of(xml, 'id="photograph"')


@pytest.mark.parametrize("tag", ["bpmn:manualTask"])
def test_manual_task_outside_a_lane_is_refused(api, tag):
    xml = insert_node(stage("rma_repair"), "start", tag, "wipe_down", "Wipe down", {})
    root = etree.fromstring(xml.encode("utf-8"))
    for ref in list(root.iter(_q("bpmn:flowNodeRef"))):
        if ref.text == "wipe_down":
            ref.getparent().remove(ref)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")
    error = refusal(api, {"rma_repair.bpmn": xml}, None, "wipe_down")
    assert "manual task 'wipe_down' is in no lane" in error["message"]
    assert error["message"].endswith(f"put task wipe_down in a lane: {LANES}")


def test_abstract_task_passes_through_in_an_rma(api):
    xml = insert_node(stage("rma_diagnosis"), "start", "bpmn:task", "bench_note", "Bench note", {})
    response = deploy(api, {"rma_diagnosis.bpmn": xml})
    assert response.status_code == 201, response.get_json()
    rma = api.open_rma("de.reception", centre="DE", months_old=6)
    api.do("de.reception", rma["id"], "record_condition", STANDARD["record_condition"])
    assert api.only_task("de.tech", rma["id"])["name"] == "diagnose"  # not a task 'bench_note' for anyone
    state = api.do("de.tech", rma["id"], "diagnose", STANDARD["diagnose"])
    assert state["status"] != "incident"
    workers = {"repair": "de.tech", "decide_repair_site": "de.tech", "qa_check": "de.qa", "ship_return": "de.reception"}
    for _ in range(6):
        tasks = api.get("manager", "/api/tasks", query_string={"rma_id": rma["id"]}).get_json()["items"]
        if not tasks:
            break
        task = tasks[0]
        assert task["name"] != "bench_note"
        response = api.complete(workers[task["name"]], task["id"], STANDARD[task["name"]])
        assert response.status_code == 200, response.get_json()
    final = api.rma("manager", rma["id"])
    assert final["status"] == "closed" and final["outcome"] == "repaired", final
