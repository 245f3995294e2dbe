"""Semantic checks on a bundle's parsed XML, run before SpiffWorkflow sees it.

SpiffWorkflow accepts some broken diagrams silently (a sequence flow from an element that does not
exist, an activity that no flow reaches, a gateway that cannot choose) and reports others with a
message that names neither the file nor the element at fault. These checks run on every file at once
and return every problem as `{file, element, line, message}`; parse_bundle adds them to the XML and
XSD errors, so one deploy attempt lists everything that is wrong.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

from lxml import etree

from engine.process.dataflow import dmn_input_errors
from engine.process.operators import OPERATORS
from engine.process.policy import FLOW_NODE_TAGS, implicit_ends

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
FORM_PROPERTY = "formJsonSchemaFilename"
HUMAN_TASKS = {"userTask", "manualTask"}
CONTAINERS = {"process", "subProcess", "transaction"}
NO_INCOMING = {"startEvent", "boundaryEvent"}
NO_OUTGOING = {"endEvent"}
STATUS_PROPERTY = "rmaStatus"
END_STATUS = "closed"  # the status of an RMA whose process ended; no task sets it
_STATUS_WORD = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_LABELS = {"exclusiveGateway": "exclusive gateway", "inclusiveGateway": "inclusive gateway"}


def _local(el) -> str:
    return etree.QName(el.tag).localname if isinstance(el.tag, str) else ""


def error(file: str, message: str, el=None, element: str | None = None) -> dict:
    return {
        "file": file,
        "element": element if element is not None else (el.get("id") if el is not None else None),
        "line": el.sourceline if el is not None else None,
        "message": message,
    }


def check_bundle(
    files: dict[str, str],
    bpmn_trees: dict,
    dmn_trees: dict,
    forms: dict,
    lane_roles,
    complete: bool,
    url_check: Callable[[str], str | None] | None = None,
) -> list[dict]:
    """Every semantic error in the bundle; checks across files only run when every file parsed (`complete`).

    `url_check` (a deploy): why a URL may not be called, or None (the outbound address policy's
    `url_refusal`, engine/adapters/address_policy.py); a service task whose URL is a literal it refuses is an
    error. A stored bundle is not checked again: its URLs are checked when called."""
    errors: list[dict] = []
    for name, root in sorted(bpmn_trees.items()):
        for container in root.iter(*(f"{{{BPMN}}}{tag}" for tag in CONTAINERS)):
            errors += _flow_errors(name, container)
            errors += _gateway_errors(name, container)
        errors += _human_task_errors(name, root, forms, lane_roles)
        errors += _service_task_errors(name, root, url_check)
        errors += _status_errors(name, root)
        errors += unsupported_errors(name, root)
    if complete:
        process_ids = {p.get("id") for root in bpmn_trees.values() for p in root.iter(f"{{{BPMN}}}process")}
        decisions = {
            d.get("id"): (name, d) for name, root in dmn_trees.items() for d in root.iter() if _local(d) == "decision"
        }
        errors += executable_errors(bpmn_trees)
        for name, root in sorted(bpmn_trees.items()):
            errors += _call_errors(name, root, process_ids)
            errors += _decision_errors(name, root, decisions)
        if not errors:  # the data flow needs a well-formed graph to follow
            errors += dmn_input_errors(files, bpmn_trees, decisions, forms)
    return errors


def _status_errors(file: str, root) -> list[dict]:
    """An rmaStatus the customer would see that is not a status word (lower-case letters, digits, _) or is
    'closed', which only the end of the process sets: the tracking page and API show it as the RMA's status."""
    errors = []
    for prop in root.iter(f"{{{SPIFF}}}property"):
        if prop.get("name") != STATUS_PROPERTY:
            continue
        value = prop.get("value") or ""
        if not _STATUS_WORD.match(value) or value == END_STATUS:
            owner = next((a for a in prop.iterancestors() if a.get("id")), None)
            errors.append(
                {
                    "file": file,
                    "element": owner.get("id") if owner is not None else None,
                    "line": prop.sourceline,
                    "message": f"{STATUS_PROPERTY} '{value}' is not a status a task can set "
                    "(lower-case letters, digits and _, starting with a letter; not 'closed')",
                }
            )
    return errors


