"""Mandatory-milestone guard-rails: graph analysis over a resolved bundle, call activities expanded.

The bundle's BPMN is turned into one flow graph in which every call activity is inlined per call
site (so a stage called from two places cannot return to the wrong caller). A rule is a
reachability question on that graph: "every path from A to B passes M" holds exactly when B cannot
be reached from A once the nodes of M are removed. Conditions on sequence flows are evaluated
three-valued under the rule's assumptions (e.g. `in_warranty` is False), so a path a condition rules
out is not held against a variant; any path found is reported as element ids and names.

Every way the engine can move is an edge: sequence flows, the inside of an inlined activity, a boundary
event (reachable from the activity and from everything inside it), an event subprocess (reachable from
everything in its (sub)process, its end ending that (sub)process), link events and every start event.

Those assumptions only hold if the facts they rest on cannot be forged: an `only_set_by` rule names the
authoritative writers of a variable (element, and how: its decision, form, script...), and every other
writer anywhere in the bundle (engine.process.writers: scripts, pre/post scripts, form fields, decision
outputs, service results, multi-instance items, data objects, message and event payloads) breaks it.
"""

from __future__ import annotations

import ast
import json
from collections import deque
from dataclasses import dataclass, field

from lxml import etree

from engine.process.writers import (
    DECISION,
    POST_SCRIPT,
    PRE_SCRIPT,
    SCRIPT,
    Write,
    data_object_writes,
    lanes_of,
    writes_of,
)

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
# A flow node of these kinds with no outgoing sequence flow ends its path, as SpiffWorkflow runs it (an implicit end
# event); the (sub)process ends when its last path does (issue 15.9). A gateway or a start event has no such reading.
IMPLICIT_END_TAGS = FLOW_NODE_TAGS - {"startEvent", "endEvent", "exclusiveGateway", "parallelGateway",
                                      "inclusiveGateway", "eventBasedGateway"}  # fmt: skip


