"""What a deploy refuses because it would run away with the engine: checks on a new bundle only.

A command runs the process until it waits again, with the instance's row lock held. These checks refuse, by
file, element and line, what would make one command run for minutes or an RMA stall unseen:

- a bundle of more than MAX_BUNDLE_FILES files, and a form that no user or manual task uses;
- a multi-instance activity whose loopCardinality is a constant above MAX_INSTANCES (a computed one is checked
  when it runs: engine.execution.runtime puts the RMA in incident naming the activity), and a standard loop
  whose loopMaximum is above it;
- a timer whose literal duration or cycle is shorter than MIN_TIMER_SECONDS (`R/PT0S` fires on every sweep);
- a loop of sequence flows through gateways and automatic activities only: nothing on it waits for a person,
  a message or a timer, so the engine goes round it until the sandbox's budget stops a script;
- a form `pattern` RE2 cannot run (engine.process.forms: patterns are matched in linear time).

A stored bundle is not checked again (its running RMAs must go on): these run only from a deploy
(`parse_bundle(..., deploy=True)`).
"""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import PurePosixPath

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.process.forms import pattern_errors

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
FORM_PROPERTY = "formJsonSchemaFilename"

# The shipped bundle has about 55 files (stages, forms, decisions, templates in two languages); ten times that
# leaves room for many languages and stages while one upload cannot make a deploy parse thousands of files.
MAX_BUNDLE_FILES = 500
# Instances of one multi-instance activity (or rounds of a standard loop): each is a task in the stored state,
# restored and walked on every command of the RMA. An RMA's parts or units are counted in tens.
MAX_INSTANCES = 100
# The worker sweeps timers every few seconds; an SLA or a reminder is counted in hours or days.
MIN_TIMER_SECONDS = 60

# Flow nodes where the process stops until something outside happens (a person, a message, a timer, a signal).
# A link catch event is not one: a link is a jump within the process.
WAIT_STATES = {"userTask", "manualTask", "receiveTask", "eventBasedGateway", "boundaryEvent"}
_CONTAINERS = ("process", "subProcess", "transaction", "adHocSubProcess")
_FLOW_NODES = {
    "task",
    "scriptTask",
    "serviceTask",
    "sendTask",
    "businessRuleTask",
    "userTask",
    "manualTask",
    "receiveTask",
    "callActivity",
    "subProcess",
    "transaction",
    "adHocSubProcess",
    "exclusiveGateway",
    "inclusiveGateway",
    "parallelGateway",
    "complexGateway",
    "eventBasedGateway",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "startEvent",
    "endEvent",
    "boundaryEvent",
}


def _local(el) -> str:
    tag = el.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _error(file: str, message: str, el=None, element: str | None = None, line: int | None = None) -> dict:
    return {
        "file": file,
        "element": element if element is not None else (el.get("id") if el is not None else None),
        "line": line if line is not None else (el.sourceline if el is not None else None),
        "message": message,
    }


def file_count_error(files: dict[str, str]) -> dict | None:
    """The refusal of a bundle with too many files (checked before any file is parsed)."""
    if len(files) <= MAX_BUNDLE_FILES:
        return None
    return _error(
        "files", f"the bundle has {len(files)} files; a deploy holds at most {MAX_BUNDLE_FILES} (MAX_BUNDLE_FILES)"
    )


def deploy_errors(files: dict[str, str], bpmn_trees: dict, forms: dict[str, dict]) -> list[dict]:
    """Every refusal above for a bundle whose files parsed (`forms`: form file name -> schema)."""
    errors: list[dict] = []
    errors += _unused_form_errors(files, bpmn_trees)
    for name, text in sorted(files.items()):
        schema = forms.get(PurePosixPath(name).name) if name.endswith(".json") and name.startswith("forms/") else None
        for pointer, problem in pattern_errors(schema) if schema is not None else []:
            errors.append(_error(name, f"{problem} (at {pointer})", element=pointer, line=_json_line(text, pointer)))
    waiting = _processes_that_wait(bpmn_trees)
    for name, root in sorted(bpmn_trees.items()):
        errors += _loop_count_errors(name, root)
        errors += _sequential_item_errors(name, root)
        errors += _timer_errors(name, root)
        for container in root.iter(*(f"{{{BPMN}}}{tag}" for tag in _CONTAINERS)):
            errors += _busy_loop_errors(name, container, waiting)
    return errors


def _json_line(text: str, pointer: str) -> int | None:
    """The line of the keyword `pointer` names in the form's text: each key of the pointer is looked for after the
    one before it (the form's own text, as uploaded); None if one is not found."""
    at = 0
    for part in pointer.split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        if key.isdigit():
            continue  # an index into a list: no key of its own
        found = text.find(json.dumps(key), at)
        if found < 0:
            return None
        at = found
    return text[:at].count("\n") + 1