def _is_event_subprocess(el) -> bool:
    return _local(el) in ("subProcess", "transaction") and el.get("triggeredByEvent") == "true"


def _is_link_event(el) -> bool:
    return el.find(f"{{{BPMN}}}linkEventDefinition") is not None


def _flow_errors(file: str, container) -> list[dict]:
    """Sequence flows naming no element of their (sub)process, and flow nodes no flow reaches or leaves."""
    errors = []
    scope = container.get("id")
    nodes = {el.get("id"): el for el in container if _local(el) in FLOW_NODE_TAGS}
    flows = {el.get("id"): el for el in container if _local(el) == "sequenceFlow"}
    elsewhere = {el.get("id") for el in container.getroottree().iter() if isinstance(el.tag, str) and el.get("id")}
    incoming: dict[str, list[str]] = {}
    outgoing: dict[str, list[str]] = {}
    for flow_id, flow in flows.items():
        for attr, end, index in (("sourceRef", "starts at", outgoing), ("targetRef", "ends at", incoming)):
            ref = flow.get(attr)
            if ref in nodes:
                index.setdefault(ref, []).append(flow_id)
            elif ref in elsewhere:
                errors.append(
                    error(
                        file,
                        f"sequence flow '{flow_id}' {end} '{ref}', which is not a flow node "
                        f"of '{scope}' (a flow cannot cross a (sub)process boundary)",
                        flow,
                    )
                )
            else:
                errors.append(
                    error(
                        file, f"dangling sequence flow '{flow_id}': it {end} '{ref}', but no element has that id", flow
                    )
                )
    path_ends = implicit_ends(container)  # an activity or event with no way out ends its path (issue 15.9)
    for node_id, el in nodes.items():
        errors += _listed_flow_errors(file, el, flows)
        tag = _local(el)
        exempt = _is_event_subprocess(el) or el.get("isForCompensation") == "true"
        compensation = el.find(f"{{{BPMN}}}compensateEventDefinition") is not None
        start_of_event_subprocess = tag == "startEvent" and _is_event_subprocess(container)
        if tag == "startEvent" and node_id in incoming:
            errors.append(
                error(
                    file,
                    f"start event '{node_id}' has an incoming sequence flow "
                    f"({', '.join(incoming[node_id])}); a start event cannot be entered",
                    el,
                )
            )
        if tag == "endEvent" and node_id in outgoing:
            errors.append(
                error(
                    file,
                    f"end event '{node_id}' has an outgoing sequence flow "
                    f"({', '.join(outgoing[node_id])}); nothing runs after an end event",
                    el,
                )
            )
        link = tag in ("intermediateCatchEvent", "intermediateThrowEvent") and _is_link_event(el)
        if not exempt and not link and tag not in NO_INCOMING and node_id not in incoming:
            errors.append(
                error(file, f"{_kind(tag)} '{node_id}' has no incoming sequence flow, so it can never run", el)
            )
        if (
            not exempt
            and not link
            and not compensation
            and not start_of_event_subprocess
            and tag not in NO_OUTGOING
            and node_id not in outgoing
            and node_id not in path_ends
        ):
            way = "a gateway needs a way out" if "Gateway" in tag else "nothing would run after it"
            errors.append(error(file, f"{_kind(tag)} '{node_id}' has no outgoing sequence flow: {way}", el))
    return errors


