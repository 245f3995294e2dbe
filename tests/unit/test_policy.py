"""Company guard-rails: each rule holds for the shipped bundle and catches a variant that breaks it."""

import pytest

from engine.errors import InvalidProcess
from engine.process.definitions import read_bundle_dir
from engine.process.policy import build_graph, check_policy, condition_possible, find_path, load_policy
from engine.services.processes import _enforce_policy
from tests.conftest import PROCESSES_DIR

BASE = read_bundle_dir(PROCESSES_DIR)
POLICY = load_policy(BASE)


def stage(process_id: str, body: str) -> str:
    """A minimal stage file (no diagram: the policy reads only the flow)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs" targetNamespace="urn:test">
  <bpmn:process id="{process_id}" isExecutable="true">{body}</bpmn:process>
</bpmn:definitions>"""


def flow(fid, src, dst, cond=None):
    inner = f"<bpmn:conditionExpression>{cond}</bpmn:conditionExpression>" if cond else ""
    return f'<bpmn:sequenceFlow id="{fid}" sourceRef="{src}" targetRef="{dst}">{inner}</bpmn:sequenceFlow>'


def variant(path: str, process_id: str, body: str) -> dict:
    files = dict(BASE)
    files[path] = stage(process_id, body)
    return files


def broken_rules(files):
    return {v["rule"] for v in check_policy(files, POLICY)}


VARIANT_CENTRES = sorted(p.name for p in (PROCESSES_DIR / "variants").iterdir() if p.is_dir())


def test_shipped_bundle_keeps_every_rule():
    assert check_policy(BASE, POLICY) == []


def test_processes_ship_the_de_and_sg_variants():
    assert {"DE", "SG"} <= set(VARIANT_CENTRES)


@pytest.mark.parametrize("centre", VARIANT_CENTRES)
def test_shipped_centre_variant_keeps_every_rule(centre):
    files = read_bundle_dir(PROCESSES_DIR, centre)
    variant_dir = PROCESSES_DIR / "variants" / centre
    for path in variant_dir.rglob("*.bpmn"):  # the variant's stages are in the bundle, not the base's
        assert path.read_text(encoding="utf-8") in files.values()
    graph = build_graph(files)
    assert graph.by_element(["repair", "qa_check", "customer_approval"]), "the variant's graph lost the milestones"
    assert check_policy(files, POLICY) == []
    _enforce_policy(files)  # what a deploy of the centre's variant runs


def test_de_variant_factory_steps_sit_between_the_approval_and_the_repair():
    graph = build_graph(read_bundle_dir(PROCESSES_DIR, "DE"))
    for element in ("decide_repair_site", "ship_to_factory", "record_factory_report"):
        assert graph.by_element([element]), element
        # out of warranty, no factory step is reached without the customer's approval or the warranty check
        for must_pass in ("customer_approval", "check_warranty", "record_condition"):
            path = find_path(
                graph,
                {graph.start},
                graph.by_element([element]),
                graph.by_element([must_pass]),
                {"in_warranty": False} if must_pass == "customer_approval" else {},
            )
            assert path is None, f"{element} reachable without {must_pass}: {path}"
    # and the stage's own repair still comes after the factory: QA follows the last repair
    path = find_path(
        graph,
        graph.by_element(["record_factory_report"]),
        graph.by_element(["ship_return"]),
        graph.by_element(["repair"]),
        {},
    )
    assert path is None, "the factory report leads to the return without the local repair"


def test_sg_variant_offers_the_loan_unit_only_after_the_customer_approved_and_before_the_repair():
    graph = build_graph(read_bundle_dir(PROCESSES_DIR, "SG"))
    offer = graph.by_element(["offer_loan_unit"])
    assert offer
    for must_pass in ("customer_approval", "check_warranty", "record_condition", "diagnose"):
        path = find_path(graph, {graph.start}, offer, graph.by_element([must_pass]), {})
        assert path is None, f"the loan offer is reachable without {must_pass}: {path}"
    # the offer leads on to the repair (the company rules, checked above, keep QA after it)
    assert find_path(graph, offer, graph.by_element(["repair"]), set(), {}) is not None


