"""Semantic validation: each message names file, element and line, and every error is reported at once.

The repair and warranty stages are the subjects here: other stages change often as features land.
"""

from __future__ import annotations

import pytest

from engine.errors import InvalidProcess
from engine.process.definitions import parse_bundle, read_bundle_dir
from tests.bpmn_edit import line_of, replaced
from tests.conftest import PROCESSES_DIR

REPAIR = "stages/rma_repair.bpmn"
WARRANTY = "stages/rma_warranty.bpmn"
DMN = "decisions/warranty.dmn"


@pytest.fixture(scope="module")
def base() -> dict[str, str]:
    return read_bundle_dir(PROCESSES_DIR)


def repair_stage(body: str, lane_refs: str = "") -> str:
    """A repair stage with the given flow elements in one Technician lane (no diagram: not needed here)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs" targetNamespace="urn:test">
  <bpmn:process id="rma_repair" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="lane_technician" name="Technician">{lane_refs}</bpmn:lane></bpmn:laneSet>
{body}
  </bpmn:process>
</bpmn:definitions>
"""


REPAIR_TASK = """<bpmn:userTask id="repair" name="Repair unit"><bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="formJsonSchemaFilename" value="repair.json" />
    </spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>"""


def flow(fid: str, src: str, dst: str, cond: str | None = None) -> str:
    inner = (
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{cond}</bpmn:conditionExpression>' if cond else ""
    )
    return f'    <bpmn:sequenceFlow id="{fid}" sourceRef="{src}" targetRef="{dst}">{inner}</bpmn:sequenceFlow>\n'


def _errors(files: dict) -> list[dict]:
    with pytest.raises(InvalidProcess) as info:
        parse_bundle(files)
    for error in info.value.errors:
        assert set(error) == {"file", "element", "line", "message"}
    return info.value.errors


def _one(files: dict, element: str) -> dict:
    errors = [e for e in _errors(files) if e["element"] == element]
    assert len(errors) == 1, errors
    return errors[0]


def test_sequence_flow_to_no_element_is_named_dangling(base):
    files = replaced(base, REPAIR, 'sourceRef="repair" targetRef="end"', 'sourceRef="repair" targetRef="finish"')
    error = _one(files, "flow_to_end")
    assert error["file"] == REPAIR
    assert error["line"] == line_of(files[REPAIR], '<bpmn:sequenceFlow id="flow_to_end"')
    assert error["message"] == "dangling sequence flow 'flow_to_end': it ends at 'finish', but no element has that id"


def test_sequence_flow_from_no_element_is_named_dangling(base):
    files = replaced(base, REPAIR, 'sourceRef="start" targetRef="repair"', 'sourceRef="begin" targetRef="repair"')
    error = _one(files, "flow_to_repair")
    assert "it starts at 'begin', but no element has that id" in error["message"]


def test_sequence_flow_to_an_element_that_is_not_a_flow_node_is_refused(base):
    files = replaced(
        base, REPAIR, 'sourceRef="repair" targetRef="end"', 'sourceRef="repair" targetRef="lane_technician"'
    )
    error = _one(files, "flow_to_end")
    assert "ends at 'lane_technician', which is not a flow node of 'rma_repair'" in error["message"]


def test_activity_no_flow_reaches_is_refused(base):
    files = {
        **base,
        REPAIR: repair_stage(
            '<bpmn:startEvent id="start" />' + REPAIR_TASK + '<bpmn:userTask id="orphan" />'
            '<bpmn:endEvent id="end" />'
            + flow("f1", "start", "repair")
            + flow("f2", "repair", "end")
            + flow("f3", "orphan", "end")
        ),
    }
    error = _one(files, "orphan")
    assert error["message"] == "user task 'orphan' has no incoming sequence flow, so it can never run"
    assert error["line"] == line_of(files[REPAIR], 'id="orphan"')


def test_activity_without_a_way_out_ends_its_path_but_an_unreachable_end_is_refused(base):
    """An activity with no outgoing flow is an implicit end event, as SpiffWorkflow runs it (issue 15.9)."""
    files = {
        **base,
        REPAIR: repair_stage(
            '<bpmn:startEvent id="start" />'
            + REPAIR_TASK
            + '<bpmn:endEvent id="end" />'
            + flow("f1", "start", "repair")
        ),
    }
    errors = _errors(files)
    assert {(e["element"], e["message"]) for e in errors} == {
        ("end", "end event 'end' has no incoming sequence flow, so it can never run"),
    }


def test_incoming_and_outgoing_entries_must_match_the_flows(base):
    files = replaced(
        base,
        REPAIR,
        "<bpmn:outgoing>flow_to_end</bpmn:outgoing>",
        "<bpmn:outgoing>flow_to_end</bpmn:outgoing><bpmn:outgoing>flow_to_qa</bpmn:outgoing>"
        "<bpmn:outgoing>flow_to_repair</bpmn:outgoing>",
    )
    messages = sorted(e["message"] for e in _errors(files))
    assert messages == [
        "'repair' lists outgoing flow 'flow_to_qa', but no sequence flow of its process has that id",
        "'repair' lists outgoing flow 'flow_to_repair', but that flow's sourceRef is 'start'",
    ]


def test_start_event_with_incoming_and_end_event_with_outgoing_are_refused(base):
    files = {
        **base,
        REPAIR: repair_stage(
            '<bpmn:startEvent id="start" />'
            + REPAIR_TASK
            + '<bpmn:endEvent id="end" />'
            + flow("f1", "start", "repair")
            + flow("f2", "repair", "end")
            + flow("f3", "end", "start")
        ),
    }
    messages = {e["element"]: e["message"] for e in _errors(files)}
    assert messages == {
        "start": "start event 'start' has an incoming sequence flow (f3); a start event cannot be entered",
        "end": "end event 'end' has an outgoing sequence flow (f3); nothing runs after an end event",
    }


