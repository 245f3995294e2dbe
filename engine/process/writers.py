"""Who writes which process variable: every way an element of a bundle can put a name into the task data.

A variable is written by a script task's script, any element's `spiffworkflow:preScript` or `postScript`, a
human task's form fields (or its `spiffworkflow:variableName`), a business rule task's decision outputs, a
service task's `resultVariable`, a multi-instance activity's output collection and items, a data object (its
id is the name it takes in the task data, which a task reading it writes and a task writing it removes), a
message's `spiffworkflow:messageVariable` and a signal, error or escalation's `spiffworkflow:variableName`.
Deletions (`del x`) count as writes. The data-flow check (engine.process.dataflow) asks which names an element
sets; the company policy (engine.process.policy) asks who writes the facts it relies on, and refuses any
writer but the authoritative one.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
HUMAN_TASKS = ("userTask", "manualTask")
FORM_PROPERTY = "formJsonSchemaFilename"
# How an element writes a variable, as the policy's `only_set_by` rules name it.
SCRIPT, PRE_SCRIPT, POST_SCRIPT = "script", "preScript", "postScript"
FORM, TASK_VARIABLE, DECISION, SERVICE = "form", "task variable", "decision", "service result"
MULTI_INSTANCE, DATA_OBJECT, MESSAGE, EVENT_PAYLOAD = "multi-instance", "data object", "message", "event payload"


@dataclass(frozen=True)
class Write:
    variable: str
    element: str  # the id of the element that writes (the data object's id for a data object)
    tag: str  # its BPMN local name (userTask, scriptTask, dataObject, ...)
    how: str  # one of the constants above
    source: str  # what writes, in words: "its postScript", "field 'in_warranty' of form diagnose.json", ...
    line: int | None
    decision: str | None = None  # the decision a business rule task calls (how == DECISION)
    lane: str | None = None  # the lane of the element, if any
    constants: tuple | None = None  # a script's: the values it assigns, when every one is a literal (else None)
    name: str | None = None  # the element's name


def _local(el) -> str:
    return etree.QName(el.tag).localname if isinstance(el.tag, str) else ""


def assigned_names(source: str | None) -> set[str]:
    """Names a script leaves in the task data (assignment and loop targets; not comprehension variables)."""
    return _script_names(source, (ast.Store,))


def written_names(source: str | None) -> set[str]:
    """Names a script assigns or deletes."""
    return _script_names(source, (ast.Store, ast.Del))


def _script_names(source: str | None, contexts: tuple) -> set[str]:
    try:
        tree = ast.parse(source or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()  # the sandbox check refuses such a script by name
    local = comprehension_names(tree)
    return {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, contexts) and n.id not in local
    }


def comprehension_names(tree: ast.AST) -> set[str]:
    """The names a comprehension in `tree` binds for itself (not process variables)."""
    return {
        n.id
        for c in ast.walk(tree)
        if isinstance(c, ast.comprehension)
        for n in ast.walk(c.target)
        if isinstance(n, ast.Name)
    }


def literal_values(source: str, name: str) -> tuple | None:
    """The values a script gives `name`, when it only ever writes `name = <literal>`; else None."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    values = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name and not isinstance(node.ctx, ast.Load):
            parent = next(
                (a for a in ast.walk(tree) if isinstance(a, ast.Assign) and node in a.targets),
                None,
            )
            if parent is None or not isinstance(parent.value, ast.Constant):
                return None
            values.append(parent.value.value)
    return tuple(values)


def spiff_text(el, tag: str) -> str | None:
    found = el.find(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}{tag}")
    return found.text if found is not None else None


def form_of(el) -> str | None:
    for prop in el.iterfind(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}properties/{{{SPIFF}}}property"):
        if prop.get("name") == FORM_PROPERTY:
            return prop.get("value")
    return None


def decision_outputs(decision) -> set[str]:
    return {el.get("name") for el in decision.iter() if _local(el) == "output" and el.get("name")}


def lanes_of(root) -> dict[str, str]:
    """Element id -> the name of the lane holding it."""
    return {
        ref.text.strip(): lane.get("name") or lane.get("id")
        for lane in root.iter(f"{{{BPMN}}}lane")
        for ref in lane.iterfind(f"{{{BPMN}}}flowNodeRef")
        if ref.text and ref.text.strip()
    }