def test_express_intake_that_can_skip_the_condition_record_is_refused():
    files = variant(
        "stages/rma_intake.bpmn",
        "rma_intake",
        """
      <bpmn:startEvent id="start"/>
      <bpmn:exclusiveGateway id="express" default="f_normal"/>
      <bpmn:userTask id="record_condition" name="Record condition"/>
      <bpmn:endEvent id="end"/>"""
        + flow("f1", "start", "express")
        + flow("f_express", "express", "end", "express_lane == True")
        + flow("f_normal", "express", "record_condition")
        + flow("f2", "record_condition", "end"),
    )
    violations = check_policy(files, POLICY)
    intake = next(v for v in violations if v["rule"] == "intake_condition_record")
    elements = [p["element"] for p in intake["path"]]
    assert "express" in elements and "record_condition" not in elements
    assert elements[-1] == "diagnose"


def test_warranty_stage_that_skips_the_rules_for_cctv_is_refused():
    files = variant(
        "stages/rma_warranty.bpmn",
        "rma_warranty",
        """
      <bpmn:startEvent id="start"/>
      <bpmn:exclusiveGateway id="by_category" default="f_rules"/>
      <bpmn:businessRuleTask id="check_warranty"/>
      <bpmn:endEvent id="end"/>"""
        + flow("f1", "start", "by_category")
        + flow("f_cctv", "by_category", "end", "product_category == 'cctv'")
        + flow("f_rules", "by_category", "check_warranty")
        + flow("f2", "check_warranty", "end"),
    )
    assert "warranty_check_before_repair" in broken_rules(files)


def test_approval_stage_that_approves_by_script_is_refused():
    files = variant(
        "stages/rma_approval.bpmn",
        "rma_approval",
        """
      <bpmn:startEvent id="start"/>
      <bpmn:scriptTask id="auto_approve"><bpmn:script>approve = True</bpmn:script></bpmn:scriptTask>
      <bpmn:endEvent id="end"/>"""
        + flow("f1", "start", "auto_approve")
        + flow("f2", "auto_approve", "end"),
    )
    violations = {v["rule"]: v for v in check_policy(files, POLICY)}
    # a replacement is chargeable too, and a script may never approve for the customer
    assert set(violations) == {
        "approval_before_chargeable_repair",
        "approval_before_replacement",
        "only_the_customer_approves",
    }
    elements = [p["element"] for p in violations["approval_before_chargeable_repair"]["path"]]
    assert "auto_approve" in elements and elements[-1] == "repair"


def test_in_warranty_path_needs_no_approval_but_out_of_warranty_does():
    graph = build_graph(BASE)
    assert graph.start is not None
    assert (
        condition_possible("fault_category != 'no_fault_found' and in_warranty == True", {"in_warranty": False})
        is False
    )
    assert condition_possible("fault_category != 'no_fault_found' and in_warranty == True", {}) is True
    assert condition_possible("fault_category == 'no_fault_found'", {"in_warranty": False}) is True


def test_diagnosis_that_overrides_the_warranty_decision_is_refused():
    files = variant(
        "stages/rma_diagnosis.bpmn",
        "rma_diagnosis",
        """
      <bpmn:startEvent id="start"/>
      <bpmn:userTask id="diagnose"/>
      <bpmn:scriptTask id="goodwill"><bpmn:script>in_warranty = True</bpmn:script></bpmn:scriptTask>
      <bpmn:endEvent id="end"/>"""
        + flow("f1", "start", "diagnose")
        + flow("f2", "diagnose", "goodwill")
        + flow("f3", "goodwill", "end"),
    )
    violations = {v["rule"]: v for v in check_policy(files, POLICY)}
    assert "warranty_decided_only_by_the_rules" in violations
    assert violations["warranty_decided_only_by_the_rules"]["path"][0]["element"] == "goodwill"


def test_diagnosis_that_sends_units_to_the_factory_before_the_quote_is_refused():
    files = variant(
        "stages/rma_diagnosis.bpmn",
        "rma_diagnosis",
        """
      <bpmn:startEvent id="start"/>
      <bpmn:userTask id="diagnose"/><bpmn:userTask id="ship_to_factory"/>
      <bpmn:endEvent id="end"/>"""
        + flow("f1", "start", "diagnose")
        + flow("f2", "diagnose", "ship_to_factory")
        + flow("f3", "ship_to_factory", "end"),
    )
    violations = {v["rule"]: v for v in check_policy(files, POLICY)}
    assert set(violations) == {"approval_before_factory_repair"}
    assert violations["approval_before_factory_repair"]["path"][-1]["element"] == "ship_to_factory"