def implicit_ends(container) -> set[str]:
    """The ids of `container`'s flow nodes that end a path without an end event (no outgoing sequence flow; not
    a compensation handler, an event subprocess or a link throw, whose ways on are not sequence flows)."""
    sources = {el.get("sourceRef") for el in container if _local(el.tag) == "sequenceFlow"}
    return {
        el.get("id")
        for el in container
        if _local(el.tag) in IMPLICIT_END_TAGS
        and el.get("id") not in sources
        and el.get("isForCompensation") != "true"
        and el.get("triggeredByEvent") != "true"
        and el.find(f"{{{BPMN}}}linkEventDefinition") is None
        and el.find(f"{{{BPMN}}}compensateEventDefinition") is None
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
    ends_path: bool = False  # a plain (not terminate) end event or an implicit end: only its own token ends here


@dataclass
class Edge:
    target: tuple
    condition: str | None = None
    default_of: list[str] | None = None  # for a default flow: the sibling conditions that must all be false
    # what this edge starts while the path's own token goes on elsewhere: a non-interrupting event subprocess (its
    # key), a non-interrupting boundary event ("boundary", key) or a branch of a parallel split ("fork", split, branch)
    trigger: tuple | None = None


@dataclass
class FlowGraph:
    nodes: dict[tuple, Node] = field(default_factory=dict)
    edges: dict[tuple, list[Edge]] = field(default_factory=dict)
    start: tuple | None = None
    starts: set[tuple] = field(default_factory=set)  # every start event of the root process
    exits: list[tuple] = field(default_factory=list)  # where the root process can end
    # an end of a non-interrupting event subprocess -> (that subprocess, the nodes its (sub)process may be at)
    resumes: dict[tuple, tuple[tuple, list[tuple]]] = field(default_factory=dict)

    def by_element(self, element_ids) -> set[tuple]:
        ids = set(element_ids)
        return {k for k, n in self.nodes.items() if n.element in ids}

    def ends(self) -> set[tuple]:
        """The root process's end events, its event subprocesses' included."""
        return set(self.exits)

    def under(self, key: tuple) -> list[tuple]:
        """The nodes inlined inside `key` (a call activity or a subprocess), at any depth."""
        return [k for k in self.nodes if len(k) > len(key) and k[: len(key)] == key]


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
    starts, exits = _inline(
        graph, processes, processes[root_process][0], processes[root_process][1], root_process, (), (root_process,)
    )
    graph.start, graph.starts, graph.exits = starts[0], set(starts), exits
    return graph


def _is_event_subprocess(el) -> bool:
    return _local(el.tag) in ("subProcess", "transaction") and el.get("triggeredByEvent") == "true"


def _inline(graph, processes, container, file, process_id, prefix, stack):
    """Add the flow nodes of `container` under `prefix`; return ([start keys], [end keys])."""
    nodes = {el.get("id"): el for el in container if _local(el.tag) in FLOW_NODE_TAGS}
    entry_exit: dict[str, tuple[list[tuple], list[tuple]]] = {}
    event_subprocesses = []
    for element_id, el in nodes.items():
        tag = _local(el.tag)
        key = prefix + (element_id,)
        graph.nodes[key] = Node(key, element_id, el.get("name") or element_id, tag, process_id, file)
        graph.edges.setdefault(key, [])
        if tag == "callActivity":
            called = el.get("calledElement")
            if called not in processes:
                raise PolicyError(f"{file}: call activity '{element_id}' calls unknown process '{called}'")
            if called in stack:
                raise PolicyError(f"{file}: call activity '{element_id}' calls '{called}' recursively")
            sub, sub_file = processes[called]
            entry_exit[element_id] = _inline(graph, processes, sub, sub_file, called, key, stack + (called,))
        elif tag in ("subProcess", "transaction"):
            entry_exit[element_id] = _inline(graph, processes, el, file, process_id, key, stack)
            if _is_event_subprocess(el):
                event_subprocesses.append(element_id)
    for el in container:
        if _local(el.tag) == "boundaryEvent" and el.get("attachedToRef") in nodes:
            # While the activity runs, its boundary event may fire: reachable from the activity and its inside.
            host = prefix + (el.get("attachedToRef"),)
            boundary = prefix + (el.get("id"),)
            concurrent = ("boundary", boundary) if el.get("cancelActivity") == "false" else None
            for key in [host, *graph.under(host)]:
                graph.edges[key].append(Edge(boundary, trigger=concurrent))
    _link_edges(graph, prefix, nodes)
    defaults = {el.get("default") for el in nodes.values() if el.get("default")}
    conditions_by_source: dict[str, list[str]] = {}
    flows = [el for el in container if _local(el.tag) == "sequenceFlow"]
    for flow in flows:
        cond = flow.find(f"{{{BPMN}}}conditionExpression")
        if cond is not None and cond.text and cond.text.strip():
            conditions_by_source.setdefault(flow.get("sourceRef"), []).append(cond.text.strip())
    outgoing: dict[str, int] = {}
    for flow in flows:
        outgoing[flow.get("sourceRef")] = outgoing.get(flow.get("sourceRef"), 0) + 1
    for flow in flows:
        source, target = flow.get("sourceRef"), flow.get("targetRef")
        if source not in nodes or target not in nodes:
            continue
        cond = flow.find(f"{{{BPMN}}}conditionExpression")
        text = cond.text.strip() if cond is not None and cond.text and cond.text.strip() else None
        default_of = conditions_by_source.get(source, []) if flow.get("id") in defaults else None
        split = _local(nodes[source].tag) == "parallelGateway" and outgoing[source] > 1
        branch = ("fork", prefix + (source,), prefix + (target,)) if split else None
        for src_key in _exits(prefix, source, entry_exit):
            graph.edges[src_key].append(Edge(prefix + (target,), text, default_of, trigger=branch))
    for element_id, (inner_starts, _ends) in entry_exit.items():
        for inner_start in inner_starts:
            graph.edges[prefix + (element_id,)].append(Edge(inner_start))
    starts = [prefix + (i,) for i, el in nodes.items() if _local(el.tag) == "startEvent"]
    implicit = implicit_ends(container)
    ends = [prefix + (i,) for i, el in nodes.items() if _local(el.tag) == "endEvent" or i in implicit]
    for key in ends:
        el = nodes[key[-1]]
        graph.nodes[key].ends_path = el.find(f"{{{BPMN}}}terminateEventDefinition") is None
    for element_id in event_subprocesses:
        # An event subprocess may start while anything else in its (sub)process runs. An interrupting one ends
        # the (sub)process when it ends; after a non-interrupting one the main flow goes on where it was: on a
        # path that started it, where it was started (nothing new); on a path that began inside it, anywhere.
        esp = prefix + (element_id,)
        inside = set(graph.under(esp))
        others = [k for k in (graph.under(prefix) if prefix else list(graph.nodes)) if k != esp and k not in inside]
        interrupting = _interrupting(nodes[element_id])
        for key in others:
            graph.edges[key].append(Edge(esp, trigger=None if interrupting else esp))
        if interrupting:
            ends += entry_exit[element_id][1]
        else:
            for end in entry_exit[element_id][1]:
                graph.resumes[end] = (esp, others)
    if not starts:
        raise PolicyError(f"{file}: process '{process_id}' has no start event")
    return starts, ends


def _interrupting(event_subprocess) -> bool:
    """Whether an event subprocess cancels its (sub)process (its start events are interrupting, the default)."""
    starts = [el for el in event_subprocess if _local(el.tag) == "startEvent"]
    return not starts or any(el.get("isInterrupting", "true") != "false" for el in starts)


def _link_edges(graph, prefix, nodes) -> None:
    """A link throw event goes on at the link catch event of the same name in its (sub)process."""
    catches: dict[str, list[str]] = {}
    throws: dict[str, list[str]] = {}
    for element_id, el in nodes.items():
        link = el.find(f"{{{BPMN}}}linkEventDefinition")
        if link is None:
            continue
        name = link.get("name") or el.get("name") or ""
        side = catches if _local(el.tag) == "intermediateCatchEvent" else throws
        side.setdefault(name, []).append(element_id)
    for name, sources in throws.items():
        for source in sources:
            for target in catches.get(name, []):
                graph.edges[prefix + (source,)].append(Edge(prefix + (target,)))


def _exits(prefix, element_id, entry_exit) -> list[tuple]:
    """Leaving an inlined activity happens from the ends of its inside."""
    if element_id in entry_exit:
        return entry_exit[element_id][1] or [prefix + (element_id,)]
    return [prefix + (element_id,)]


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
    """A shortest path from a source to a target that touches no node in `avoid`, or None.

    A state is a node and the non-interrupting event subprocesses the path started: the end of one it started
    leads nowhere new (the main flow waits where it was, which the path already went on from); the end of one
    the path began inside leads to wherever its (sub)process may be (graph.resumes)."""
    State = tuple[tuple, frozenset]
    parents: dict[State, State | None] = {}
    queue: deque[State] = deque()
    for s in sources:
        if s not in avoid:
            parents[(s, frozenset())] = None
            queue.append((s, frozenset()))
    while queue:
        state = queue.popleft()
        node, started = state
        if _token_ends_alone(graph, node, started, avoid, env):
            continue  # another token of the same (sub)process is still running: it, not this one, ends it
        if node in targets:
            path = [state]
            while parents[path[-1]] is not None:
                path.append(parents[path[-1]])  # type: ignore[arg-type]
            return [k for k, _ in reversed(path)]
        successors = [
            (edge.target, _joined(graph, edge.target, started | {edge.trigger} if edge.trigger else started))
            for edge in graph.edges.get(node, [])
            if _edge_possible(edge, env)
        ]
        resume = graph.resumes.get(node)
        if resume is not None and resume[0] not in started:
            successors += [(target, started) for target in resume[1]]
        for next_state in successors:
            if next_state in parents or next_state[0] in avoid:
                continue
            parents[next_state] = state
            queue.append(next_state)
    return None


def _joined(graph: FlowGraph, node: tuple, started: frozenset) -> frozenset:
    """At a parallel join the branches of the splits in its (sub)process are one token again."""
    if graph.nodes[node].tag != "parallelGateway" or not any(t[0] == "fork" for t in started):
        return started
    return frozenset(t for t in started if not (t[0] == "fork" and t[1][:-1] == node[:-1]))


def _token_ends_alone(graph: FlowGraph, node: tuple, started: frozenset, avoid: set, env: dict) -> bool:
    """Whether the path's token ends at `node` (a plain end) while a sibling token keeps its (sub)process running,
    so that the (sub)process does not end here but where the sibling ends, on a path of its own:
    - after a non-interrupting boundary event of the same (sub)process: the host's own flow goes on (and is
      explored from the host without the boundary);
    - on a branch of a parallel split of the same (sub)process, when another branch cannot end without passing
      `avoid` (the union of the branches passes it; when every branch can avoid it, the path stays a way out)."""
    current = graph.nodes[node]
    if not current.ends_path:
        return False
    scope = node[:-1]
    for trigger in started:
        # (a non-interrupting event subprocess's key starts with its process id: find_path's resumes handle it)
        if trigger[0] == "boundary" and trigger[1][:-1] == scope:
            return True
        if trigger[0] == "fork" and trigger[1][:-1] == scope:
            split, taken = trigger[1], trigger[2]
            siblings = [e.target for e in graph.edges.get(split, []) if e.target != taken]
            if any(not _can_end_avoiding(graph, sibling, scope, avoid, env) for sibling in siblings):
                return True
    return False


def _can_end_avoiding(graph: FlowGraph, start: tuple, scope: tuple, avoid: set, env: dict) -> bool:
    """Whether a token at `start` can reach an end of the (sub)process `scope` without touching `avoid`."""
    if start in avoid:
        return False
    seen = {start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node[:-1] == scope and (graph.nodes[node].tag == "endEvent" or graph.nodes[node].ends_path):
            return True
        for edge in graph.edges.get(node, []):
            if edge.target not in seen and edge.target not in avoid and _edge_possible(edge, env):
                seen.add(edge.target)
                queue.append(edge.target)
    return False


def check_policy(files: dict[str, str], policy: dict, root_process: str = "rma") -> list[dict]:
    """Every rule the bundle breaks, each with the offending path as [{element, name, process, file}].

    `message` is the rule's description and what breaks it (the missing milestone, the forbidden writer)."""
    graph = build_graph(files, root_process)
    writes = bundle_writes(files)
    violations = []
    for rule in policy.get("rules", []):
        description = rule.get("description", rule["id"])
        for problem in _duplicate_milestones(graph, rule) or _check_rule(graph, writes, rule):
            violations.append(
                {"rule": rule["id"], "message": f"{description}. {problem['detail']}", "description": description}
                | problem
            )
    return violations


def bundle_writes(files: dict[str, str]) -> list[tuple[Write, str, str]]:
    """Every write by every element of every BPMN file of the bundle, as (write, file, process id)."""
    forms: dict[str, dict] = {}
    for name, text in files.items():
        if name.endswith(".json") and name.startswith("forms/"):
            try:
                schema = json.loads(text)
            except ValueError:
                continue  # the form check names it
            forms[name.rsplit("/", 1)[-1]] = schema if isinstance(schema, dict) else {}
    decisions = {}
    for name, text in files.items():
        if name.endswith(".dmn"):
            for el in etree.fromstring(text.encode("utf-8"), _PARSER).iter():
                if _local(el.tag) == "decision" and el.get("id"):
                    decisions[el.get("id")] = (name, el)
    result = []
    for name, text in sorted(files.items()):
        if not name.endswith(".bpmn"):
            continue
        root = etree.fromstring(text.encode("utf-8"), _PARSER)
        lanes = lanes_of(root)
        for proc in root.iter(f"{{{BPMN}}}process"):
            for el in proc.iter():
                if isinstance(el.tag, str) and el.get("id") and _local(el.tag) in FLOW_NODE_TAGS:
                    result += [(w, name, proc.get("id")) for w in writes_of(el, root, forms, decisions, lanes)]
            result += [(w, name, proc.get("id")) for w in data_object_writes(proc)]
    return result


def _duplicate_milestones(graph: FlowGraph, rule: dict) -> list[dict]:
    """A milestone the rule names must be one step: a second element with its id elsewhere (another stage, a
    subprocess) would let a look-alike stand in for it."""
    problems = []
    for milestone in rule.get("must_pass", []):
        places = sorted({(n.file, n.process) for n in graph.nodes.values() if n.element == milestone})
        if len(places) > 1:
            where = ", ".join(f"{file} (process {process})" for file, process in places)
            problems.append(
                {
                    "path": [_step(graph, k) for k in sorted(graph.by_element([milestone]))],
                    "detail": f"milestone '{milestone}' is defined in {len(places)} places ({where}): "
                    f"the policy cannot tell which one is the real step; give the others another id",
                }
            )
    return problems


def _step(graph: FlowGraph, key: tuple) -> dict:
    node = graph.nodes[key]
    return {"element": node.element, "name": node.name, "process": node.process, "file": node.file}


def _allowed(rule: dict) -> dict[str, dict]:
    """An only_set_by rule's writers: `elements` is a list of ids (any way of writing) or {id: {by, decision,
    lane, values}} (`by`: how it writes, engine.process.writers; `values`: the only literals a script may set)."""
    elements = rule.get("elements", [])
    return {e: {} for e in elements} if isinstance(elements, list) else dict(elements)


def _describe_allowed(element: str, spec: dict) -> str:
    parts = []
    if spec.get("by") == DECISION and spec.get("decision"):
        parts.append(f"decision '{spec['decision']}'")
    elif spec.get("by"):
        parts.append(f"its {spec['by']}")
    if spec.get("lane"):
        parts.append(f"in lane {spec['lane']}")
    if "values" in spec:
        parts.append("setting only " + " or ".join(repr(v) for v in spec["values"]))
    return element + (f" ({', '.join(parts)})" if parts else "")


# "by script": code on the authoritative element itself, whichever slot holds it (a script task's script, or the
# pre/post script of the task that replaced it, e.g. a service task computing the quote from its answer)
_HOWS = {SCRIPT: (SCRIPT, PRE_SCRIPT, POST_SCRIPT)}


def _write_allowed(write: Write, spec: dict | None) -> bool:
    if spec is None:
        return False
    if spec.get("by") and write.how not in _HOWS.get(spec["by"], (spec["by"],)):
        return False
    if spec.get("decision") and write.decision != spec["decision"]:
        return False
    if spec.get("lane") and write.lane != spec["lane"]:
        return False
    if "values" in spec:
        allowed = list(spec["values"])
        # True == 1 in Python: compare types too, so `approve = 1` is no stand-in for an allowed False
        return write.constants is not None and all(
            any(type(v) is type(a) and v == a for a in allowed) for v in write.constants
        )
    return True


def _writer_problems(writes: list[tuple[Write, str, str]], rule: dict) -> list[dict]:
    allowed = _allowed(rule)
    who = ", ".join(_describe_allowed(e, spec) for e, spec in allowed.items()) or "nothing"
    problems = []
    for write, file, process in writes:
        if write.variable != rule["variable"] or _write_allowed(write, allowed.get(write.element)):
            continue
        kind = _kind(write.tag)
        problems.append(
            {
                "path": [
                    {"element": write.element, "name": write.name or write.element, "process": process, "file": file}
                ],
                "line": write.line,
                "writer": {"element": write.element, "how": write.how, "source": write.source},
                "detail": f"{kind} '{write.element}' ({file}, line {write.line}) writes {write.variable} "
                f"by {write.source}; only {who} may write it",
            }
        )
    return problems


def _kind(tag: str) -> str:
    return "".join(f" {c.lower()}" if c.isupper() else c for c in tag)


def _check_rule(graph: FlowGraph, writes: list[tuple[Write, str, str]], rule: dict) -> list[dict]:
    kind = rule["type"]
    if kind == "only_set_by":
        return _writer_problems(writes, rule)
    required = graph.by_element(rule.get("must_pass", []))
    targets = graph.ends() if rule.get("to") == ["end"] else graph.by_element(rule.get("to", []))
    if not targets:
        if rule.get("optional_target"):
            return []
        return [{"path": [], "detail": f"none of {', '.join(rule.get('to', []))} is in the processes"}]
    if kind == "passes_before":
        if not graph.starts:  # build_graph always sets them (a process without a start event is a PolicyError)
            raise PolicyError("the processes have no start event")
        sources = set(graph.starts)
    elif kind == "passes_between":
        sources = graph.by_element(rule["from"])
        if not sources:
            return []
    else:
        raise PolicyError(f"unknown rule type {kind}")
    path = find_path(graph, sources, targets, required, rule.get("assuming", {}))
    if path is None:
        return []
    missing = [m for m in rule.get("must_pass", []) if not graph.by_element([m])]
    milestones = " or ".join(rule.get("must_pass", []))
    last = graph.nodes[path[-1]]
    detail = f"'{last.element}' ({last.name}) is reached without passing {milestones}"
    if missing:
        detail += f"; missing from the processes: {', '.join(missing)}"
    if rule.get("assuming"):
        detail += " (when " + ", ".join(f"{k} is {v}" for k, v in rule["assuming"].items()) + ")"
    return [
        {
            "path": [_step(graph, k) for k in path],
            "missing": missing,
            "detail": detail,
        }
    ]


def changed_authorities(files: dict[str, str], base_files: dict[str, str], policy: dict) -> list[dict]:
    """A centre's variant keeps the base's decision tables the policy names as authoritative (an only_set_by
    writer `by: decision`): a variant's own warranty table could otherwise declare every unit in warranty."""
    violations = []
    seen: set[str] = set()
    for rule in policy.get("rules", []):
        if rule.get("type") != "only_set_by":
            continue
        for spec in _allowed(rule).values():
            decision = spec.get("decision") if spec.get("by") == DECISION else None
            if not decision or decision in seen:
                continue
            seen.add(decision)
            mine, base = _decision_file(files, decision), _decision_file(base_files, decision)
            if base is None or (mine is not None and files[mine] == base_files[base]):
                continue
            file = mine or base
            description = rule.get("description", rule["id"])
            what = "changes" if mine is not None else "removes"
            violations.append(
                {
                    "rule": rule["id"],
                    "description": description,
                    "message": f"{description}. This variant {what} decision '{decision}' ({file}), which decides "
                    f"{rule['variable']} for the company policy: only the base's process owner may change it",
                    "path": [{"element": decision, "name": decision, "process": None, "file": file}],
                    "line": _decision_line(files.get(file) or base_files[file], decision),
                }
            )
    return violations


def _decision_file(files: dict[str, str], decision: str) -> str | None:
    for name, text in sorted(files.items()):
        if name.endswith(".dmn") and _decision_line(text, decision) is not None:
            return name
    return None


def _decision_line(text: str, decision: str) -> int | None:
    try:
        root = etree.fromstring(text.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError:
        return None
    return next(
        (el.sourceline for el in root.iter() if _local(el.tag) == "decision" and el.get("id") == decision), None
    )


def load_policy(files: dict[str, str], name: str = "policy.json") -> dict | None:
    return json.loads(files[name]) if name in files else None