def _human_tasks(root):
    return root.iter(f"{{{BPMN}}}userTask", f"{{{BPMN}}}manualTask")


def _form_of(task) -> str | None:
    for prop in task.iterfind(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}properties/{{{SPIFF}}}property"):
        if prop.get("name") == FORM_PROPERTY:
            return prop.get("value")
    return None


def used_forms(bpmn_roots) -> set[str]:
    """The form file names the user and manual tasks of these BPMN trees name (formJsonSchemaFilename)."""
    return {form for root in bpmn_roots for task in _human_tasks(root) if (form := _form_of(task))}


def _unused_form_errors(files: dict[str, str], bpmn_trees: dict) -> list[dict]:
    """A form no user or manual task names in formJsonSchemaFilename: nobody would ever fill it in."""
    used = used_forms(bpmn_trees.values())
    return [
        _error(
            name,
            f"form '{PurePosixPath(name).name}' is used by no user or manual task ({FORM_PROPERTY}); "
            "remove it from the bundle (deploy with replace) or name it on a task",
            line=1,
        )
        for name in sorted(files)
        if name.startswith("forms/") and name.endswith(".json") and PurePosixPath(name).name not in used
    ]


def constant_value(expression: str) -> int | float | None:
    """The value of an expression of number literals and arithmetic only (`100`, `10 ** 5`), else None.

    A power too large to compute is infinite (it is above any cap)."""
    try:
        node = ast.parse(expression.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return None
    try:
        return _arith(node)
    except (ArithmeticError, ValueError, TypeError):
        return None


def _arith(node) -> int | float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _arith(node.operand)
        return None if value is None else (-value if isinstance(node.op, ast.USub) else value)
    if isinstance(node, ast.BinOp):
        left, right = _arith(node.left), _arith(node.right)
        if left is None or right is None:
            return None
        op = node.op
        if isinstance(op, ast.Pow):
            if abs(left) > 1 and right > 64:
                return float("inf")
            return left**right
        ops = {ast.Add: left + right, ast.Sub: left - right, ast.Mult: left * right} if abs(left) < 1e18 else {}
        if type(op) in ops:
            return ops[type(op)]
        if isinstance(op, ast.FloorDiv):
            return left // right
        if isinstance(op, ast.Div):
            return left / right
        if isinstance(op, ast.Mod):
            return left % right
    return None


def _loop_count_errors(file: str, root) -> list[dict]:
    errors = []
    for mi in root.iter(f"{{{BPMN}}}multiInstanceLoopCharacteristics"):
        activity = mi.getparent()
        cardinality = mi.find(f"{{{BPMN}}}loopCardinality")
        value = constant_value(cardinality.text or "") if cardinality is not None else None
        if value is not None and value > MAX_INSTANCES:
            errors.append(
                _error(
                    file,
                    f"multi-instance cardinality {(cardinality.text or '').strip()} is more than "
                    f"{MAX_INSTANCES} instances (MAX_INSTANCES)",
                    activity,
                    line=cardinality.sourceline,
                )
            )
    for loop in root.iter(f"{{{BPMN}}}standardLoopCharacteristics"):
        maximum = loop.get("loopMaximum")
        if maximum is not None and maximum.strip().lstrip("-").isdigit() and int(maximum) > MAX_INSTANCES:
            errors.append(
                _error(
                    file,
                    f"standard loop maximum {maximum} is more than {MAX_INSTANCES} rounds (MAX_INSTANCES)",
                    loop.getparent(),
                    line=loop.sourceline,
                )
            )
    return errors


def _sequential_item_errors(file: str, root) -> list[dict]:
    """A sequential multi-instance over a collection must collect an output: without one, SpiffWorkflow merges each
    instance's data (its input item too) back into the activity, and the second instance then fails with
    "input item already exists". Refused here rather than stopping every RMA at its second item."""
    errors = []
    for mi in root.iter(f"{{{BPMN}}}multiInstanceLoopCharacteristics"):
        if (mi.get("isSequential") or "").strip() != "true" or mi.find(f"{{{BPMN}}}inputDataItem") is None:
            continue
        if mi.find(f"{{{BPMN}}}loopDataOutputRef") is None or mi.find(f"{{{BPMN}}}outputDataItem") is None:
            errors.append(
                _error(
                    file,
                    "a sequential multi-instance over a collection needs an output collection "
                    "(loopDataOutputRef and outputDataItem): without one its second instance cannot start; "
                    "add an output, or make it parallel",
                    mi.getparent(),
                    line=mi.sourceline,
                )
            )
    return errors


_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)  # months and years are measured from a fixed start


def _timer_seconds(kind: str, value: str) -> float:
    """The duration (timeDuration) or the interval (timeCycle) of a timer value, in seconds; raises if invalid."""
    if kind == "timeDuration":
        parsed = TimerEventDefinition.parse_iso_duration(value)
        return TimerEventDefinition.get_timedelta_from_start(parsed, _REFERENCE).total_seconds()
    _cycles, _start, interval = TimerEventDefinition.parse_iso_recurring_interval(value)
    return interval.total_seconds()