def _listed_flow_errors(file: str, el, flows: dict) -> list[dict]:
    """`<incoming>`/`<outgoing>` entries must name flows that really enter or leave the element."""
    errors = []
    node_id = el.get("id")
    for child in el:
        kind = _local(child)
        if kind not in ("incoming", "outgoing"):
            continue
        ref = (child.text or "").strip()
        flow = flows.get(ref)
        attr = "targetRef" if kind == "incoming" else "sourceRef"
        if flow is None:
            errors.append(
                error(
                    file,
                    f"'{node_id}' lists {kind} flow '{ref}', but no sequence flow of its process has that id",
                    child,
                    node_id,
                )
            )
        elif flow.get(attr) != node_id:
            errors.append(
                error(
                    file,
                    f"'{node_id}' lists {kind} flow '{ref}', but that flow's {attr} is '{flow.get(attr)}'",
                    child,
                    node_id,
                )
            )
    return errors


def _kind(tag: str) -> str:
    words = []
    for ch in tag:
        if ch.isupper():
            words.append(" ")
        words.append(ch.lower())
    return "".join(words)


def _gateway_errors(file: str, container) -> list[dict]:
    """An exclusive gateway with several ways out must be able to choose: conditions, a default, or both."""
    errors = []
    flows = [el for el in container if _local(el) == "sequenceFlow"]
    for gw in container:
        tag = _local(gw)
        if tag not in _LABELS:
            continue
        gw_id = gw.get("id")
        out = [f for f in flows if f.get("sourceRef") == gw_id]
        out_ids = [f.get("id") for f in out]
        default = gw.get("default")
        if default and default not in out_ids:
            errors.append(
                error(
                    file,
                    f"{_LABELS[tag]} '{gw_id}' names '{default}' as its default flow, but that is "
                    f"not one of its outgoing flows ({', '.join(out_ids) or 'none'})",
                    gw,
                )
            )
        if len(out) < 2:
            continue
        conditioned = {f.get("id") for f in out if _condition(f)}
        if not conditioned and not default:
            errors.append(
                error(
                    file,
                    f"{_LABELS[tag]} '{gw_id}' has {len(out)} outgoing flows "
                    f"({', '.join(out_ids)}) but no default flow and no conditions: the engine "
                    f"cannot choose a path",
                    gw,
                )
            )
            continue
        if tag == "exclusiveGateway":
            bare = [f for f in out_ids if f not in conditioned and f != default]
            if bare:
                errors.append(
                    error(
                        file,
                        f"exclusive gateway '{gw_id}': outgoing flow(s) {', '.join(bare)} have no "
                        f"condition and are not the default flow",
                        gw,
                    )
                )
    return errors


def _condition(flow) -> str:
    cond = flow.find(f"{{{BPMN}}}conditionExpression")
    return (cond.text or "").strip() if cond is not None else ""


def properties(el) -> dict[str, str]:
    """The task's spiffworkflow:properties as a dict."""
    return {
        p.get("name"): p.get("value")
        for p in el.iterfind(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}properties/{{{SPIFF}}}property")
    }


def _human_task_errors(file: str, root, forms: dict, lane_roles) -> list[dict]:
    errors = []
    lanes = {
        ref.text.strip(): lane.get("name")
        for lane in root.iter(f"{{{BPMN}}}lane")
        for ref in lane.iterfind(f"{{{BPMN}}}flowNodeRef")
        if ref.text
    }
    for el in root.iter(*(f"{{{BPMN}}}{tag}" for tag in HUMAN_TASKS)):
        form = properties(el).get(FORM_PROPERTY)
        if form and form not in forms:
            errors.append(error(file, f"form file '{form}' is not in the bundle", el))
        lane = lanes.get(el.get("id"))
        if lane is not None and lane not in lane_roles:
            errors.append(
                error(file, f"lane '{lane}' maps to no role (known lanes: {', '.join(sorted(lane_roles))})", el)
            )
    return errors