GATEWAY = (
    '<bpmn:startEvent id="start" />' + REPAIR_TASK + '<bpmn:userTask id="rework" />'
    '<bpmn:exclusiveGateway id="which_repair" {default} /><bpmn:endEvent id="end" />'
    + flow("f1", "start", "which_repair")
    + "{flows}"
    + flow("f4", "repair", "end")
    + flow("f5", "rework", "end")
)


def test_exclusive_gateway_without_default_or_conditions_is_refused(base):
    files = {
        **base,
        REPAIR: repair_stage(
            GATEWAY.format(
                default="", flows=flow("f2", "which_repair", "repair") + flow("f3", "which_repair", "rework")
            )
        ),
    }
    error = _one(files, "which_repair")
    assert error["message"] == (
        "exclusive gateway 'which_repair' has 2 outgoing flows (f2, f3) but no default flow "
        "and no conditions: the engine cannot choose a path"
    )
    assert error["line"] == line_of(files[REPAIR], 'id="which_repair"')


def test_exclusive_gateway_flow_without_condition_that_is_not_the_default_names_the_gateway(base):
    files = {
        **base,
        REPAIR: repair_stage(
            GATEWAY.format(
                default="",
                flows=flow("f2", "which_repair", "repair", "labour_hours &gt; 2")
                + flow("f3", "which_repair", "rework"),
            )
        ),
    }
    error = _one(files, "which_repair")
    assert error["message"] == (
        "exclusive gateway 'which_repair': outgoing flow(s) f3 have no condition and are not the default flow"
    )


def test_gateway_default_that_is_not_an_outgoing_flow_is_refused(base):
    files = {
        **base,
        REPAIR: repair_stage(
            GATEWAY.format(
                default='default="f1"',
                flows=flow("f2", "which_repair", "repair", "labour_hours &gt; 2")
                + flow("f3", "which_repair", "rework", "labour_hours &lt;= 2"),
            )
        ),
    }
    error = _one(files, "which_repair")
    assert error["message"] == (
        "exclusive gateway 'which_repair' names 'f1' as its default flow, but that is not "
        "one of its outgoing flows (f2, f3)"
    )


def test_gateway_with_conditions_and_a_default_is_accepted(base):
    files = {
        **base,
        REPAIR: repair_stage(
            GATEWAY.format(
                default='default="f3"',
                flows=flow("f2", "which_repair", "repair", "labour_hours &gt; 2")
                + flow("f3", "which_repair", "rework"),
            ),
            "<bpmn:flowNodeRef>repair</bpmn:flowNodeRef>",
        ),
    }
    assert parse_bundle(files).spec.name == "rma"


def test_business_rule_task_calling_an_unknown_decision_lists_the_known_ones(base):
    files = replaced(
        base, WARRANTY, "<spiffworkflow:calledDecisionId>warranty<", "<spiffworkflow:calledDecisionId>warranty_rules<"
    )
    error = _one(files, "check_warranty")
    assert error["file"] == WARRANTY
    assert error["message"].startswith(
        "business rule task calls unknown decision 'warranty_rules' (decisions in the bundle: "
    )
    assert "warranty" in error["message"].split("bundle: ")[1]


def test_decision_input_the_process_never_sets_is_refused(base):
    files = replaced(base, WARRANTY, "<bpmn:script>age_months = ", "<bpmn:script>unit_age = ")
    error = _one(files, "check_warranty")
    assert error["file"] == WARRANTY
    assert error["line"] == line_of(files[WARRANTY], 'id="check_warranty"')
    input_line = line_of(files[DMN], 'id="input_age_months"')
    assert error["message"].startswith(
        f"decision 'warranty' ({DMN}, input 'Unit age (months)', line "
        f"{input_line}) reads 'age_months', which nothing before this task sets"
    )


def test_decision_input_set_only_after_the_decision_is_refused(base):
    files = replaced(base, DMN, "<text>age_months</text>", "<text>tracking_number</text>")  # the return form's
    error = _one(files, "check_warranty")
    assert "reads 'tracking_number'" in error["message"]


def test_decision_input_set_by_a_form_field_or_start_data_is_accepted(base):
    files = replaced(base, DMN, "<text>age_months</text>", "<text>months_between(purchase_date, received_on)</text>")
    assert parse_bundle(files).spec.name == "rma"  # fault_category comes from the diagnose form


def test_every_error_in_every_file_is_reported_at_once(base):
    files = replaced(base, REPAIR, 'sourceRef="repair" targetRef="end"', 'sourceRef="repair" targetRef="finish"')
    files = replaced(files, WARRANTY, "<spiffworkflow:calledDecisionId>warranty<", "<spiffworkflow:calledDecisionId>x<")
    files = replaced(files, "forms/qa_check.json", "{", "{{")
    files = replaced(files, REPAIR, 'value="repair.json"', 'value="gone.json"')
    files = replaced(
        files, WARRANTY, '<bpmn:startEvent id="start"', '<bpmn:bogus id="b" />\n<bpmn:startEvent id="start"'
    )
    found = {(e["file"], e["element"]) for e in _errors(files)}
    assert {
        (REPAIR, "flow_to_end"),
        (REPAIR, "repair"),
        (WARRANTY, "check_warranty"),
        (WARRANTY, "b"),
        ("forms/qa_check.json", None),
    } <= found


def test_cross_file_checks_wait_until_every_file_parses(base):
    """A malformed stage hides its process id: no 'unknown process' noise for the calls to it."""
    files = replaced(base, REPAIR, 'name="Repair unit"', 'name="Repair & unit"')
    [error] = _errors(files)
    assert error["file"] == REPAIR and "malformed XML" in error["message"]
