"""Decision tables (DMN): which language their cells are written in, checked at deploy, evaluated as written.

A DMN file's cells are FEEL, as the DMN standard says and Camunda Modeler and bpmn.io write them, unless its
`<definitions>` declares `expressionLanguage="python"`: then they are Python expressions as SpiffWorkflow reads
them (`?` is the input, an entry starting with an operator is appended to it; the shipped tables are written so).
Any other language (`juel`, `javascript`...) is refused.

FEEL tables are read by `engine.sandbox.feel` at deploy: every input expression, input entry and output entry must
be of the FEEL it reads, or the deploy is refused naming the file, the decision, the rule (id and row), the cell
(input or output column) and its line. They run on `FeelDecisionEngine`, which evaluates the parsed cells with
FEEL's meaning and honours the hit policies UNIQUE (exactly one rule; more is an incident), FIRST, ANY (matching
rules must agree), RULE ORDER and COLLECT (with SUM, MIN, MAX or COUNT over a single output). PRIORITY and OUTPUT
ORDER are refused. Python tables keep SpiffWorkflow's engine, which knows UNIQUE, FIRST and COLLECT without an
aggregation; a deploy refuses their other hit policies, and cells that SpiffWorkflow would read as a tuple or a
negated string (`"a","b"`, `not("a")`: FEEL written in a Python table, which would never match as meant).

A stored version is not checked again: a file without a declaration whose cells are not FEEL was deployed before
tables were read as FEEL, and runs as Python, as it always did.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.deep_merge import DeepMerge

from engine.sandbox import feel

FEEL, PYTHON = "feel", "python"
FEEL_POLICIES = ("UNIQUE", "FIRST", "ANY", "COLLECT", "RULE ORDER")
PYTHON_POLICIES = ("UNIQUE", "FIRST", "COLLECT")
AGGREGATIONS = ("SUM", "MIN", "MAX", "COUNT")


def _local(el) -> str:
    return etree.QName(el.tag).localname if isinstance(el.tag, str) else ""


def _children(el, name: str) -> list:
    return [c for c in el if _local(c) == name]


def _text_of(el) -> tuple[str, int | None]:
    """The `<text>` of a cell (stripped) and its line."""
    text = next((c for c in el if _local(c) == "text"), None)
    if text is None:
        return "", el.sourceline
    return (text.text or "").strip(), text.sourceline


def language(value: str | None) -> str | None:
    """FEEL, PYTHON, or None for a language not supported; no value is FEEL (the DMN default)."""
    if value is None or not value.strip():
        return FEEL
    lowered = value.strip().lower()
    if "feel" in lowered:
        return FEEL
    if lowered in ("python", "http://www.python.org/", "https://www.python.org/"):
        return PYTHON
    return None


@dataclass
class Rule:
    id: str
    row: int
    line: int | None
    tests: list[feel.UnaryTests]
    outputs: list[feel.Node | None]


@dataclass
class Table:
    """A FEEL decision table, its cells parsed."""

    file: str
    decision: str
    name: str
    hit_policy: str
    aggregation: str | None
    inputs: list[tuple[str, feel.Node | None]] = field(default_factory=list)  # (label, expression)
    outputs: list[str] = field(default_factory=list)  # the task data key each output sets
    rules: list[Rule] = field(default_factory=list)


def _error(file: str, message: str, element: str | None, line: int | None) -> dict:
    return {"file": file, "element": element, "line": line, "message": message}


_PYTHON_LOOK = re.compile(r"(^|[^\w\"])(True|False|None|in|is)\b|'|==|f\"|\?\s*(not\s+)?in\b")
_TUPLE = re.compile(r"^\s*(\"[^\"]*\"|'[^']*'|-?\d+(\.\d+)?)\s*,")


class _FileReader:
    """One DMN file's decisions: their errors and, for a FEEL file, the parsed tables."""

    def __init__(self, name: str, root, deploy: bool):
        self.name, self.root, self.deploy = name, root, deploy
        self.errors: list[dict] = []
        self.tables: dict[str, Table] = {}

    def error(self, message: str, element: str | None, line: int | None) -> None:
        self.errors.append(_error(self.name, message, element, line))

    def read(self) -> None:
        declared = self.root.get("expressionLanguage")
        lang = language(declared)
        if lang is None:
            if self.deploy:
                self.error(
                    f"expression language '{declared}' is not supported: declare none (FEEL, the DMN default) or "
                    f'expressionLanguage="python" on <definitions>',
                    self.root.get("id"),
                    self.root.sourceline,
                )
            return  # a stored version: SpiffWorkflow's reading, as when it was deployed
        for decision in self.root.iter():
            if _local(decision) == "decision":
                self.decision(decision, lang)
        if lang == FEEL and not self.deploy and self.errors:
            # stored before tables were read as FEEL: its cells are SpiffWorkflow's Python, as they ran
            self.errors, self.tables = [], {}

    def decision(self, decision, lang: str) -> None:
        decision_id = decision.get("id") or "?"
        for requirement in decision.iter():
            if _local(requirement) == "requiredDecision" and self.deploy:
                self.error(
                    f"decision '{decision_id}' requires decision '{(requirement.get('href') or '').lstrip('#')}': "
                    f"a business rule task evaluates one decision table; call the required decision in a business "
                    f"rule task of its own before this one",
                    decision_id,
                    requirement.sourceline,
                )
        tables = _children(decision, "decisionTable")
        if not tables:
            if self.deploy:
                other = next(
                    (
                        _local(c)
                        for c in decision
                        if _local(c)
                        not in (
                            "description",
                            "extensionElements",
                            "informationRequirement",
                            "knowledgeRequirement",
                            "authorityRequirement",
                            "variable",
                            "question",
                            "allowedAnswers",
                        )
                    ),
                    None,
                )
                what = f"a {other}" if other else "nothing"
                self.error(
                    f"decision '{decision_id}' holds {what}, not a decision table: only decision tables are supported",
                    decision_id,
                    decision.sourceline,
                )
            return
        table = tables[0]
        policy = (table.get("hitPolicy") or "UNIQUE").strip().upper()
        aggregation = (table.get("aggregation") or "").strip().upper() or None
        inputs = _children(table, "input")
        outputs = _children(table, "output")
        where = f"decision '{decision_id}'"
        if self.deploy:
            self.hit_policy(where, table, policy, aggregation, len(outputs), lang)
            self.shape(where, table, len(inputs), len(outputs))
        if lang == PYTHON:
            if self.deploy:
                self.python_cells(where, table, inputs)
            return
        self.feel_table(decision_id, table, policy, aggregation, inputs, outputs)

    def hit_policy(self, where: str, table, policy: str, aggregation: str | None, outputs: int, lang: str) -> None:
        supported = FEEL_POLICIES if lang == FEEL else PYTHON_POLICIES
        line = table.sourceline
        if policy not in supported:
            why = (
                "it needs the outputs' lists of values, which are not supported; put the rules in priority order "
                "and use FIRST"
                if policy in ("PRIORITY", "OUTPUT ORDER")
                else f"SpiffWorkflow evaluates a Python table's {policy} as FIRST; write the table in FEEL"
            )
            self.error(
                f"{where}: hit policy {policy} is not supported ({why}); supported: {', '.join(supported)}",
                table.get("id"),
                line,
            )
        if aggregation is not None:
            if lang == PYTHON:
                self.error(
                    f"{where}: the aggregation {aggregation} would be ignored by SpiffWorkflow's Python tables "
                    f"(they collect lists); write the table in FEEL",
                    table.get("id"),
                    line,
                )
            elif policy != "COLLECT" or aggregation not in AGGREGATIONS:
                self.error(
                    f"{where}: aggregation {aggregation} is not supported (COLLECT with SUM, MIN, MAX or COUNT)",
                    table.get("id"),
                    line,
                )
            elif outputs != 1:
                self.error(
                    f"{where}: COLLECT {aggregation} needs exactly one output, not {outputs}", table.get("id"), line
                )

    def shape(self, where: str, table, inputs: int, outputs: int) -> None:
        for row, rule in enumerate(_children(table, "rule"), start=1):
            got_in, got_out = len(_children(rule, "inputEntry")), len(_children(rule, "outputEntry"))
            if (got_in, got_out) != (inputs, outputs):
                self.error(
                    f"{where}, rule '{rule.get('id')}' (row {row}): has {got_in} input and {got_out} output entries; "
                    f"the table has {inputs} inputs and {outputs} outputs",
                    rule.get("id"),
                    rule.sourceline,
                )

    def python_cells(self, where: str, table, inputs: list) -> None:
        """FEEL written in a Python table: SpiffWorkflow would compare the input with a tuple or a negated
        string, which never decides as meant."""
        for row, rule in enumerate(_children(table, "rule"), start=1):
            for column, entry in enumerate(_children(rule, "inputEntry"), start=1):
                text, line = _text_of(entry)
                if "?" in text:
                    continue
                if _TUPLE.match(text) or re.match(r"^\s*not\s*\(", text):
                    label = _label(inputs[column - 1]) if column <= len(inputs) else str(column)
                    self.error(
                        f"{where}, rule '{rule.get('id')}' (row {row}), input '{label}' (column {column}): `{text}` is "
                        f'FEEL, but this table\'s cells are Python (expressionLanguage="python"), where it would '
                        f"compare the input with a tuple or a negation and never match as meant; write "
                        f"`? in (...)` / `? not in (...)`, or remove expressionLanguage to have the table read as FEEL",
                        rule.get("id"),
                        line,
                    )

    def cell_language(self, where: str, el, what: str) -> bool:
        declared = el.get("expressionLanguage")
        if declared is not None and language(declared) != FEEL:
            self.error(
                f"{where}, {what}: expression language '{declared}' is not supported in a FEEL table",
                el.get("id"),
                el.sourceline,
            )
            return False
        return True

    def feel_table(self, decision_id: str, table, policy: str, aggregation: str | None, inputs, outputs) -> None:
        where = f"decision '{decision_id}'"
        parsed = Table(self.name, decision_id, table.getparent().get("name") or decision_id, policy, aggregation)
        for column, item in enumerate(inputs, start=1):
            expression = next((c for c in item if _local(c) == "inputExpression"), None)
            label = _label(item)
            text, line = _text_of(expression) if expression is not None else ("", item.sourceline)
            what = f"input '{label}' (column {column})"
            if expression is not None and not self.cell_language(where, expression, f"{what}, its expression"):
                continue
            if not text:
                self.error(f"{where}, {what}: has no input expression", item.get("id"), line)
                continue
            try:
                parsed.inputs.append((label, feel.parse_expression(text)))
            except feel.FeelError as exc:
                self.error(f"{where}, {what}: the input expression {_cannot(text, exc)}", item.get("id"), line)
        for item in outputs:
            parsed.outputs.append(item.get("name") or item.get("label") or item.get("id") or "?")
        for row, rule in enumerate(_children(table, "rule"), start=1):
            rule_id = rule.get("id") or f"row {row}"
            at = f"{where}, rule '{rule_id}' (row {row})"
            compiled = Rule(rule_id, row, rule.sourceline, [], [])
            for column, entry in enumerate(_children(rule, "inputEntry"), start=1):
                text, line = _text_of(entry)
                label = _label(inputs[column - 1]) if column <= len(inputs) else str(column)
                what = f"input '{label}' (column {column})"
                if not self.cell_language(at, entry, what):
                    continue
                try:
                    compiled.tests.append(feel.parse_unary_tests(text))
                except feel.FeelError as exc:
                    self.error(f"{at}, {what}: {_cannot(text, exc)}", rule_id, line)
            for column, entry in enumerate(_children(rule, "outputEntry"), start=1):
                text, line = _text_of(entry)
                label = parsed.outputs[column - 1] if column <= len(parsed.outputs) else str(column)
                what = f"output '{label}' (column {column})"
                if not self.cell_language(at, entry, what):
                    continue
                try:
                    compiled.outputs.append(feel.parse_expression(text))
                except feel.FeelError as exc:
                    self.error(f"{at}, {what}: {_cannot(text, exc)}", rule_id, line)
            parsed.rules.append(compiled)
        self.tables[decision_id] = parsed


