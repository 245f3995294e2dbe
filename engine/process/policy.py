"""Mandatory-milestone guard-rails: graph analysis over a resolved bundle, call activities expanded.

The bundle's BPMN is turned into one flow graph in which every call activity is inlined per call
site (so a stage called from two places cannot return to the wrong caller). A rule is a
reachability question on that graph: "every path from A to B passes M" holds exactly when B cannot
be reached from A once the nodes of M are removed. Conditions on sequence flows are evaluated
three-valued under the rule's assumptions (e.g. `in_warranty` is False), so a path a condition rules
out is not held against a variant; any path found is reported as element ids and names.
"""

from __future__ import annotations

import ast
import json
from collections import deque
from dataclasses import dataclass, field

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
FLOW_NODE_TAGS = {
    "startEvent",
    "endEvent",
    "task",
    "userTask",
    "manualTask",
    "scriptTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "businessRuleTask",
    "callActivity",
    "subProcess",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "transaction",
}
UNKNOWN = object()


@dataclass
class Node:
    key: tuple  # (call-site path..., element id)
    element: str
    name: str
    tag: str
    process: str
    file: str


@dataclass
class Edge:
    target: tuple
    condition: str | None = None
    default_of: list[str] | None = None  # for a default flow: the sibling conditions that must all be false


@dataclass
class FlowGraph:
    nodes: dict[tuple, Node] = field(default_factory=dict)
    edges: dict[tuple, list[Edge]] = field(default_factory=dict)
    start: tuple | None = None
    assignments: list[tuple[str, str, str]] = field(default_factory=list)  # (variable, element, file)

    def by_element(self, element_ids) -> set[tuple]:
        ids = set(element_ids)
        return {k for k, n in self.nodes.items() if n.element in ids}

    def ends(self) -> set[tuple]:
        return {k for k, n in self.nodes.items() if n.tag == "endEvent" and len(k) == 1}


class PolicyError(Exception):
    """The bundle cannot be analysed (e.g. a call activity names no process, or recursion)."""


def _local(tag) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _processes(files: dict[str, str]) -> dict[str, tuple[etree._Element, str]]:
    result = {}
    for name, text in files.items():
        if name.endswith(".bpmn"):
            root = etree.fromstring(text.encode("utf-8"), _PARSER)
            for proc in root.iter(f"{{{BPMN}}}process"):
                result[proc.get("id")] = (proc, name)
    return result


def build_graph(files: dict[str, str], root_process: str = "rma") -> FlowGraph:
    """The bundle's flow graph with call activities and embedded subprocesses inlined."""
    processes = _processes(files)
    graph = FlowGraph()
    if root_process not in processes:
        raise PolicyError(f"no process '{root_process}' in the bundle")
    entry, exits = _inline(
        graph, processes, processes[root_process][0], processes[root_process][1], root_process, (), (root_process,)
    )
    graph.start = entry
    return graph