def test_qa_stage_without_a_check_is_refused():
    files = variant(
        "stages/rma_qa.bpmn",
        "rma_qa",
        """
      <bpmn:startEvent id="start"/><bpmn:endEvent id="end"/>"""
        + flow("f1", "start", "end"),
    )
    assert {"qa_after_last_repair", "return_after_qa_reaches_end"} <= broken_rules(files)


def test_repair_stage_with_a_rework_loop_after_qa_is_refused():
    # A repair stage may loop internally, but a path repair -> ... -> return that skips a QA after
    # the *last* repair breaks the rule even though QA ran once before.
    files = dict(BASE)
    files["stages/rma_return.bpmn"] = stage(
        "rma_return",
        """
      <bpmn:startEvent id="start"/>
      <bpmn:userTask id="ship_return"/>
      <bpmn:exclusiveGateway id="touch_up" default="f_done"/>
      <bpmn:callActivity id="extra_repair" calledElement="rma_repair"/>
      <bpmn:endEvent id="end"/>"""
        + flow("f0", "start", "touch_up")
        + flow("f_more", "touch_up", "extra_repair", "needs_touch_up == True")
        + flow("f_done", "touch_up", "ship_return")
        + flow("f1", "extra_repair", "ship_return")
        + flow("f2", "ship_return", "end"),
    )
    violations = {v["rule"]: v for v in check_policy(files, POLICY)}
    assert "qa_after_last_repair" in violations
    path = [p["element"] for p in violations["qa_after_last_repair"]["path"]]
    assert path[-1] == "ship_return" and "qa_check" not in path


def test_skeleton_that_ends_right_after_repair_is_refused():
    files = dict(BASE)
    skeleton = BASE["rma.bpmn"]
    assert 'sourceRef="stage_repair" targetRef="stage_qa"' in skeleton
    files["rma.bpmn"] = skeleton.replace(
        'sourceRef="stage_repair" targetRef="stage_qa"', 'sourceRef="stage_repair" targetRef="end"'
    )
    assert "return_after_qa_reaches_end" in broken_rules(files)


def test_compliant_variant_with_an_extra_factory_step_is_accepted():
    files = variant(
        "stages/rma_repair.bpmn",
        "rma_repair",
        """
      <bpmn:startEvent id="start"/>
      <bpmn:exclusiveGateway id="where" default="f_local"/>
      <bpmn:userTask id="send_to_factory"/><bpmn:userTask id="repair"/>
      <bpmn:endEvent id="end"/>"""
        + flow("f1", "start", "where")
        + flow("f_factory", "where", "send_to_factory", "factory_only == True")
        + flow("f_local", "where", "repair")
        + flow("f2", "send_to_factory", "repair")
        + flow("f3", "repair", "end"),
    )
    assert check_policy(files, POLICY) == []


def test_deploy_refusal_spells_out_the_offending_path():
    files = variant(
        "stages/rma_qa.bpmn",
        "rma_qa",
        '<bpmn:startEvent id="start"/><bpmn:endEvent id="end"/>' + flow("f1", "start", "end"),
    )
    with pytest.raises(InvalidProcess) as err:
        _enforce_policy(files)
    messages = [e["message"] for e in err.value.errors]
    assert any("qa_after_last_repair" in m and "repair (Repair unit)" in m and "ship_return" in m for m in messages)
    assert all({"file", "element", "line", "message", "path"} <= set(e) for e in err.value.errors)


# --- issue 15.1: the facts the rules rely on have one authoritative writer each ---------------------------------


def _writer_violations(files, rule):
    return [v for v in check_policy(files, POLICY) if v["rule"] == rule]


def _diagnosis_with(body_after_diagnose: str, extra: str = "", head: str = "") -> dict:
    """The diagnosis stage as start -> diagnose -> X -> end, X given as XML with id 'x'."""
    return variant(
        "stages/rma_diagnosis.bpmn",
        "rma_diagnosis",
        head
        + '<bpmn:startEvent id="start"/><bpmn:userTask id="diagnose"/>'
        + body_after_diagnose
        + '<bpmn:endEvent id="end"/>'
        + flow("f1", "start", "diagnose")
        + flow("f2", "diagnose", "x")
        + flow("f3", "x", "end")
        + extra,
    )