def _service_task_errors(file: str, root, url_check: Callable[[str], str | None] | None = None) -> list[dict]:
    """A service task names a known operator (engine/adapters/service_tasks.py) with the parameters it takes,
    and a URL written as a literal that `url_check` accepts."""
    errors = []
    for task in root.iter(f"{{{BPMN}}}serviceTask"):
        operator = task.find(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}serviceTaskOperator")
        if operator is None:
            errors.append(
                error(
                    file,
                    f"a service task needs a spiffworkflow:serviceTaskOperator (one of {', '.join(sorted(OPERATORS))})",
                    task,
                )
            )
            continue
        name = operator.get("id") or ""
        if name not in OPERATORS:
            errors.append(
                error(
                    file,
                    f"unknown service operator '{name}' (known: {', '.join(sorted(OPERATORS))})",
                    operator,
                    task.get("id"),
                )
            )
            continue
        _method, accepted, required = OPERATORS[name]
        given = {p.get("id") for p in operator.iter(f"{{{SPIFF}}}parameter")}
        for missing in sorted(required - given):
            errors.append(error(file, f"{name}: missing parameter {missing}", operator, task.get("id")))
        for unknown in sorted(given - accepted, key=str):
            errors.append(
                error(
                    file,
                    f"{name} takes no parameter {unknown} (it takes {', '.join(sorted(accepted))})",
                    operator,
                    task.get("id"),
                )
            )
        for param in operator.iter(f"{{{SPIFF}}}parameter"):
            url = _literal_url(param.get("value") or "") if url_check and param.get("id") == "url" else None
            refusal = url_check(url) if url_check and url is not None else None
            if refusal is None and param.get("id") == "url" and _has_control_character(param.get("value") or ""):
                refusal = "the URL contains a control character"  # in any literal part, not only its start
            if refusal is not None:
                errors.append(error(file, f"{name}: parameter url: {refusal}", param, task.get("id")))
    return errors


