"""The corpus: one QA-stage variant per construct of SpiffWorkflow's supported list (and the edits that must be
refused), each with the steps an RMA takes through it and the outcome it must reach.

Steps (run in order once the RMA's quality-check stage has started):
    ("open", {...})            the RMA's open tasks are exactly these
    ("do", task, data)         the QA user completes the open task `task` with `data` (over the HTTP API)
    ("wait", timedelta)        time passes and the worker fires the timers due
    ("message", name, data, status)   an integrator posts the message; the answer's status code
    ("status", status)         the RMA's status
    ("incident", element)      the RMA's open incident names the element
A case with `refused` must be refused at deploy with 422 and an error whose message contains `refused`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from tests.corpus.stage import (
    FLAG_FORM,
    chain,
    check,
    end,
    flow,
    qa_check,
    script,
    stage,
    start,
    user,
)

PASS = {"qa_passed": True}
NOTE = {"note": "done"}


@dataclass(frozen=True)
class Case:
    id: str
    construct: str
    bpmn: str
    steps: tuple = ()
    refused: str | None = None
    files: dict = field(default_factory=dict)
    ends: str = "closed"  # or "incident": the RMA stops at an incident naming the element


def _tail(*before: str) -> str:
    """start -> before... -> qa_check -> end, with the nodes of `before` drawn by the caller."""
    return start() + qa_check() + end() + chain("start", *before, "qa_check", "end")


CASES: list[Case] = []


def case(*args, **kwargs) -> None:
    CASES.append(Case(*args, **kwargs))


# --- tasks -------------------------------------------------------------------------------------------------
case("plain", "user task", stage(_tail()), (("open", {"qa_check"}), ("do", "qa_check", PASS)))
case(
    "manual_task",
    "manual task",
    stage(_tail("inspect") + user("inspect", tag="manualTask")),
    (("open", {"inspect"}), ("do", "inspect", NOTE), ("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
case(
    "script_task",
    "script task",
    stage(
        start()
        + script("compute", "torque = 2 * 21")
        + check("gw", "torque == 42")
        + qa_check()
        + end()
        + chain("start", "compute", "gw")
        + flow("qa_check", "end")
    ),
    (("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
case(
    "pre_post_scripts",
    "pre- and post-script of a user task",
    stage(
        start()
        + user(
            "inspect",
            extra="<spiffworkflow:preScript>hint = 'check the lens'</spiffworkflow:preScript>"
            "<spiffworkflow:postScript>noted = hint + ': ' + note</spiffworkflow:postScript>",
        )
        + check("gw", "noted == 'check the lens: done'")
        + qa_check()
        + end()
        + chain("start", "inspect", "gw")
        + flow("qa_check", "end")
    ),
    (("do", "inspect", NOTE), ("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
# --- gateways ------------------------------------------------------------------------------------------------
case(
    "exclusive_gateway",
    "exclusive gateway (conditions and default)",
    stage(
        start()
        + script("setup", "level = 3")
        + '<bpmn:exclusiveGateway id="gw" default="f_gw_low" />'
        + flow("gw", "high", "level > 5", flow_id="f_gw_high")
        + flow("gw", "low", flow_id="f_gw_low")
        + user("high")
        + user("low")
        + '<bpmn:exclusiveGateway id="merge" />'
        + qa_check()
        + end()
        + chain("start", "setup", "gw")
        + flow("high", "merge")
        + flow("low", "merge")
        + chain("merge", "qa_check", "end")
    ),
    (("open", {"low"}), ("do", "low", NOTE), ("do", "qa_check", PASS)),
)
_FORK = '<bpmn:parallelGateway id="fork" /><bpmn:parallelGateway id="join" />'
case(
    "parallel_gateway",
    "parallel gateway (fork and join)",
    stage(
        start()
        + _FORK
        + user("clean")
        + user("photograph")
        + qa_check()
        + end()
        + chain("start", "fork")
        + chain("fork", "clean", "join")
        + chain("fork", "photograph", "join")
        + chain("join", "qa_check", "end")
    ),
    (
        ("open", {"clean", "photograph"}),
        ("do", "clean", NOTE),
        ("open", {"photograph"}),
        ("do", "photograph", NOTE),
        ("open", {"qa_check"}),
        ("do", "qa_check", PASS),
    ),
)


def _inclusive(level: int) -> str:
    return stage(
        start()
        + script("setup", f"level = {level}")
        + '<bpmn:inclusiveGateway id="split" default="f_split_none" /><bpmn:inclusiveGateway id="merge" />'
        + flow("split", "clean", "level > 0", flow_id="f_split_clean")
        + flow("split", "photograph", "level > 5", flow_id="f_split_photograph")
        + flow("split", "merge", flow_id="f_split_none")
        + user("clean")
        + user("photograph")
        + qa_check()
        + end()
        + chain("start", "setup", "split")
        + flow("clean", "merge")
        + flow("photograph", "merge")
        + chain("merge", "qa_check", "end")
    )


case(
    "inclusive_one_branch",
    "inclusive gateway, one condition true",
    _inclusive(3),
    (("open", {"clean"}), ("do", "clean", NOTE), ("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
case(
    "inclusive_two_branches",
    "inclusive gateway, two conditions true",
    _inclusive(9),
    (
        ("open", {"clean", "photograph"}),
        ("do", "photograph", NOTE),
        ("open", {"clean"}),
        ("do", "clean", NOTE),
        ("do", "qa_check", PASS),
    ),
)
case(
    "inclusive_default",
    "inclusive gateway, no condition true: the default",
    _inclusive(0),
    (("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
# --- multi-instance and loops ------------------------------------------------------------------------------


def _mi(sequential: bool, output: bool = False) -> str:
    collect = (
        '<bpmn:loopDataOutputRef>notes</bpmn:loopDataOutputRef><bpmn:outputDataItem id="note" name="note" />'
        if output
        else ""
    )
    loop = (
        f'<bpmn:multiInstanceLoopCharacteristics isSequential="{str(sequential).lower()}">'
        "<bpmn:loopDataInputRef>parts</bpmn:loopDataInputRef>"
        f"{collect[: collect.index('<bpmn:outputDataItem')] if output else ''}"
        '<bpmn:inputDataItem id="part" name="part" />'
        f"{collect[collect.index('<bpmn:outputDataItem') :] if output else ''}"
        "</bpmn:multiInstanceLoopCharacteristics>"
    )
    checked = check("gw", "notes == ['lens ok', 'board ok']") if output else ""
    return stage(
        start()
        + script("setup", "parts = ['lens', 'board']")
        + user("inspect_part", inner=loop)
        + checked
        + qa_check()
        + end()
        + chain("start", "setup", "inspect_part", "gw" if output else "qa_check")
        + flow("qa_check", "end")
    )


case(
    "mi_sequential",
    "sequential multi-instance user task over a collection, collecting an output",
    _mi(True, output=True),
    (
        ("open", {"inspect_part"}),
        ("do", "inspect_part", {"note": "lens ok"}),
        ("open", {"inspect_part"}),
        ("do", "inspect_part", {"note": "board ok"}),
        ("open", {"qa_check"}),
        ("do", "qa_check", PASS),
    ),
)
case(
    "refused_mi_sequential_without_output",
    "sequential multi-instance over a collection without an output (SpiffWorkflow cannot start its second item)",
    _mi(True),
    refused="needs an output collection",
)
case(
    "mi_parallel",
    "parallel multi-instance user task over a collection",
    _mi(False),
    (
        ("count", "inspect_part", 2),
        ("do", "inspect_part", NOTE),
        ("count", "inspect_part", 1),
        ("do", "inspect_part", NOTE),
        ("open", {"qa_check"}),
        ("do", "qa_check", PASS),
    ),
)
case(
    "mi_script_output",
    "parallel multi-instance script task with an output collection",
    stage(
        start()
        + script("setup", "parts = ['lens', 'board']")
        + script(
            "label_parts",
            "label = part + '!'",
            inner='<bpmn:multiInstanceLoopCharacteristics isSequential="false">'
            "<bpmn:loopDataInputRef>parts</bpmn:loopDataInputRef>"
            "<bpmn:loopDataOutputRef>labels</bpmn:loopDataOutputRef>"
            '<bpmn:inputDataItem id="part" name="part" /><bpmn:outputDataItem id="label" name="label" />'
            "</bpmn:multiInstanceLoopCharacteristics>",
        )
        + check("gw", "labels == ['lens!', 'board!']")
        + qa_check()
        + end()
        + chain("start", "setup", "label_parts", "gw")
        + flow("qa_check", "end")
    ),
    (("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
case(
    "mi_cardinality",
    "sequential multi-instance with a literal cardinality",
    stage(
        start()
        + user(
            "retest",
            inner='<bpmn:multiInstanceLoopCharacteristics isSequential="true">'
            "<bpmn:loopCardinality>2</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>",
        )
        + qa_check()
        + end()
        + chain("start", "retest", "qa_check", "end")
    ),
    (("do", "retest", NOTE), ("open", {"retest"}), ("do", "retest", NOTE), ("do", "qa_check", PASS)),
)
case(
    "loop_task",
    "standard loop (script until a condition)",
    stage(
        start()
        + script("setup", "count = 0")
        + script(
            "count_up",
            "count = count + 1",
            inner="<bpmn:standardLoopCharacteristics><bpmn:loopCondition>count &lt; 3</bpmn:loopCondition>"
            "</bpmn:standardLoopCharacteristics>",
        )
        + check("gw", "count == 3")
        + qa_check()
        + end()
        + chain("start", "setup", "count_up", "gw")
        + flow("qa_check", "end")
    ),
    (("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
case(
    "loop_back_through_task",
    "a loop back through a user task (gateway cycle with a wait state)",
    stage(
        start()
        + script("setup", "rounds = 0")
        + user("retest", extra="<spiffworkflow:postScript>rounds = rounds + 1</spiffworkflow:postScript>")
        + '<bpmn:exclusiveGateway id="again" default="f_again_done" />'
        + flow("again", "retest", "rounds < 2", flow_id="f_again_loop")
        + flow("again", "qa_check", flow_id="f_again_done")
        + qa_check()
        + end()
        + chain("start", "setup", "retest", "again")
        + flow("qa_check", "end")
    ),
    (("do", "retest", NOTE), ("open", {"retest"}), ("do", "retest", NOTE), ("do", "qa_check", PASS)),
)
# --- sub-processes and call activities ---------------------------------------------------------------------
case(
    "subprocess",
    "embedded subprocess",
    stage(
        start()
        + '<bpmn:subProcess id="bench_tests">'
        + start("sub_start")
        + user("burn_in")
        + end("sub_end")
        + chain("sub_start", "burn_in", "sub_end")
        + "</bpmn:subProcess>"
        + qa_check()
        + end()
        + chain("start", "bench_tests", "qa_check", "end")
    ),
    (("open", {"burn_in"}), ("do", "burn_in", NOTE), ("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
_CALLED = (
    '<bpmn:process id="corpus_bench" isExecutable="true">'
    + start("cb_start")
    + script("cb_measure", "measured = 12")
    + user("cb_record")
    + end("cb_end")
    + chain("cb_start", "cb_measure", "cb_record", "cb_end")
    + "</bpmn:process>"
)
case(
    "call_activity",
    "call activity of a process in the same file",
    stage(
        start()
        + '<bpmn:callActivity id="call_bench" calledElement="corpus_bench" />'
        + check("gw", "measured == 12")
        + qa_check()
        + end()
        + chain("start", "call_bench", "gw")
        + flow("qa_check", "end"),
        extra_processes=_CALLED,
    ),
    (("open", {"cb_record"}), ("do", "cb_record", NOTE), ("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
case(
    "nested_call_activity",
    "call activity inside an embedded subprocess",
    stage(
        start()
        + '<bpmn:subProcess id="outer">'
        + start("o_start")
        + '<bpmn:callActivity id="call_bench" calledElement="corpus_bench" />'
        + end("o_end")
        + chain("o_start", "call_bench", "o_end")
        + "</bpmn:subProcess>"
        + qa_check()
        + end()
        + chain("start", "outer", "qa_check", "end"),
        extra_processes=_CALLED,
    ),
    (("open", {"cb_record"}), ("do", "cb_record", NOTE), ("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
# --- events --------------------------------------------------------------------------------------------------
case(
    "timer_intermediate",
    "intermediate timer catch (duration)",
    stage(
        start() + '<bpmn:intermediateCatchEvent id="cool_down"><bpmn:timerEventDefinition>'
        '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT2H"</bpmn:timeDuration>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
        + qa_check()
        + end()
        + chain("start", "cool_down", "qa_check", "end")
    ),
    (
        ("open", set()),
        ("wait", timedelta(hours=1)),
        ("open", set()),
        ("wait", timedelta(hours=1, minutes=2)),
        ("open", {"qa_check"}),
        ("do", "qa_check", PASS),
    ),
)


def _timer(duration: str) -> str:
    return (
        f'<bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"{duration}"'
        "</bpmn:timeDuration></bpmn:timerEventDefinition>"
    )


case(
    "boundary_timer_interrupting",
    "interrupting boundary timer on a user task",
    stage(
        start()
        + user("wait_for_parts")
        + f'<bpmn:boundaryEvent id="parts_late" attachedToRef="wait_for_parts">{_timer("P2D")}</bpmn:boundaryEvent>'
        + user("order_elsewhere")
        + qa_check()
        + end()
        + chain("start", "wait_for_parts", "qa_check")
        + chain("parts_late", "order_elsewhere", "qa_check")
        + flow("qa_check", "end")
    ),
    (
        ("open", {"wait_for_parts"}),
        ("wait", timedelta(days=2, minutes=1)),
        ("open", {"order_elsewhere"}),
        ("do", "order_elsewhere", NOTE),
        ("do", "qa_check", PASS),
    ),
)
case(
    "event_subprocess_timer",
    "non-interrupting event subprocess started by a timer",
    stage(
        start()
        + user("long_test")
        + qa_check()
        + end()
        + chain("start", "long_test", "qa_check", "end")
        + '<bpmn:subProcess id="chase_up" triggeredByEvent="true">'
        + f'<bpmn:startEvent id="chase_start" isInterrupting="false">{_timer("P1D")}</bpmn:startEvent>'
        + user("chase_lab")
        + end("chase_end")
        + chain("chase_start", "chase_lab", "chase_end")
        + "</bpmn:subProcess>"
    ),
    (
        ("wait", timedelta(days=1, minutes=1)),
        ("open", {"long_test", "chase_lab"}),
        ("do", "chase_lab", NOTE),
        ("do", "long_test", NOTE),
        ("open", {"qa_check"}),
        ("do", "qa_check", PASS),
    ),
)
_ERROR = '<bpmn:error id="err_no_power" name="No power" errorCode="no_power" />'
case(
    "boundary_error",
    "error end event caught by a boundary error event on its subprocess",
    stage(
        start()
        + '<bpmn:subProcess id="power_test">'
        + start("p_start")
        + script("measure", "volts = 0")
        + '<bpmn:exclusiveGateway id="p_gw" default="f_p_ok" />'
        + flow("p_gw", "p_fail", "volts == 0", flow_id="f_p_fail")
        + flow("p_gw", "p_end", flow_id="f_p_ok")
        + end("p_fail", '<bpmn:errorEventDefinition errorRef="err_no_power" />')
        + end("p_end")
        + chain("p_start", "measure", "p_gw")
        + "</bpmn:subProcess>"
        + '<bpmn:boundaryEvent id="no_power" attachedToRef="power_test">'
        '<bpmn:errorEventDefinition errorRef="err_no_power" /></bpmn:boundaryEvent>'
        + user("replace_psu")
        + qa_check()
        + end()
        + chain("start", "power_test", "qa_check", "end")
        + chain("no_power", "replace_psu", "qa_check")
    ).replace("<bpmn:process ", _ERROR + "<bpmn:process ", 1),
    (("open", {"replace_psu"}), ("do", "replace_psu", NOTE), ("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
_ESCALATION = '<bpmn:escalation id="esc_slow" name="Slow" escalationCode="slow" />'
_SIGNAL = '<bpmn:signal id="sig_cleaned" name="cleaned" />'
case(
    "signal",
    "signal thrown on one branch, caught on another",
    stage(
        start()
        + _FORK
        + user("clean")
        + '<bpmn:intermediateThrowEvent id="announce"><bpmn:signalEventDefinition signalRef="sig_cleaned" />'
        "</bpmn:intermediateThrowEvent>"
        + '<bpmn:intermediateCatchEvent id="await_clean"><bpmn:signalEventDefinition signalRef="sig_cleaned" />'
        "</bpmn:intermediateCatchEvent>"
        + qa_check()
        + end()
        + chain("start", "fork")
        + chain("fork", "clean", "announce", "join")
        + chain("fork", "await_clean", "join")
        + chain("join", "qa_check", "end")
    ).replace("<bpmn:process ", _SIGNAL + "<bpmn:process ", 1),
    (("open", {"clean"}), ("do", "clean", NOTE), ("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
case(
    "transaction_cancel",
    "transaction subprocess with a cancel end event and a cancel boundary event",
    stage(
        start()
        + '<bpmn:transaction id="refit">'
        + start("t_start")
        + user("try_refit", form=FLAG_FORM)
        + '<bpmn:exclusiveGateway id="t_gw" default="f_t_ok" />'
        + flow("t_gw", "t_cancel", "ready == False", flow_id="f_t_no")
        + flow("t_gw", "t_end", flow_id="f_t_ok")
        + end("t_cancel", "<bpmn:cancelEventDefinition />")
        + end("t_end")
        + chain("t_start", "try_refit", "t_gw")
        + "</bpmn:transaction>"
        + '<bpmn:boundaryEvent id="refit_cancelled" attachedToRef="refit"><bpmn:cancelEventDefinition />'
        "</bpmn:boundaryEvent>"
        + user("undo_refit")
        + qa_check()
        + end()
        + chain("start", "refit", "qa_check", "end")
        + chain("refit_cancelled", "undo_refit", "qa_check")
    ),
    (
        ("do", "try_refit", {"ready": False}),
        ("open", {"undo_refit"}),
        ("do", "undo_refit", NOTE),
        ("do", "qa_check", PASS),
    ),
)
case(
    "conditional_event",
    "intermediate conditional catch event whose condition holds",
    stage(
        start()
        + script("setup", "ready = True")
        + '<bpmn:intermediateCatchEvent id="wait_ready"><bpmn:conditionalEventDefinition>'
        '<bpmn:condition xsi:type="bpmn:tFormalExpression">ready == True</bpmn:condition>'
        "</bpmn:conditionalEventDefinition></bpmn:intermediateCatchEvent>"
        + qa_check()
        + end()
        + chain("start", "setup", "wait_ready", "qa_check", "end")
    ),
    (("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
case(
    "data_objects",
    "data objects written and read through data associations",
    stage(
        start()
        + '<bpmn:dataObject id="DataObject_reading" name="reading" />'
        + '<bpmn:dataObjectReference id="ref_out" dataObjectRef="DataObject_reading" />'
        + '<bpmn:dataObjectReference id="ref_in" dataObjectRef="DataObject_reading" />'
        + '<bpmn:scriptTask id="measure"><bpmn:dataOutputAssociation id="assoc_out"><bpmn:targetRef>ref_out'
        "</bpmn:targetRef></bpmn:dataOutputAssociation>"
        "<bpmn:script>DataObject_reading = 7</bpmn:script></bpmn:scriptTask>"
        # as bpmn-js draws a data input: a placeholder property as the association's target
         + '<bpmn:scriptTask id="double"><bpmn:property id="double_in" name="__targetRef_placeholder" />'
        '<bpmn:dataInputAssociation id="assoc_in"><bpmn:sourceRef>ref_in</bpmn:sourceRef>'
        "<bpmn:targetRef>double_in</bpmn:targetRef></bpmn:dataInputAssociation>"
        "<bpmn:script>doubled = DataObject_reading * 2</bpmn:script></bpmn:scriptTask>"
        + check("gw", "doubled == 14")
        + qa_check()
        + end()
        + chain("start", "measure", "double", "gw")
        + flow("qa_check", "end")
    ),
    (("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
# --- edits that must be refused at deploy ----------------------------------------------------------------------
case(
    "refused_timer_too_short",
    "timer shorter than a minute",
    stage(
        start()
        + f'<bpmn:intermediateCatchEvent id="spin">{_timer("PT1S")}</bpmn:intermediateCatchEvent>'
        + qa_check()
        + end()
        + chain("start", "spin", "qa_check", "end")
    ),
    refused="spin",
)
case(
    "refused_cardinality",
    "multi-instance cardinality over the cap",
    stage(
        start()
        + user(
            "retest",
            inner='<bpmn:multiInstanceLoopCharacteristics isSequential="true">'
            "<bpmn:loopCardinality>1000</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>",
        )
        + qa_check()
        + end()
        + chain("start", "retest", "qa_check", "end")
    ),
    refused="retest",
)
case(
    "refused_busy_loop",
    "a cycle of gateways and scripts with no wait state",
    stage(
        start()
        + script("spin", "n = 1")
        + '<bpmn:exclusiveGateway id="again" default="f_again_back" />'
        + flow("again", "qa_check", "n == 2", flow_id="f_again_out")
        + flow("again", "spin", flow_id="f_again_back")
        + qa_check()
        + end()
        + chain("start", "spin", "again")
        + flow("qa_check", "end")
    ),
    refused="spin",
)
case(
    "refused_unknown_lane",
    "a user task in a lane that maps to no role",
    stage(_tail(), lane="Night shift"),
    refused="Night shift",
)
case(
    "refused_not_executable",
    "a process marked not executable",
    stage(_tail()).replace('isExecutable="true"', 'isExecutable="false"', 1),
    refused="rma_qa",
)
case(
    "refused_script_sets_approve",
    "a script approving the quote for the customer",
    stage(
        start()
        + script("auto_approve", "approve = True")
        + qa_check()
        + end()
        + chain("start", "auto_approve", "qa_check", "end")
    ),
    refused="auto_approve",
)
case(
    "refused_script_sets_in_warranty",
    "a script task overriding the warranty decision",
    stage(
        start()
        + script("force_warranty", "in_warranty = True")
        + qa_check()
        + end()
        + chain("start", "force_warranty", "qa_check", "end")
    ),
    refused="force_warranty",
)
case(
    "refused_sandbox_escape",
    "a script reaching outside the sandbox",
    stage(
        start()
        + script("peek", "x = ().__class__.__bases__[0].__subclasses__()")
        + qa_check()
        + end()
        + chain("start", "peek", "qa_check", "end")
    ),
    refused="peek",
)
case(
    "refused_dangling_flow",
    "a sequence flow to an element that does not exist",
    stage(_tail() + flow("qa_check", "nowhere")),
    refused="nowhere",
)
case(
    "refused_missing_form",
    "a user task naming a form the bundle does not have",
    stage(_tail("inspect") + user("inspect", form="no_such_form.json")),
    refused="no_such_form.json",
)
# --- abstract tasks, lanes and the facts the policy relies on (issue 15.1, 15.6) --------------------------------
case(
    "abstract_task",
    "a task with no type (abstract) passes through",
    stage(_tail("note_on_file") + '<bpmn:task id="note_on_file" name="Note on file" />'),
    (("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
case(
    "refused_user_task_outside_lane",
    "a user task outside every lane",
    stage(_tail("inspect") + user("inspect"), outside=frozenset({"inspect"})),
    refused="put task inspect in a lane",
)
case(
    "refused_post_script_sets_in_warranty",
    "a post-script overriding the warranty decision",
    stage(
        _tail("inspect")
        + user("inspect", extra="<spiffworkflow:postScript>in_warranty = True</spiffworkflow:postScript>")
    ),
    refused="inspect",
)
case(
    "refused_form_field_outcome",
    "a form field writing the RMA's outcome",
    stage(_tail("inspect") + user("inspect", form="corpus_outcome.json")),
    refused="inspect",
    files={
        "corpus_outcome.json": (
            '{"title": "Outcome", "type": "object", "properties": {"outcome": {"type": "string", "maxLength": 40}}}'
        )
    },
)
# --- messages and event-based gateways (issue 15.3, 15.4) -----------------------------------------------------
_MESSAGE = '<bpmn:message id="msg_part" name="part_arrived" />'


def _message_catch(event_id: str) -> str:
    return (
        f'<bpmn:intermediateCatchEvent id="{event_id}"><bpmn:messageEventDefinition messageRef="msg_part">'
        "<bpmn:extensionElements><spiffworkflow:messageVariable>part</spiffworkflow:messageVariable>"
        "</bpmn:extensionElements></bpmn:messageEventDefinition></bpmn:intermediateCatchEvent>"
    )


def _part_or_timeout() -> str:
    return stage(
        start()
        + '<bpmn:eventBasedGateway id="part_or_week" />'
        + _message_catch("part_came")
        + f'<bpmn:intermediateCatchEvent id="week_passed">{_timer("P7D")}</bpmn:intermediateCatchEvent>'
        + user("chase_supplier")
        + check("gw", "part['serial'] == 'P-9'")
        + qa_check()
        + end()
        + chain("start", "part_or_week")
        + chain("part_or_week", "part_came", "gw")
        + chain("part_or_week", "week_passed", "chase_supplier", "qa_check")
        + flow("qa_check", "end")
    ).replace("<bpmn:process ", _MESSAGE + "<bpmn:process ", 1)


case(
    "event_gateway_message",
    "event-based gateway: the message comes first (delivered by an integrator)",
    _part_or_timeout(),
    (
        ("open", set()),
        ("message", "other_message", {}, 409),
        ("message", "part_arrived", {"serial": "P-9"}, 202),
        ("open", {"qa_check"}),
        ("message", "part_arrived", {"serial": "P-9"}, 409),
        ("do", "qa_check", PASS),
    ),
)
case(
    "event_gateway_timer",
    "event-based gateway: the timer fires first",
    _part_or_timeout(),
    (
        ("wait", timedelta(days=6)),
        ("open", set()),
        ("wait", timedelta(days=1, minutes=5)),
        ("open", {"chase_supplier"}),
        ("message", "part_arrived", {"serial": "P-9"}, 409),
        ("do", "chase_supplier", NOTE),
        ("do", "qa_check", PASS),
    ),
)
case(
    "receive_task",
    "receive task waiting for a message",
    stage(
        start() + '<bpmn:receiveTask id="await_part" messageRef="msg_part"><bpmn:extensionElements>'
        "<spiffworkflow:messageVariable>part</spiffworkflow:messageVariable></bpmn:extensionElements>"
        "</bpmn:receiveTask>"
        + check("gw", "part['serial'] == 'P-9'")
        + qa_check()
        + end()
        + chain("start", "await_part", "gw")
        + flow("qa_check", "end")
    ).replace("<bpmn:process ", _MESSAGE + "<bpmn:process ", 1),
    (("open", set()), ("message", "part_arrived", {"serial": "P-9"}, 202), ("do", "qa_check", PASS)),
)
case(
    "boundary_message",
    "interrupting boundary message on a user task",
    stage(
        start()
        + user("bench_test")
        + '<bpmn:boundaryEvent id="part_came" attachedToRef="bench_test"><bpmn:messageEventDefinition '
        'messageRef="msg_part" /></bpmn:boundaryEvent>'
        + user("fit_part")
        + qa_check()
        + end()
        + chain("start", "bench_test", "qa_check", "end")
        + chain("part_came", "fit_part", "qa_check")
    ).replace("<bpmn:process ", _MESSAGE + "<bpmn:process ", 1),
    (
        ("open", {"bench_test"}),
        ("message", "part_arrived", {"serial": "P-9"}, 202),
        ("open", {"fit_part"}),
        ("do", "fit_part", NOTE),
        ("do", "qa_check", PASS),
    ),
)
# --- run-time mistakes become incidents (issue 15.2) ----------------------------------------------------------
case(
    "incident_mi_missing_collection",
    "multi-instance over a collection no path set: an incident naming the element",
    stage(
        _tail("inspect_part")
        + user(
            "inspect_part",
            inner='<bpmn:multiInstanceLoopCharacteristics isSequential="false">'
            "<bpmn:loopDataInputRef>spare_parts</bpmn:loopDataInputRef>"
            '<bpmn:inputDataItem id="part" name="part" /></bpmn:multiInstanceLoopCharacteristics>',
        )
    ),
    (("status", "incident"), ("incident", "inspect_part")),
    ends="incident",
)
case(
    "incident_script_error",
    "a script failing at run time: an incident naming the element",
    stage(_tail("divide") + script("divide", "ratio = 10 / 0")),
    (("status", "incident"), ("incident", "divide")),
    ends="incident",
)
case(
    "incident_gateway_no_branch",
    "an exclusive gateway none of whose conditions holds and no default: an incident",
    stage(
        start()
        + script("setup", "level = 1")
        + '<bpmn:exclusiveGateway id="route" />'
        + flow("route", "qa_check", "level > 5", flow_id="f_route_high")
        + flow("route", "extra", "level > 3", flow_id="f_route_mid")
        + user("extra")
        + qa_check()
        + end()
        + chain("start", "setup", "route")
        + chain("extra", "qa_check", "end")
    ),
    (("status", "incident"), ("incident", "route")),
    ends="incident",
)
# --- decision tables in FEEL (issue 15.5) ---------------------------------------------------------------------
_GRADE = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="corpus_grade_defs" name="Grade"
  namespace="urn:corpus">
  <decision id="corpus_grade" name="Grade">
    <decisionTable id="corpus_grade_table" hitPolicy="FIRST">
      <input id="in_fault" label="Fault"><inputExpression id="in_fault_e" typeRef="string"><text>fault</text>
      </inputExpression></input>
      <input id="in_hours" label="Hours"><inputExpression id="in_hours_e" typeRef="number"><text>hours</text>
      </inputExpression></input>
      <output id="out_grade" name="grade" typeRef="string" />
      <rule id="r_liquid"><inputEntry id="r1a"><text>"liquid_damage"</text></inputEntry>
        <inputEntry id="r1b"><text>-</text></inputEntry><outputEntry id="r1o"><text>"scrap"</text></outputEntry>
      </rule>
      <rule id="r_short"><inputEntry id="r2a"><text>not("liquid_damage")</text></inputEntry>
        <inputEntry id="r2b"><text>[1..5]</text></inputEntry><outputEntry id="r2o"><text>"quick"</text></outputEntry>
      </rule>
      <rule id="r_mid"><inputEntry id="r3a"><text>"electronic","sensor"</text></inputEntry>
        <inputEntry id="r3b"><text>&lt; 10</text></inputEntry><outputEntry id="r3o"><text>"bench"</text></outputEntry>
      </rule>
      <rule id="r_rest"><inputEntry id="r4a"><text>-</text></inputEntry>
        <inputEntry id="r4b"><text>-</text></inputEntry><outputEntry id="r4o"><text>"long"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""


def _graded(fault: str, hours: int, grade: str) -> str:
    return stage(
        start()
        + script("setup", f"fault = '{fault}'\nhours = {hours}")
        + '<bpmn:businessRuleTask id="grade_unit"><bpmn:extensionElements>'
        "<spiffworkflow:calledDecisionId>corpus_grade</spiffworkflow:calledDecisionId>"
        "</bpmn:extensionElements></bpmn:businessRuleTask>"
        + check("gw", f"grade == '{grade}'")
        + qa_check()
        + end()
        + chain("start", "setup", "grade_unit", "gw")
        + flow("qa_check", "end")
    )


for _fault, _hours, _grade in (
    ("liquid_damage", 2, "scrap"),
    ("electronic", 3, "quick"),
    ("sensor", 7, "bench"),
    ("mechanical", 7, "long"),
):
    case(
        f"dmn_feel_{_grade}",
        f"business rule task, FEEL table: {_fault} for {_hours} h is {_grade}",
        _graded(_fault, _hours, _grade),
        (("open", {"qa_check"}), ("do", "qa_check", PASS)),
        files={"corpus_grade.dmn": _GRADE},
    )
case(
    "refused_dmn_feel_cell",
    "a FEEL cell outside the supported subset",
    _graded("sensor", 7, "bench"),
    refused="rule 'r_mid' (row 3), input 'Fault'",
    files={"corpus_grade.dmn": _GRADE.replace('"electronic","sensor"', 'matches(?, "sens.*")')},
)
# --- what SpiffWorkflow cannot run is refused with a plain reason (issue 15.9) --------------------------------
case(
    "refused_data_store",
    "a data store",
    stage(_tail() + '<bpmn:dataStoreReference id="parts_db" />').replace(
        "<bpmn:process ", '<bpmn:dataStore id="parts_store" name="Parts" /><bpmn:process ', 1
    ),
    refused="parts",
)
case(
    "refused_compensation",
    "a compensation boundary event",
    stage(
        start()
        + user("fit_part")
        + '<bpmn:boundaryEvent id="undo_fit" attachedToRef="fit_part"><bpmn:compensateEventDefinition />'
        "</bpmn:boundaryEvent>" + qa_check() + end() + chain("start", "fit_part", "qa_check", "end")
    ),
    refused="ompensation",
)
# --- concurrent tokens: a side branch that ends does not end its stage (the policy analysis knows it) ------------
case(
    "boundary_timer_non_interrupting",
    "non-interrupting boundary timer on a user task",
    stage(
        start()
        + user("long_test")
        + f'<bpmn:boundaryEvent id="test_slow" cancelActivity="false" attachedToRef="long_test">{_timer("P1D")}'
        "</bpmn:boundaryEvent>"
        + user("tell_lead")
        + end("told")
        + qa_check()
        + end()
        + chain("start", "long_test", "qa_check", "end")
        + chain("test_slow", "tell_lead", "told")
    ),
    (
        ("wait", timedelta(days=1, minutes=1)),
        ("open", {"long_test", "tell_lead"}),
        ("do", "tell_lead", NOTE),
        ("do", "long_test", NOTE),
        ("open", {"qa_check"}),
        ("do", "qa_check", PASS),
    ),
)


case(
    "boundary_escalation",
    "escalation thrown in a subprocess, caught by a non-interrupting boundary event",
    stage(
        start()
        + '<bpmn:subProcess id="bench">'
        + start("b_start")
        + '<bpmn:intermediateThrowEvent id="raise_slow"><bpmn:escalationEventDefinition escalationRef="esc_slow" />'
        "</bpmn:intermediateThrowEvent>"
        + user("bench_test")
        + end("b_end")
        + chain("b_start", "raise_slow", "bench_test", "b_end")
        + "</bpmn:subProcess>"
        + '<bpmn:boundaryEvent id="slow" cancelActivity="false" attachedToRef="bench">'
        '<bpmn:escalationEventDefinition escalationRef="esc_slow" /></bpmn:boundaryEvent>'
        + user("note_slow")
        + end("noted")
        + qa_check()
        + end()
        + chain("start", "bench", "qa_check", "end")
        + chain("slow", "note_slow", "noted")
    ).replace("<bpmn:process ", _ESCALATION + "<bpmn:process ", 1),
    (
        ("open", {"bench_test", "note_slow"}),
        ("do", "note_slow", NOTE),
        ("do", "bench_test", NOTE),
        ("do", "qa_check", PASS),
    ),
)


case(
    "terminate",
    "terminate end event ending a parallel branch still open",
    stage(
        start()
        + '<bpmn:parallelGateway id="fork" />'
        + user("optional_photos")
        + end("photos_end")
        + qa_check()
        + end("end", "<bpmn:terminateEventDefinition />")
        + chain("start", "fork")
        + chain("fork", "qa_check", "end")
        + chain("fork", "optional_photos", "photos_end")
    ),
    (("open", {"qa_check", "optional_photos"}), ("do", "qa_check", PASS), ("open", {"ship_return"})),
)
case(
    "refused_parallel_branches_skip_qa",
    "a parallel split whose branches both end without QA (on a path that skips it)",
    stage(
        start()
        + script("setup", "level = 1")
        + '<bpmn:exclusiveGateway id="route" default="f_route_fork" />'
        + flow("route", "qa_check", "level > 5", flow_id="f_route_qa")
        + flow("route", "fork", flow_id="f_route_fork")
        + '<bpmn:parallelGateway id="fork" />'
        + user("clean")
        + user("photograph")
        + end("clean_end")
        + end("photo_end")
        + qa_check()
        + end()
        + chain("start", "setup", "route")
        + chain("fork", "clean", "clean_end")
        + chain("fork", "photograph", "photo_end")
        + flow("qa_check", "end")
    ),
    refused="without passing qa_check",
)
case(
    "refused_repair_on_a_boundary_branch",
    "a repair on a non-interrupting boundary branch of the quality check, after which nothing checks it",
    stage(
        start()
        + qa_check()
        + f'<bpmn:boundaryEvent id="qa_slow" cancelActivity="false" attachedToRef="qa_check">{_timer("P1D")}'
        "</bpmn:boundaryEvent>"
        + user("repair")
        + end("repaired_again")
        + end()
        + chain("start", "qa_check", "end")
        + chain("qa_slow", "repair", "repaired_again")
    ),
    refused="without passing qa_check",
)
case(
    "implicit_end",
    "an activity with no outgoing flow ends its path (implicit end)",
    stage(start() + qa_check() + flow("start", "qa_check")),
    (("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
# --- service tasks (the receiver's address is filled in by the test) -----------------------------------------
RECEIVER = "RECEIVER_URL"
case(
    "service_task",
    "service task posting to an outside system and keeping its answer",
    stage(
        start() + '<bpmn:serviceTask id="tell_lab"><bpmn:extensionElements>'
        '<spiffworkflow:serviceTaskOperator id="http/PostRequest" resultVariable="lab">'
        f'<spiffworkflow:parameters><spiffworkflow:parameter id="url" type="str" value="\'{RECEIVER}\'" />'
        '<spiffworkflow:parameter id="data" type="any" value="{\'rma\': rma_number}" />'
        "</spiffworkflow:parameters></spiffworkflow:serviceTaskOperator></bpmn:extensionElements>"
        "</bpmn:serviceTask>"
        + check("gw", "lab['http_status'] == 200 and lab['body']['slot'] == 'B4'")
        + qa_check()
        + end()
        + chain("start", "tell_lab", "gw")
        + flow("qa_check", "end")
    ),
    (("open", {"qa_check"}), ("posted", {"rma"}), ("do", "qa_check", PASS)),
)
case(
    "message_throw",
    "intermediate message throw event and send task (the message goes out; the flow goes on)",
    stage(
        start()
        + '<bpmn:intermediateThrowEvent id="tell_supplier"><bpmn:messageEventDefinition messageRef="msg_part" />'
        "</bpmn:intermediateThrowEvent>"
        + '<bpmn:sendTask id="notify_lab" messageRef="msg_part" />'
        + qa_check()
        + end()
        + chain("start", "tell_supplier", "notify_lab", "qa_check", "end")
    ).replace("<bpmn:process ", _MESSAGE + "<bpmn:process ", 1),
    (("open", {"qa_check"}), ("do", "qa_check", PASS)),
)