def _inline(graph, processes, container, file, process_id, prefix, stack):
    """Add the flow nodes of `container` under `prefix`; return (start key, [end keys])."""
    nodes = {el.get("id"): el for el in container if _local(el.tag) in FLOW_NODE_TAGS}
    entry_exit: dict[str, tuple[tuple, list[tuple]]] = {}
    for element_id, el in nodes.items():
        tag = _local(el.tag)
        key = prefix + (element_id,)
        graph.nodes[key] = Node(key, element_id, el.get("name") or element_id, tag, process_id, file)
        graph.edges.setdefault(key, [])
        _record_assignments(graph, el, tag, element_id, file)
        if tag == "callActivity":
            called = el.get("calledElement")
            if called not in processes:
                raise PolicyError(f"{file}: call activity '{element_id}' calls unknown process '{called}'")
            if called in stack:
                raise PolicyError(f"{file}: call activity '{element_id}' calls '{called}' recursively")
            sub, sub_file = processes[called]
            s, ends = _inline(graph, processes, sub, sub_file, called, key, stack + (called,))
            entry_exit[element_id] = (s, ends)
        elif tag in ("subProcess", "transaction"):
            s, ends = _inline(graph, processes, el, file, process_id, key, stack)
            entry_exit[element_id] = (s, ends)
    for el in container:
        if _local(el.tag) == "boundaryEvent" and el.get("attachedToRef") in nodes:
            # While the activity runs, its boundary event may fire: reachable from the activity's inside.
            host = prefix + (el.get("attachedToRef"),)
            graph.edges[host].append(Edge(prefix + (el.get("id"),)))
    defaults = {el.get("default") for el in nodes.values() if el.get("default")}
    conditions_by_source: dict[str, list[str]] = {}
    flows = [el for el in container if _local(el.tag) == "sequenceFlow"]
    for flow in flows:
        cond = flow.find(f"{{{BPMN}}}conditionExpression")
        if cond is not None and cond.text and cond.text.strip():
            conditions_by_source.setdefault(flow.get("sourceRef"), []).append(cond.text.strip())
    for flow in flows:
        source, target = flow.get("sourceRef"), flow.get("targetRef")
        if source not in nodes or target not in nodes:
            continue
        cond = flow.find(f"{{{BPMN}}}conditionExpression")
        text = cond.text.strip() if cond is not None and cond.text and cond.text.strip() else None
        default_of = conditions_by_source.get(source, []) if flow.get("id") in defaults else None
        for src_key in _exits(prefix, source, entry_exit):
            graph.edges[src_key].append(Edge(_entry(prefix, target, entry_exit), text, default_of))
    for element_id in entry_exit:
        key = prefix + (element_id,)
        graph.edges[key].append(Edge(entry_exit[element_id][0]))
    starts = [prefix + (i,) for i, el in nodes.items() if _local(el.tag) == "startEvent"]
    ends = [prefix + (i,) for i, el in nodes.items() if _local(el.tag) == "endEvent"]
    if not starts:
        raise PolicyError(f"{file}: process '{process_id}' has no start event")
    return starts[0], ends


def _entry(prefix, element_id, entry_exit) -> tuple:
    return prefix + (element_id,)


def _exits(prefix, element_id, entry_exit) -> list[tuple]:
    """Leaving an inlined activity happens from the ends of its inside."""
    if element_id in entry_exit:
        return entry_exit[element_id][1] or [prefix + (element_id,)]
    return [prefix + (element_id,)]


