"""Deploy warnings (issue 15.2): a variable read on a path where nothing has set it.

engine.process.dataflow refuses a decision input that nothing upstream can set on any path. This is the softer,
path-wise check: a condition, a multi-instance activity's collection or cardinality, or a script reads a
variable that *some* path from the start reaches without setting (a "must be set" analysis over the flow graph
with call activities inlined, engine.process.policy.build_graph). The deploy is accepted, and the answer's
`warnings` name the file, the element, its line and the variable: at run time that path would stop the RMA in
an incident at that element (engine.execution.runtime), not hang or answer 500.
"""

from __future__ import annotations

import ast
from collections import deque

from lxml import etree

from engine.process.dataflow import START_DATA_KEYS, read_names, sets_of
from engine.process.policy import PolicyError, build_graph
from engine.process.writers import spiff_text
from engine.sandbox import HELPERS, SAFE_BUILTINS

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_KNOWN = set(SAFE_BUILTINS) | set(HELPERS)
MAX_WARNINGS = 50  # a bundle full of them says so in the first fifty


def _local(el) -> str:
    return etree.QName(el.tag).localname if isinstance(el.tag, str) else ""


def script_reads(source: str | None) -> set[str]:
    """Names a script reads before (or without) assigning them itself; builtins, helpers and imports aside."""
    try:
        tree = ast.parse(source or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    stored, local = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            stored.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.Lambda, ast.comprehension, ast.Import, ast.ImportFrom)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Name):
                    local.add(inner.id)
                elif isinstance(inner, ast.arg):
                    local.add(inner.arg)
    return {
        n.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in stored | local | _KNOWN
    }


def _reads_of(el) -> list[tuple[str, str]]:
    """(variable, what reads it) for what a flow node reads when it starts (a multi-instance's input item is set
    by the multi-instance itself for each instance, not read from before it)."""
    reads: list[tuple[str, str]] = []
    own_items = {
        name for item in el.iter(f"{{{BPMN}}}inputDataItem") for name in (item.get("name"), item.get("id")) if name
    }
    for loop in el.iterfind(f"{{{BPMN}}}multiInstanceLoopCharacteristics"):
        for ref in loop.iterfind(f"{{{BPMN}}}loopDataInputRef"):
            name = (ref.text or "").strip()
            if name.isidentifier():
                reads.append((name, "its multi-instance collection"))
        for card in loop.iterfind(f"{{{BPMN}}}loopCardinality"):
            reads += [(v, "its multi-instance loopCardinality") for v in sorted(read_names(card.text))]
    if _local(el) == "scriptTask":
        script = next(el.iterfind(f"{{{BPMN}}}script"), None)
        if script is not None:
            reads += [(v, "its script") for v in sorted(script_reads(script.text))]
    pre = spiff_text(el, "preScript")
    reads += [(v, "its pre-script") for v in sorted(script_reads(pre))]
    return [(name, what) for name, what in reads if name not in own_items]


def _side_branches(graph, elements: dict) -> set[tuple]:
    """Nodes on the branch of a non-interrupting boundary event or event subprocess, within its own process: when
    such a branch reaches the process's end, the process goes on waiting for its main flow."""
    side: set[tuple] = set()
    queue: deque[tuple] = deque()
    for key, node in graph.nodes.items():
        el, _root = elements.get((node.file, node.element), (None, None))
        if el is None:
            continue
        tag = _local(el)
        if (tag == "boundaryEvent" and el.get("cancelActivity") == "false") or (
            tag == "startEvent" and el.get("isInterrupting") == "false"
        ):
            queue.append(key)
    while queue:
        key = queue.popleft()
        if key in side:
            continue
        side.add(key)
        queue.extend(e.target for e in graph.edges.get(key, []) if e.target[:-1] == key[:-1])
    return side


def unset_read_warnings(files: dict[str, str], bpmn_trees: dict, forms: dict, decisions: dict) -> list[dict]:
    """One warning per (element, variable) read where some path from the start has not set it."""
    try:
        graph = build_graph({n: t for n, t in files.items() if n in bpmn_trees})
    except (PolicyError, etree.XMLSyntaxError, KeyError, ValueError):
        return []  # no skeleton or an unknown call: the other checks say so
    elements = {
        (name, el.get("id")): (el, root)
        for name, root in bpmn_trees.items()
        for el in root.iter()
        if isinstance(el.tag, str) and el.get("id")
    }
    sets_cache: dict[tuple, frozenset[str]] = {}

    def sets(key) -> frozenset[str]:
        node = graph.nodes[key]
        ident = (node.file, node.element)
        if ident not in sets_cache:
            el, root = elements.get(ident, (None, None))
            names = set(sets_of(el, root, forms, decisions)) if el is not None else set()
            if el is not None:  # a messageVariable on the catching element or its event definition (SpiffArena's)
                names |= {
                    (v.text or "").strip()
                    for v in el.iter(f"{{{SPIFF}}}messageVariable")
                    if (v.text or "").strip().isidentifier()
                }
            sets_cache[ident] = frozenset(names)
        return sets_cache[ident]

    side = _side_branches(graph, elements)

    preds: dict[tuple, list[tuple]] = {}
    for source, edges in graph.edges.items():
        for edge in edges:
            preds.setdefault(edge.target, []).append(source)
    starts = set(graph.starts) | ({graph.start} if graph.start is not None else set())
    # must-analysis: what every path from a start has set on entering a node (None: no path reaches it yet)
    entering: dict[tuple, frozenset[str] | None] = {key: None for key in graph.nodes}
    for start in starts:
        entering[start] = frozenset(START_DATA_KEYS)
    queue = deque(starts)
    rounds = 0
    while queue and rounds < 200_000:  # a fixpoint over a finite lattice; the cap only guards a runaway graph
        rounds += 1
        key = queue.popleft()
        before = entering[key]
        if before is None:
            continue
        leaving = before | sets(key)
        for edge in graph.edges.get(key, []):
            if key in side and edge.target[:-1] != key[:-1]:
                continue  # a side branch ending its process does not end it: the main flow still has to
            old = entering.get(edge.target)
            new = leaving if old is None else old & leaving
            if new != old:
                entering[edge.target] = new
                queue.append(edge.target)

    warnings: list[dict] = []
    seen: set[tuple] = set()

    def warn(node, el, variable: str, what: str) -> None:
        if (node.file, node.element, variable) in seen or len(warnings) >= MAX_WARNINGS:
            return
        seen.add((node.file, node.element, variable))
        warnings.append(
            {
                "file": node.file,
                "element": node.element,
                "line": el.sourceline if el is not None else None,
                "message": (
                    f"'{node.element}' reads '{variable}' ({what}), but a path reaches it on which no step has set "
                    f"it: an RMA taking that path stops there in an incident"
                ),
            }
        )

    for key, node in graph.nodes.items():
        have = entering.get(key)
        if have is None:
            continue  # not reached from the start (an event subprocess waits; others are reported elsewhere)
        el, _root = elements.get((node.file, node.element), (None, None))
        if el is not None:
            for variable, what in _reads_of(el):
                if variable not in have:
                    warn(node, el, variable, what)
        after = have | sets(key)
        for edge in graph.edges.get(key, []):
            for variable in sorted(read_names(edge.condition)):
                if variable not in after:
                    warn(node, el, variable, f"a condition of its outgoing flows, '{edge.condition}'")
    return warnings