def _label(item) -> str:
    expression = next((c for c in item if _local(c) == "inputExpression"), None)
    return item.get("label") or item.get("name") or (_text_of(expression)[0] if expression is not None else "") or "?"


def _cannot(text: str, exc: feel.FeelError) -> str:
    shown = text if len(text) <= 80 else text[:77] + "..."
    hint = ""
    if _PYTHON_LOOK.search(text):
        hint = (
            '; if the table is written in Python as SpiffWorkflow reads it, declare expressionLanguage="python" '
            "on its <definitions>"
        )
    return f"`{shown}` is not FEEL this product reads: {exc}{hint}"


def read(dmn_trees: dict, deploy: bool) -> tuple[list[dict], dict[str, Table]]:
    """(errors, FEEL tables by decision id) of every DMN file; errors only when `deploy` or a FEEL file of a stored
    version fails to read as a whole (then it is Python, see the module docstring)."""
    errors: list[dict] = []
    tables: dict[str, Table] = {}
    for name, root in sorted(dmn_trees.items()):
        reader = _FileReader(name, root, deploy)
        reader.read()
        errors += reader.errors
        tables.update(reader.tables)
    return errors, tables


class DecisionParser(SpiffBpmnParser):
    """SpiffWorkflow's parser, whose business rule tasks calling a FEEL table get a FeelDecisionEngine."""

    def __init__(self, feel_tables: dict[str, Table] | None = None):
        super().__init__()
        self.feel_tables = feel_tables or {}

    def get_engine(self, decision_ref, node):
        engine = super().get_engine(decision_ref, node)
        table = self.feel_tables.get(decision_ref)
        return engine if table is None else FeelDecisionEngine(engine.decision_table, table)