def _record_assignments(graph, el, tag, element_id, file) -> None:
    if tag != "scriptTask":
        return
    script = el.find(f"{{{BPMN}}}script")
    if script is None or not script.text:
        return
    try:
        tree = ast.parse(script.text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return  # the sandbox check refuses such a script by name
    for node in ast.walk(tree):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else ([node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        )
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    graph.assignments.append((name.id, element_id, file))


# --- three-valued evaluation of flow conditions under assumptions --------------------------------


def _value(node, env):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env.get(node.id, UNKNOWN)
    if isinstance(node, ast.BoolOp):
        values = [_truth(v, env) for v in node.values]
        if isinstance(node.op, ast.And):
            return False if False in values else (UNKNOWN if UNKNOWN in values else True)
        return True if True in values else (UNKNOWN if UNKNOWN in values else False)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        v = _truth(node.operand, env)
        return UNKNOWN if v is UNKNOWN else not v
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, right = _value(node.left, env), _value(node.comparators[0], env)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        op = node.ops[0]
        try:
            return {
                ast.Eq: lambda: left == right,
                ast.NotEq: lambda: left != right,
                ast.Is: lambda: left is right,
                ast.IsNot: lambda: left is not right,
                ast.In: lambda: left in right,
                ast.NotIn: lambda: left not in right,
            }[type(op)]()
        except (KeyError, TypeError):
            return UNKNOWN
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        items = [_value(e, env) for e in node.elts]
        return UNKNOWN if UNKNOWN in items else tuple(items)
    return UNKNOWN


def _truth(node, env):
    v = _value(node, env)
    return v if v is UNKNOWN else bool(v)


def condition_possible(text: str | None, env: dict) -> bool:
    """False only when the condition is certainly false under `env`."""
    if not text or not env:
        return True
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return True
    return _truth(tree.body, env) is not False


def _edge_possible(edge: Edge, env: dict) -> bool:
    if edge.default_of is not None:
        # A default flow is taken only when every sibling condition is false.
        return not any(_certainly_true(c, env) for c in edge.default_of)
    return condition_possible(edge.condition, env)


def _certainly_true(text: str, env: dict) -> bool:
    try:
        return _truth(ast.parse(text, mode="eval").body, env) is True
    except SyntaxError:
        return False


# --- rules ---------------------------------------------------------------------------------------


def find_path(graph: FlowGraph, sources: set, targets: set, avoid: set, env: dict) -> list[tuple] | None:
    """A shortest path from a source to a target that touches no node in `avoid`, or None."""
    queue = deque((s, None) for s in sources if s not in avoid)
    parents: dict[tuple, tuple | None] = {}
    for s in sources:
        if s not in avoid:
            parents[s] = None
    while queue:
        node, _ = queue.popleft()
        if node in targets:
            path = [node]
            while parents[path[-1]] is not None:
                path.append(parents[path[-1]])
            return list(reversed(path))
        for edge in graph.edges.get(node, []):
            if edge.target in parents or edge.target in avoid or not _edge_possible(edge, env):
                continue
            parents[edge.target] = node
            queue.append((edge.target, None))
    return None


def check_policy(files: dict[str, str], policy: dict, root_process: str = "rma") -> list[dict]:
    """Every rule the bundle breaks, each with the offending path as [{element, name, process, file}]."""
    graph = build_graph(files, root_process)
    violations = []
    for rule in policy.get("rules", []):
        problem = _check_rule(graph, rule)
        if problem is not None:
            violations.append({"rule": rule["id"], "message": rule.get("description", rule["id"]), **problem})
    return violations


def _check_rule(graph: FlowGraph, rule: dict) -> dict | None:
    kind = rule["type"]
    if kind == "only_set_by":
        allowed = set(rule.get("elements", []))
        for variable, element, file in graph.assignments:
            if variable == rule["variable"] and element not in allowed:
                return {
                    "path": [{"element": element, "name": element, "file": file}],
                    "detail": f"'{element}' assigns {variable}, which only {sorted(allowed)} may set",
                }
        return None
    required = graph.by_element(rule.get("must_pass", []))
    targets = graph.ends() if rule.get("to") == ["end"] else graph.by_element(rule.get("to", []))
    if not targets:
        return (
            None
            if rule.get("optional_target")
            else {"path": [], "detail": f"none of {rule.get('to')} exists in the bundle"}
        )
    if kind == "passes_before":
        if graph.start is None:  # build_graph always sets it (a process without a start event is a PolicyError)
            raise PolicyError("the processes have no start event")
        sources = {graph.start}
    elif kind == "passes_between":
        sources = graph.by_element(rule["from"])
        if not sources:
            return None
    else:
        raise PolicyError(f"unknown rule type {kind}")
    path = find_path(graph, sources, targets, required, rule.get("assuming", {}))
    if path is None:
        return None
    return {
        "path": [
            {
                "element": graph.nodes[k].element,
                "name": graph.nodes[k].name,
                "process": graph.nodes[k].process,
                "file": graph.nodes[k].file,
            }
            for k in path
        ],
        "detail": " → ".join(graph.nodes[k].element for k in path),
    }


def load_policy(files: dict[str, str], name: str = "policy.json") -> dict | None:
    return json.loads(files[name]) if name in files else None