def _timer_errors(file: str, root) -> list[dict]:
    """A timer written as a literal that is not a valid ISO 8601 duration or cycle, or shorter than a minute."""
    errors = []
    for definition in root.iter(f"{{{BPMN}}}timerEventDefinition"):
        event = definition.getparent()
        for kind in ("timeDuration", "timeCycle"):
            el = definition.find(f"{{{BPMN}}}{kind}")
            if el is None or not (el.text or "").strip():
                continue
            try:
                value = ast.literal_eval((el.text or "").strip())
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue  # computed: the sandbox check covers it, its value is known when it runs
            if not isinstance(value, str):
                continue
            what = "duration" if kind == "timeDuration" else "cycle"
            try:
                seconds = _timer_seconds(kind, value)
            except Exception:  # SpiffWorkflow's parsers raise bare Exceptions
                errors.append(
                    _error(file, f"timer {what} '{value}' is not an ISO 8601 {what}", event, line=el.sourceline)
                )
                continue
            if seconds < MIN_TIMER_SECONDS:
                errors.append(
                    _error(
                        file,
                        f"timer {what} '{value}' is shorter than {MIN_TIMER_SECONDS} seconds (MIN_TIMER_SECONDS)",
                        event,
                        line=el.sourceline,
                    )
                )
    return errors


def _waits(el, waiting_processes: set[str]) -> bool:
    """Whether the process may stop at `el` until something outside happens."""
    tag = _local(el)
    if tag in WAIT_STATES:
        return True
    if tag == "intermediateCatchEvent":
        return el.find(f"{{{BPMN}}}linkEventDefinition") is None
    if tag == "callActivity":
        return el.get("calledElement") in waiting_processes
    if tag in ("subProcess", "transaction", "adHocSubProcess"):
        return any(_local(d) in WAIT_STATES or _waits_inside(d) for d in el.iter() if d is not el)
    return False


def _waits_inside(el) -> bool:
    return _local(el) == "intermediateCatchEvent" and el.find(f"{{{BPMN}}}linkEventDefinition") is None


def _processes_that_wait(bpmn_trees: dict) -> set[str]:
    """Process ids with a wait state somewhere in them or in the processes they call (to any depth)."""
    processes = {p.get("id"): p for root in bpmn_trees.values() for p in root.iter(f"{{{BPMN}}}process")}
    calls = {pid: {c.get("calledElement") for c in p.iter(f"{{{BPMN}}}callActivity")} for pid, p in processes.items()}
    waiting = {
        pid for pid, p in processes.items() if any(_local(d) in WAIT_STATES or _waits_inside(d) for d in p.iter())
    }
    changed = True
    while changed:
        grown = {pid for pid, called in calls.items() if called & waiting}
        changed = not grown <= waiting
        waiting |= grown
    return waiting


def _busy_loop_errors(file: str, container, waiting_processes: set[str]) -> list[dict]:
    """Cycles of sequence flows (and link events) in `container` on which no node waits: one error per cycle."""
    nodes = {el.get("id"): el for el in container if _local(el) in _FLOW_NODES and el.get("id")}
    busy = {node_id for node_id, el in nodes.items() if not _waits(el, waiting_processes)}
    edges: dict[str, list[str]] = {node_id: [] for node_id in busy}
    for flow in container:
        if _local(flow) == "sequenceFlow":
            source, target = flow.get("sourceRef"), flow.get("targetRef")
            if source in busy and target in busy:
                edges[source].append(target)
    catches: dict[str, list[str]] = {}
    for node_id in busy:
        link = nodes[node_id].find(f"{{{BPMN}}}linkEventDefinition")
        if link is not None and _local(nodes[node_id]) == "intermediateCatchEvent":
            catches.setdefault(link.get("name") or "", []).append(node_id)
    for node_id in busy:
        link = nodes[node_id].find(f"{{{BPMN}}}linkEventDefinition")
        if link is not None and _local(nodes[node_id]) == "intermediateThrowEvent":
            edges[node_id] += catches.get(link.get("name") or "", [])
    errors = []
    for cycle in _cycles(edges):
        first = min((nodes[n] for n in cycle), key=lambda el: el.sourceline or 0)
        path = ", ".join(sorted(cycle, key=lambda n: nodes[n].sourceline or 0))
        errors.append(
            _error(
                file,
                f"a loop with no wait state runs forever in one step: {path} loop through gateways and automatic "
                "activities only; put a user task, a message or timer catch event or an event-based gateway on it",
                first,
            )
        )
    return errors


def _cycles(edges: dict[str, list[str]]) -> list[set[str]]:
    """The strongly connected components of `edges` that hold a cycle (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = edges[node]
            if child < len(targets):
                work.append((node, child + 1))
                target = targets[child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    found.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found