class FeelDecisionEngine(DMNEngine):
    """Evaluates a FEEL table's parsed cells with FEEL's meaning (engine.sandbox.feel). `decision_table` stays
    SpiffWorkflow's (the serializer and the version diff read it)."""

    feel = True

    def __init__(self, decision_table, table: Table):
        super().__init__(decision_table)
        self.table = table

    def _fail(self, task, message: str):
        return WorkflowTaskException(f"decision '{self.table.decision}' ({self.table.file}): {message}", task=task)

    def _inputs(self, task) -> list[Any]:
        values = []
        for label, expression in self.table.inputs:
            try:
                values.append(feel.evaluate(expression, task.data))
            except feel.FeelRuntimeError as exc:
                raise self._fail(task, f"input '{label}': {exc}") from None
        return values

    def matching(self, task) -> tuple[list[Any], list[Rule]]:
        values = self._inputs(task)
        found = []
        for rule in self.table.rules:
            try:
                if all(feel.matches(test, value, task.data) for test, value in zip(rule.tests, values, strict=True)):
                    found.append(rule)
            except feel.FeelRuntimeError as exc:
                raise self._fail(task, f"rule '{rule.id}' (row {rule.row}): {exc}") from None
        return values, found

    def decide(self, task):
        _values, found = self.matching(task)
        ids = {rule.id for rule in found}
        return [rule for rule in self.decision_table.rules if rule.id in ids]

    def _outputs(self, task, rule: Rule) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, expression in zip(self.table.outputs, rule.outputs, strict=True):
            try:
                out[key] = feel.to_data(feel.evaluate(expression, task.data))
            except feel.FeelRuntimeError as exc:
                raise self._fail(task, f"rule '{rule.id}' (row {rule.row}), output '{key}': {exc}") from None
        return out

    def result(self, task):
        values, found = self.matching(task)
        policy = self.table.hit_policy
        if policy in ("COLLECT", "RULE ORDER"):
            return _nested(self._collected(task, found))
        if not found:
            shown = ", ".join(f"{label}={feel.to_data(v)!r}" for (label, _), v in zip(self.table.inputs, values))
            raise self._fail(task, f"no rule matches ({shown})")
        first = self._outputs(task, found[0])
        if policy == "UNIQUE" and len(found) > 1:
            rows = " and ".join(f"'{r.id}' (row {r.row})" for r in found[:3])
            raise self._fail(task, f"rules {rows} all match; a UNIQUE table needs exactly one")
        if policy == "ANY":
            for other in found[1:]:
                if self._outputs(task, other) != first:
                    raise self._fail(
                        task,
                        f"rules '{found[0].id}' and '{other.id}' match with different outputs; an ANY table needs "
                        f"the matching rules to agree",
                    )
        return _nested(first)

    def _collected(self, task, found: list[Rule]) -> dict[str, Any]:
        lists: dict[str, list] = {key: [] for key in self.table.outputs}
        for rule in found:
            for key, value in self._outputs(task, rule).items():
                lists[key].append(value)
        aggregation = self.table.aggregation
        if aggregation is None:
            return dict(lists)
        key = self.table.outputs[0]
        if aggregation == "COUNT":
            return {key: len(found)}
        values = [feel.value_of(v) for v in lists[key]]
        if not values:
            return {key: None}
        kinds = {type(v) for v in values}
        if kinds != {Decimal} and (aggregation == "SUM" or kinds != {str}):
            raise self._fail(task, f"COLLECT {aggregation} over values that are not all numbers: {lists[key]!r}")
        if aggregation == "SUM":
            return {key: feel.to_data(feel.total(values))}
        return {key: feel.to_data(min(values) if aggregation == "MIN" else max(values))}


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    """Outputs named `a.b` land in nested dicts, as SpiffWorkflow does."""
    out: dict[str, Any] = OrderedDict()
    for key, value in flat.items():
        if "." not in key:
            out[key] = value
            continue
        parts = key.split(".")
        nested: Any = value
        for part in reversed(parts[1:]):
            nested = {part: nested}
        out[parts[0]] = DeepMerge.merge(out.get(parts[0], {}), nested)
    return out