def _has_control_character(expression: str) -> bool:
    """Whether any string literal of a URL expression holds a control character (CR, LF, NUL, ...): a header or
    request line injected after the host is no more callable than one in it."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return False  # the sandbox check reports it
    return any(
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and any(ord(c) < 32 or ord(c) == 127 for c in node.value)
        for node in ast.walk(tree)
    )


def _literal_url(expression: str) -> str | None:
    """What a URL expression fixes before it runs: a string literal, or the literal start of an f-string or a
    `+` concatenation once that start ends the host (`'http://10.0.0.5/rma/' + rma_number`); else None."""
    try:
        node = ast.parse(expression.strip(), mode="eval").body
    except (SyntaxError, ValueError):
        return None  # the sandbox check reports it
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        node = node.left
    if isinstance(node, ast.JoinedStr) and node.values:
        node = node.values[0]
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return None
    _scheme, sep, rest = node.value.partition("://")
    return node.value if sep and any(c in rest for c in "/?#") else None


def _call_errors(file: str, root, process_ids: set) -> list[dict]:
    errors = []
    for el in root.iter(f"{{{BPMN}}}callActivity"):
        called = el.get("calledElement")
        if not called:
            errors.append(error(file, "call activity names no process to call (calledElement is empty)", el))
        elif called not in process_ids:
            errors.append(error(file, f"call activity calls unknown process '{called}'", el))
    return errors


def _decision_errors(file: str, root, decisions: dict) -> list[dict]:
    errors = []
    for el in root.iter(f"{{{BPMN}}}businessRuleTask"):
        ref = el.find(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}calledDecisionId")
        decision = (ref.text or "").strip() if ref is not None else ""
        if not decision:
            errors.append(error(file, "business rule task names no decision (spiffworkflow:calledDecisionId)", el))
        elif decision not in decisions:
            known = ", ".join(sorted(decisions)) or "none"
            errors.append(
                error(
                    file,
                    f"business rule task calls unknown decision '{decision}' (decisions in the bundle: {known})",
                    el,
                )
            )
    return errors


def lane_errors(bpmn_trees: dict, lane_roles) -> list[dict]:
    """A user or manual task outside every lane (its own, or that of a subprocess holding it) has nobody to do it:
    refused at deploy, not handed to some default role (issue 15.6). A stored bundle is not checked again."""
    names = list(lane_roles)
    choice = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else "".join(names)
    errors = []
    for file, root in sorted(bpmn_trees.items()):
        in_lane = {
            (ref.text or "").strip()
            for lane in root.iter(f"{{{BPMN}}}lane")
            for ref in lane.iter(f"{{{BPMN}}}flowNodeRef")
        }
        for el in root.iter(*(f"{{{BPMN}}}{tag}" for tag in HUMAN_TASKS)):
            holders = [el, *(a for a in el.iterancestors() if _local(a) in ("subProcess", "transaction"))]
            if any(h.get("id") in in_lane for h in holders):
                continue
            task = el.get("id")
            errors.append(
                error(
                    file,
                    f"{_kind(_local(el))} '{task}' is in no lane, so nobody would be asked to do it: "
                    f"put task {task} in a lane: {choice}",
                    el,
                )
            )
    return errors


# --- issue 15.9: what SpiffWorkflow would refuse with its own words, or ignore, said plainly with file and element ---

_COMPENSATION = (
    "compensation is not supported: the engine cannot undo a completed activity by a compensation event. "
    "Draw the undoing as ordinary flow instead (an error boundary event, or a gateway leading to the undoing task)"
)


def unsupported_errors(file: str, root) -> list[dict]:
    """Constructs this engine does not run, each named with its element and line: data stores (no data store is
    configured) and compensation (SpiffWorkflow's parser refuses it with a raw exception and the element's XML)."""
    errors = []
    stores = {el.get("id"): el.get("name") or el.get("id") for el in root.iter(f"{{{BPMN}}}dataStore")}
    for el in root.iter(f"{{{BPMN}}}dataStoreReference", f"{{{BPMN}}}dataStore"):
        if _local(el) == "dataStore":
            what = f"data store '{el.get('name') or el.get('id')}'"
        else:
            what = f"data store reference '{el.get('id')}'"
            if el.get("dataStoreRef"):
                what += f" (to data store '{stores.get(el.get('dataStoreRef'), el.get('dataStoreRef'))}')"
        errors.append(
            error(
                file,
                f"{what}: data stores are not supported; keep the value in the process data "
                "(a data object, or a variable a task sets)",
                el,
            )
        )
    for prop in root.iter(f"{{{SPIFF}}}property"):
        # SpiffWorkflow's parser reads both attributes and fails on a missing one with just its name ('value')
        missing = [a for a in ("name", "value") if prop.get(a) is None]
        if missing:
            owner = next((a for a in prop.iterancestors() if a.get("id")), None)
            errors.append(
                error(
                    file,
                    f"spiffworkflow:property {prop.get('name') or ''} has no {' and no '.join(missing)} attribute: "
                    'a property needs both (name="..." value="...")'.replace("property  has", "property has"),
                    prop,
                    owner.get("id") if owner is not None else None,
                )
            )
    for el in root.iter(f"{{{BPMN}}}compensateEventDefinition"):
        event = el.getparent()
        errors.append(error(file, f"{_kind(_local(event))} '{event.get('id')}': {_COMPENSATION}", event))
    for el in root.iter():
        if isinstance(el.tag, str) and el.get("isForCompensation") == "true":
            errors.append(
                error(file, f"{_kind(_local(el))} '{el.get('id')}' is a compensation handler: {_COMPENSATION}", el)
            )
    return errors


def executable_errors(bpmn_trees: dict) -> list[dict]:
    """A process marked isExecutable="false" that the skeleton is or that a call activity calls: SpiffWorkflow
    skips such a process, so the call would name a process that does not exist. Named in its own file."""
    called = {
        el.get("calledElement") for root in bpmn_trees.values() for el in root.iter(f"{{{BPMN}}}callActivity")
    } | {"rma"}
    errors = []
    for file, root in sorted(bpmn_trees.items()):
        for process in root.iter(f"{{{BPMN}}}process"):
            if process.get("isExecutable", "true") != "false" or process.get("id") not in called:
                continue
            errors.append(
                error(
                    file,
                    f"process '{process.get('id')}' is marked not executable (isExecutable=\"false\"), so the engine "
                    'would not run it: mark it executable (isExecutable="true"; in the modeler, the process\'s '
                    "'Executable' box)",
                    process,
                )
            )
    return errors