@pytest.mark.parametrize(
    ("xml", "head", "variable", "how"),
    [
        (
            '<bpmn:scriptTask id="x"><bpmn:script>del in_warranty</bpmn:script></bpmn:scriptTask>',
            "",
            "in_warranty",
            "its script",
        ),
        (
            '<bpmn:intermediateCatchEvent id="x"><bpmn:messageEventDefinition messageRef="m"/>'
            "</bpmn:intermediateCatchEvent>",
            '<bpmn:message id="m" name="erp_warranty"><bpmn:extensionElements>'
            "<spiffworkflow:messageVariable>warranty_reason</spiffworkflow:messageVariable>"
            "</bpmn:extensionElements></bpmn:message>",
            "warranty_reason",
            "the messageVariable of message 'erp_warranty'",
        ),
        (
            '<bpmn:intermediateCatchEvent id="x"><bpmn:signalEventDefinition signalRef="s"/>'
            "</bpmn:intermediateCatchEvent>",
            '<bpmn:signal id="s" name="goodwill"><bpmn:extensionElements>'
            "<spiffworkflow:variableName>quote_total</spiffworkflow:variableName>"
            "</bpmn:extensionElements></bpmn:signal>",
            "quote_total",
            "the payload variable of signal 'goodwill'",
        ),
        (
            '<bpmn:userTask id="x"><bpmn:extensionElements>'
            "<spiffworkflow:variableName>outcome</spiffworkflow:variableName></bpmn:extensionElements></bpmn:userTask>",
            "",
            "outcome",
            "its spiffworkflow:variableName",
        ),
    ],
    ids=["deleting script", "message variable", "signal payload", "task variable"],
)
def test_every_other_writer_of_a_fact_is_refused(xml, head, variable, how):
    files = _diagnosis_with(xml)
    if head:  # messages and signals are root elements of the definitions
        files["stages/rma_diagnosis.bpmn"] = files["stages/rma_diagnosis.bpmn"].replace(
            '<bpmn:process id="rma_diagnosis"', head + '<bpmn:process id="rma_diagnosis"'
        )
    problems = [v for v in check_policy(files, POLICY) if v["path"] and v["path"][0]["element"] == "x"]
    assert len(problems) == 1, problems
    assert f"writes {variable} by {how}" in problems[0]["message"]


def test_the_expired_quote_may_only_be_declined():
    approval = BASE["stages/rma_approval.bpmn"]
    assert "<bpmn:script>approve = False" in approval
    files = {
        **BASE,
        "stages/rma_approval.bpmn": approval.replace("<bpmn:script>approve = False", "<bpmn:script>approve = True", 1),
    }
    (problem,) = _writer_violations(files, "only_the_customer_approves")
    assert problem["path"][0]["element"] == "decline_expired_quote"
    assert "decline_expired_quote (its script, setting only False)" in problem["message"]
    files = {
        **BASE,
        "stages/rma_approval.bpmn": approval.replace("<bpmn:script>approve = False", "<bpmn:script>approve = 0", 1),
    }
    assert _writer_violations(files, "only_the_customer_approves"), "0 is no stand-in for False"


def test_the_customer_approves_only_in_the_customer_lane():
    approval = BASE["stages/rma_approval.bpmn"]
    ref = "<bpmn:flowNodeRef>customer_approval</bpmn:flowNodeRef>"
    assert ref in approval and 'name="Manager">' in approval
    moved = approval.replace(ref, "", 1).replace('name="Manager">', f'name="Manager">{ref}', 1)
    (problem,) = _writer_violations({**BASE, "stages/rma_approval.bpmn": moved}, "only_the_customer_approves")
    assert problem["path"][0]["element"] == "customer_approval"
    assert "customer_approval (its form, in lane Customer)" in problem["message"]