def writes_of(el, root, forms: dict, decisions: dict, lanes: dict | None = None) -> list[Write]:
    """Every write one flow node makes. `forms`: form file name -> JSON schema; `decisions`: decision id ->
    (DMN file, decision element); `lanes`: element id -> lane name (lanes_of(root))."""
    tag, element, line = _local(el), el.get("id") or "?", el.sourceline
    lane = (lanes or {}).get(element)
    writes: list[Write] = []

    def add(names, how, source, decision=None, script=None):
        for name in sorted(names):
            constants = literal_values(script, name) if script is not None else None
            writes.append(Write(name, element, tag, how, source, line, decision, lane, constants, el.get("name")))

    if tag == "scriptTask":
        script = el.find(f"{{{BPMN}}}script")
        text = script.text if script is not None else None
        add(written_names(text), SCRIPT, "its script", script=text or "")
    for how in (PRE_SCRIPT, POST_SCRIPT):
        text = spiff_text(el, how)
        add(written_names(text), how, f"its {how}", script=text or "")
    if tag in HUMAN_TASKS:
        form = form_of(el)
        schema = forms.get(form) if form else None
        for field in sorted((schema or {}).get("properties") or {}) if isinstance(schema, dict) else []:
            add({field}, FORM, f"field '{field}' of form {form}")
        variable = (spiff_text(el, "variableName") or "").strip()
        if variable:
            add({variable}, TASK_VARIABLE, "its spiffworkflow:variableName")
    if tag == "businessRuleTask":
        decision_id = (spiff_text(el, "calledDecisionId") or "").strip()
        found = decisions.get(decision_id)
        if found is not None:
            add(
                decision_outputs(found[1]), DECISION, f"an output of decision '{decision_id}' ({found[0]})", decision_id
            )
    if tag == "serviceTask":
        operator = el.find(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}serviceTaskOperator")
        if operator is not None and (operator.get("resultVariable") or "").strip():
            add({operator.get("resultVariable").strip()}, SERVICE, "its service result (resultVariable)")
    for loop in el.iterfind(f"{{{BPMN}}}multiInstanceLoopCharacteristics"):
        ref = loop.find(f"{{{BPMN}}}loopDataOutputRef")
        if ref is not None and (ref.text or "").strip():
            add({ref.text.strip()}, MULTI_INSTANCE, "its multi-instance output collection (loopDataOutputRef)")
        for item in ("inputDataItem", "outputDataItem"):
            data_item = loop.find(f"{{{BPMN}}}{item}")
            if data_item is not None and data_item.get("id"):  # SpiffWorkflow names the item by its id
                add({data_item.get("id")}, MULTI_INSTANCE, f"its multi-instance {item}")
    # SpiffWorkflow reads a catch's messageVariable from the bpmn:message, else from the event definition (or the
    # receive task) itself: SpiffArena writes it there, and a message delivered over the API lands in it
    catches = list(el.iter(f"{{{BPMN}}}messageEventDefinition")) + ([el] if tag == "receiveTask" else [])
    for definition in catches:
        message = _by_id(root, "message", definition.get("messageRef"))
        holder = message.find(f".//{{{SPIFF}}}messageVariable") if message is not None else None
        if holder is None:
            holder = definition.find(f".//{{{SPIFF}}}messageVariable")
        if holder is not None and (holder.text or "").strip():
            name = message.get("name") if message is not None else definition.get("messageRef")
            add({holder.text.strip()}, MESSAGE, f"the messageVariable of message '{name}'")
    for kind in ("signal", "error", "escalation"):
        for definition in el.iter(f"{{{BPMN}}}{kind}EventDefinition"):
            ref = _by_id(root, kind, definition.get(f"{kind}Ref"))
            payload = spiff_text(ref, "variableName") if ref is not None else None
            if payload and payload.strip() and tag in ("startEvent", "intermediateCatchEvent", "boundaryEvent"):
                add({payload.strip()}, EVENT_PAYLOAD, f"the payload variable of {kind} '{ref.get('name')}'")
    return writes


def data_object_writes(root, lanes: dict | None = None) -> list[Write]:
    """A data object is copied into the task data under its id by every task that reads it (and removed from
    it by every task that writes it): its id is a variable the process writes."""
    writes = []
    for obj in root.iter(f"{{{BPMN}}}dataObject"):
        name = obj.get("id")
        if not name:
            continue
        refs = {r.get("id") for r in root.iter(f"{{{BPMN}}}dataObjectReference") if r.get("dataObjectRef") == name}
        users = sorted(
            {
                a.getparent().get("id") or "?"
                for a in root.iter(f"{{{BPMN}}}dataInputAssociation", f"{{{BPMN}}}dataOutputAssociation")
                for ref in a.iter(f"{{{BPMN}}}sourceRef", f"{{{BPMN}}}targetRef")
                if (ref.text or "").strip() in refs
            }
        )
        source = "a data object" + (f" (read or written by {', '.join(users)})" if users else "")
        writes.append(
            Write(name, name, "dataObject", DATA_OBJECT, source, obj.sourceline, None, None, None, obj.get("name"))
        )
    return writes


def _by_id(root, local: str, ident: str | None):
    if not ident:
        return None
    return next((m for m in root.iter(f"{{{BPMN}}}{local}") if m.get("id") == ident), None)
