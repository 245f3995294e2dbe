"""Data flow: every input a decision table reads must be set by something that can run before it.

The bundle is analysed as one flow graph with call activities inlined (engine.process.policy.build_graph).
A variable is *set* by the RMA's start data or by any writer engine.process.writers knows (a form field, a
script or pre/post script, a decision output, a service result, a multi-instance item, a data object read, a
message or event payload). A business rule task whose decision reads a variable that no element upstream of it (on
any path, loops included) sets would fail at run time with a NameError deep in the DMN engine; here it
is refused at deploy time, naming the task, the decision and the variable.
"""

from __future__ import annotations

import ast
from collections import deque

from lxml import etree

from engine.process.policy import PolicyError, build_graph
from engine.process.writers import assigned_names, comprehension_names, spiff_text, writes_of
from engine.sandbox import HELPERS, SAFE_BUILTINS

__all__ = ["START_DATA_KEYS", "assigned_names", "dmn_input_errors", "read_names", "sets_of"]

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
# What engine.services.rmas puts into every new instance (tests/unit/test_validation_dataflow.py keeps it honest).
START_DATA_KEYS = frozenset(
    {
        "rma_number",
        "centre",
        "currency",
        "labour_rate",
        "purchase_date",
        "received_on",
        # engine.services.register.start_inputs: the date the warranty counts from and which date it is
        "warranty_start_date",
        "warranty_date_basis",
        "product_model",
        "serial_number",
        "product_category",
        "fault_description",
        "customer_name",
        "customer_email",
        # engine.services.catalogue.start_facts: how the RMA came in and what the catalogue knows of the model
        "channel",
        "warranty_months",
        "replacement_value",
        "replacement_currency",
        "has_successor",
        "successor_model",
        "successor_value",
        "known_issues",
    }
)
_KNOWN_NAMES = set(SAFE_BUILTINS) | set(HELPERS)


def _local(el) -> str:
    return etree.QName(el.tag).localname if isinstance(el.tag, str) else ""


def read_names(expression: str | None) -> set[str]:
    """Process variables an expression reads (builtins, helpers, called names and comprehension variables aside)."""
    try:
        tree = ast.parse((expression or "").strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    called = {c.func.id for c in ast.walk(tree) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
    local = comprehension_names(tree)
    return {
        n.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Name)
        and isinstance(n.ctx, ast.Load)
        and n.id not in called
        and n.id not in local
        and n.id not in _KNOWN_NAMES
    }


def decision_io(decision) -> tuple[list[tuple[str, str, int]], set[str]]:
    """([(input label, expression, line)], {output names}) of a DMN decision element."""
    inputs, outputs = [], set()
    for el in decision.iter():
        if _local(el) == "input":
            expr = next(
                (t for t in el.iter() if _local(t) == "text" and _local(t.getparent()) == "inputExpression"), None
            )
            if expr is not None and (expr.text or "").strip():
                inputs.append((el.get("label") or el.get("id") or "?", expr.text.strip(), el.sourceline))
        elif _local(el) == "output" and el.get("name"):
            outputs.add(el.get("name"))
    return inputs, outputs


def sets_of(el, root, forms: dict, decisions: dict) -> set[str]:
    """The variables one flow node sets (engine.process.writers names every way), a data object it reads included."""
    names = {w.variable for w in writes_of(el, root, forms, decisions)}
    refs = {r.get("id"): r.get("dataObjectRef") for r in root.iter(f"{{{BPMN}}}dataObjectReference") if r.get("id")}
    for association in el.iterfind(f"{{{BPMN}}}dataInputAssociation"):
        for source in association.iterfind(f"{{{BPMN}}}sourceRef"):
            if refs.get((source.text or "").strip()):
                names.add(refs[(source.text or "").strip()])
    return names


def dmn_input_errors(files: dict[str, str], bpmn_trees: dict, decisions: dict, forms: dict) -> list[dict]:
    """One error per (business rule task, variable) that nothing upstream sets."""
    try:
        graph = build_graph({n: t for n, t in files.items() if n in bpmn_trees})
    except (PolicyError, etree.XMLSyntaxError):
        return []  # no skeleton or an unknown call: reported by the other checks
    elements = {
        (name, el.get("id")): (el, root)
        for name, root in bpmn_trees.items()
        for el in root.iter()
        if isinstance(el.tag, str) and el.get("id")
    }
    reverse: dict[tuple, list[tuple]] = {}
    for source, edges in graph.edges.items():
        for edge in edges:
            reverse.setdefault(edge.target, []).append(source)
    sets_cache: dict[tuple, set[str]] = {}

    def sets(key) -> set[str]:
        node = graph.nodes[key]
        ident = (node.file, node.element)
        if ident not in sets_cache:
            el, root = elements.get(ident, (None, None))
            sets_cache[ident] = sets_of(el, root, forms, decisions) if el is not None else set()
        return sets_cache[ident]

    errors, seen = [], set()
    for key, node in graph.nodes.items():
        if node.tag != "businessRuleTask":
            continue
        el, _root = elements[(node.file, node.element)]
        decision_id = (spiff_text(el, "calledDecisionId") or "").strip()
        if decision_id not in decisions:
            continue
        available = set(START_DATA_KEYS)
        for upstream in _ancestors(reverse, key):
            available |= sets(upstream)
        dmn_file, decision = decisions[decision_id]
        for label, expression, line in decision_io(decision)[0]:
            for variable in sorted(read_names(expression) - available):
                if (node.file, node.element, variable) in seen:
                    continue
                seen.add((node.file, node.element, variable))
                errors.append(
                    {
                        "file": node.file,
                        "element": node.element,
                        "line": el.sourceline,
                        "message": (
                            f"decision '{decision_id}' ({dmn_file}, input '{label}', line {line}) reads '{variable}', "
                            f"which nothing before this task sets: not the RMA's start data, a form field, a script "
                            f"or another decision's output"
                        ),
                    }
                )
    return errors


def _ancestors(reverse: dict, key: tuple) -> set[tuple]:
    seen: set[tuple] = set()
    queue = deque(reverse.get(key, []))
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        queue.extend(reverse.get(node, []))
    return seen