def test_a_look_alike_warranty_check_is_refused():
    # a second business rule task with the milestone's id, calling another decision, in another stage
    files = _diagnosis_with(
        '<bpmn:businessRuleTask id="x"/><bpmn:businessRuleTask id="check_warranty"><bpmn:extensionElements>'
        "<spiffworkflow:calledDecisionId>repair_or_replace</spiffworkflow:calledDecisionId>"
        "</bpmn:extensionElements></bpmn:businessRuleTask>",
        flow("f4", "x", "check_warranty"),
    )
    duplicate = next(v for v in check_policy(files, POLICY) if v["rule"] == "warranty_check_before_repair")
    assert "milestone 'check_warranty' is defined in 2 places" in duplicate["message"]
    assert {p["file"] for p in duplicate["path"]} == {"stages/rma_diagnosis.bpmn", "stages/rma_warranty.bpmn"}


def test_a_link_event_is_a_path():
    files = variant(
        "stages/rma_diagnosis.bpmn",
        "rma_diagnosis",
        """
      <bpmn:startEvent id="start"/><bpmn:userTask id="diagnose"/>
      <bpmn:intermediateThrowEvent id="go"><bpmn:linkEventDefinition name="bench"/></bpmn:intermediateThrowEvent>
      <bpmn:intermediateCatchEvent id="land"><bpmn:linkEventDefinition name="bench"/></bpmn:intermediateCatchEvent>
      <bpmn:userTask id="repair"/><bpmn:endEvent id="end"/>"""
        + flow("f1", "start", "diagnose")
        + flow("f2", "diagnose", "go")
        + flow("f3", "land", "repair")
        + flow("f4", "repair", "end"),
    )
    violation = next(v for v in check_policy(files, POLICY) if v["rule"] == "approval_before_chargeable_repair")
    assert [p["element"] for p in violation["path"]][-4:] == ["diagnose", "go", "land", "repair"]


def test_a_missing_milestone_is_named():
    files = variant(
        "stages/rma_qa.bpmn",
        "rma_qa",
        '<bpmn:startEvent id="start"/><bpmn:endEvent id="end"/>' + flow("f1", "start", "end"),
    )
    violation = next(v for v in check_policy(files, POLICY) if v["rule"] == "qa_after_last_repair")
    assert violation["missing"] == ["qa_check"]
    assert "missing from the processes: qa_check" in violation["message"]


def _qa_with_event_subprocess(interrupting: bool, inner: str = "chase_lab") -> dict:
    timer = '<bpmn:timerEventDefinition><bpmn:timeDuration>"P1D"</bpmn:timeDuration></bpmn:timerEventDefinition>'
    return variant(
        "stages/rma_qa.bpmn",
        "rma_qa",
        '<bpmn:startEvent id="start"/><bpmn:userTask id="qa_check"/><bpmn:endEvent id="end"/>'
        + flow("f1", "start", "qa_check")
        + flow("f2", "qa_check", "end")
        + '<bpmn:subProcess id="chase" triggeredByEvent="true">'
        + f'<bpmn:startEvent id="chase_start" isInterrupting="{str(interrupting).lower()}">{timer}</bpmn:startEvent>'
        + f'<bpmn:userTask id="{inner}"/><bpmn:endEvent id="chase_end"/>'
        + flow("c1", "chase_start", inner)
        + flow("c2", inner, "chase_end")
        + "</bpmn:subProcess>",
    )


def test_a_non_interrupting_event_subprocess_lets_the_main_flow_go_on_where_it_was():
    # started before qa_check, it does not end the stage: QA still runs after the last repair
    assert check_policy(_qa_with_event_subprocess(interrupting=False), POLICY) == []


def test_an_interrupting_event_subprocess_ends_its_stage():
    violation = next(
        v
        for v in check_policy(_qa_with_event_subprocess(interrupting=True), POLICY)
        if v["rule"] == "qa_after_last_repair"
    )
    steps = [p["element"] for p in violation["path"]]
    at = steps.index("chase")
    assert steps[at : at + 4] == ["chase", "chase_start", "chase_lab", "chase_end"] and "qa_check" not in steps, steps


def test_a_repair_in_a_non_interrupting_event_subprocess_may_come_after_qa():
    # the main flow may already be past qa_check when the repair in the event subprocess ends
    violation = next(
        v
        for v in check_policy(_qa_with_event_subprocess(interrupting=False, inner="repair"), POLICY)
        if v["rule"] == "qa_after_last_repair"
    )
    steps = [p["element"] for p in violation["path"]]
    assert steps[:2] == ["repair", "chase_end"] and "qa_check" not in steps and steps[-1] == "ship_return", steps
