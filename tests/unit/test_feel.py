"""FEEL as DMN tables are written in it (engine.sandbox.feel) and the hit policies of FEEL tables
(engine.process.decisions): each form with FEEL's meaning, what is refused, and what Python would have decided."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException

from engine.process import decisions
from engine.sandbox import feel


def test(cell: str, value, data: dict | None = None) -> bool:
    return feel.matches(feel.parse_unary_tests(cell), feel.value_of(value), data or {})


test.__test__ = False  # a helper, not a test


@pytest.mark.parametrize(
    "cell, yes, no",
    [
        ('"electronic","sensor"', ["electronic", "sensor"], ["firmware", None, 1]),
        # null = "liquid_damage" is false, so not() of it matches; a number compared with a string is null: no match
        ('not("liquid_damage")', ["electronic", "", None], ["liquid_damage", 5]),
        ('not("a", "b")', ["c"], ["a", "b"]),
        ("[1..5]", [1, 5, 3.5, 1.0], [0.999, 5.01, "3", True, None]),
        ("]1..5[", [1.5, 4.99], [1, 5]),
        ("(1..5]", [5, 2], [1]),
        ("[1..5)", [1], [5]),
        ("< 10", [9.99, -3], [10, "9", None, False]),
        (">= 3", [3, 3.0, 10**6], [2.999]),
        ("<= limit", [24], [25]),  # an endpoint may be a variable: {'limit': 24}
        ("-", [None, "x", 0, True, [1]], []),
        ("", [None, "x"], []),
        ("true", [True], [False, 1, "true", None]),
        ("false", [False], [True, 0, None]),
        ("1", [1, 1.0], [True, "1"]),  # FEEL's true is not 1, as Python's is
        ("null", [None], [0, "", False]),
        ('"x"', ["x"], ["X", None]),
        ("-2.5", [-2.5], [2.5]),
        ("? >= 0 and ? < 0.5", [0, 0.25], [0.5, -1, None, "0.1"]),
        ('date("2024-01-31")', ["2024-01-31"], ["2024-02-01"]),  # the input is date(...) in the tests below
        ("0.3", [0.3], [0.30001]),
        ("unit.kind", ["camera"], ["phone"]),  # a path: {'unit': {'kind': 'camera'}}
    ],
)
def test_each_feel_form_matches_with_feels_meaning(cell, yes, no):
    data = {"limit": 24, "unit": {"kind": "camera"}}
    convert = (lambda v: feel._call("date", v)) if "date(" in cell else feel.value_of
    tests = feel.parse_unary_tests(cell)
    for value in yes:
        assert feel.matches(tests, convert(value), data), (cell, value)
    for value in no:
        assert not feel.matches(tests, convert(value), data), (cell, value)


@pytest.mark.parametrize(
    "expression, data, expected",
    [
        ("0.1 + 0.2 = 0.3", {}, True),  # decimals, not binary floats
        ('"Within the " + string(months) + "-month warranty"', {"months": 24}, "Within the 24-month warranty"),
        ("price * 2", {"price": 0.25}, 0.5),
        ("price / 0", {"price": 1}, None),  # a division by zero is null
        ("missing + 1", {}, None),  # an unset variable is null, and so is arithmetic on it
        ("a and b", {"a": True, "b": None}, None),  # three-valued logic
        ("a or b", {"a": True, "b": None}, True),
        ("not(a)", {"a": False}, True),
        ('"1" = 1', {}, None),  # values of different types compare to null
        ('number("12.50") + 1', {}, 13.5),
        ('date("2024-02-29") < date(day)', {"day": "2024-03-01"}, True),
        ("string(true)", {}, "true"),
        ("-x", {"x": 3}, -3),
        ('"a\\"b"', {}, 'a"b'),
        ("x * x", {"x": 10**200}, None),  # 1E+400 is beyond what task data (a float) holds: null, never infinity
        ("x * x * x * x", {"x": 10**2000}, None),  # beyond decimal128: null
    ],
)
def test_expressions_evaluate_with_feels_meaning(expression, data, expected):
    assert feel.to_data(feel.evaluate(feel.parse_expression(expression), data)) == expected


@pytest.mark.parametrize(
    "cell, said",
    [
        ("? in ('a', 'b')", "double quotes"),
        ("True", "true and false"),
        ("None", "null"),
        ('f"x{y}"', "no f-strings"),
        ("== 5", "single ="),
        ("!= 5", 'not("a")'),
        ("[1..5", "closing the range"),
        ("]1..5", "closing the range"),
        ("x > 5", "through '?'"),
        ("1 < ? < 5", "do not chain"),
        ("upper case(x)", "expected ','"),
        ("substring(x, 1)", "function 'substring' is not supported"),
        ('date("31.01.2024")', "YYYY-MM-DD"),
        ("x ** 2", "power"),
        ('"open', "not closed"),
        ("< ?", "endpoint"),
        ("(" * 40 + "1" + ")" * 40, "nested"),
        ("x" * 3000, "at most"),
        ("+".join(["1"] * 500), "more than 64 operators"),
    ],
)
def test_what_is_not_feel_of_the_subset_is_refused_with_a_reason(cell, said):
    with pytest.raises(feel.FeelError) as info:
        feel.parse_unary_tests(cell)
    assert said in str(info.value), str(info.value)


def test_output_entries_refuse_the_input_mark_and_accept_empty_as_null():
    with pytest.raises(feel.FeelError, match="only for the input entries"):
        feel.parse_expression("? + 1")
    assert feel.parse_expression("  ") is None


def test_every_output_the_subset_accepts_parses_as_python_for_spiffworkflows_parser():
    """SpiffWorkflow's DMN parser ast.parse()s output entries: what FEEL tables accept must get past it."""
    import ast

    for text in ['"a" + string(x)', 'date("2024-01-01")', "null", "true", "-x * 2", "a.b.c", "not(a)", "x != y"]:
        feel.parse_expression(text)
        ast.parse(text)


TABLE = """<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="x">
  <decision id="dec" name="Dec"><decisionTable id="t" hitPolicy="{policy}"{aggregation}>
    <input id="i" label="Score"><inputExpression id="ie"><text>score</text></inputExpression></input>
    <output id="o" name="out" />
    <rule id="r1"><inputEntry id="r1i"><text>&gt;= 0</text></inputEntry>
      <outputEntry id="r1o"><text>1</text></outputEntry></rule>
    <rule id="r2"><inputEntry id="r2i"><text>&gt;= 5</text></inputEntry>
      <outputEntry id="r2o"><text>{r2}</text></outputEntry></rule>
  </decisionTable></decision>
</definitions>"""


def _engine(policy: str, aggregation: str = "", r2: str = "2"):
    text = TABLE.format(policy=policy, aggregation=f' aggregation="{aggregation}"' if aggregation else "", r2=r2)
    errors, tables = decisions.read({"d.dmn": etree.fromstring(text.encode())}, deploy=True)
    assert errors == []
    return decisions.FeelDecisionEngine(None, tables["dec"])


def _decide(engine, score):
    workflow = SimpleNamespace(spec=SimpleNamespace(file="d.dmn"))
    workflow.top_workflow = workflow
    spec = SimpleNamespace(bpmn_name="Decide", bpmn_id="decide", name="decide", description="Decide")
    return engine.result(SimpleNamespace(data={"score": score}, task_spec=spec, workflow=workflow))


def test_hit_policies_of_feel_tables():
    assert _decide(_engine("FIRST"), 7) == {"out": 1}
    assert _decide(_engine("UNIQUE"), 2) == {"out": 1}
    with pytest.raises(WorkflowTaskException, match="a UNIQUE table needs exactly one"):
        _decide(_engine("UNIQUE"), 7)
    with pytest.raises(WorkflowTaskException, match=r"no rule matches \(Score=-1\)"):
        _decide(_engine("FIRST"), -1)
    assert _decide(_engine("ANY", r2="1"), 7) == {"out": 1}
    with pytest.raises(WorkflowTaskException, match="an ANY table needs"):
        _decide(_engine("ANY"), 7)
    assert _decide(_engine("COLLECT"), 7) == {"out": [1, 2]}
    assert _decide(_engine("COLLECT"), -1) == {"out": []}
    assert _decide(_engine("RULE ORDER"), 7) == {"out": [1, 2]}
    assert _decide(_engine("COLLECT", "SUM"), 7) == {"out": 3}
    assert _decide(_engine("COLLECT", "MAX"), 7) == {"out": 2}
    assert _decide(_engine("COLLECT", "MIN"), 7) == {"out": 1}
    assert _decide(_engine("COLLECT", "COUNT"), 7) == {"out": 2}
    assert _decide(_engine("COLLECT", "SUM"), -1) == {"out": None}


@pytest.mark.parametrize(
    "policy, aggregation, said",
    [
        ("PRIORITY", "", "hit policy PRIORITY is not supported"),
        ("OUTPUT ORDER", "", "hit policy OUTPUT ORDER is not supported"),
        ("FIRST", "SUM", "aggregation SUM is not supported"),
        ("COLLECT", "AVG", "aggregation AVG is not supported"),
    ],
)
def test_unsupported_hit_policies_are_refused_at_deploy(policy, aggregation, said):
    text = TABLE.format(policy=policy, aggregation=f' aggregation="{aggregation}"' if aggregation else "", r2="2")
    errors, _ = decisions.read({"d.dmn": etree.fromstring(text.encode())}, deploy=True)
    assert [e["element"] for e in errors] == ["t"] and said in errors[0]["message"]


def test_python_tables_refuse_what_spiffworkflow_would_silently_decide_as_first():
    text = TABLE.format(policy="RULE ORDER", aggregation="", r2="2").replace(
        'id="d"', 'id="d" expressionLanguage="python"'
    )
    errors, tables = decisions.read({"d.dmn": etree.fromstring(text.encode())}, deploy=True)
    assert tables == {} and "SpiffWorkflow evaluates a Python table's RULE ORDER as FIRST" in errors[0]["message"]


def test_a_stored_table_that_is_not_feel_keeps_running_as_python():
    """A version deployed before tables were read as FEEL (no declaration, Python cells) is not refused on load."""
    text = TABLE.format(policy="UNIQUE", aggregation="", r2="True")
    root = etree.fromstring(text.encode())
    [error] = decisions.read({"d.dmn": root}, deploy=True)[0]
    assert "true and false" in error["message"] and 'declare expressionLanguage="python"' in error["message"]
    assert decisions.read({"d.dmn": root}, deploy=False) == ([], {})


DRD = """<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="x">
  <decision id="base" name="Base"><literalExpression id="le"><text>1</text></literalExpression></decision>
  <decision id="top" name="Top">
    <informationRequirement id="ir"><requiredDecision href="#base" /></informationRequirement>
    <decisionTable id="t">
      <input id="i" label="Score"><inputExpression id="ie"><text>score</text></inputExpression></input>
      <input id="j" label="Other"><inputExpression id="je" expressionLanguage="juel"><text>x</text></inputExpression>
      </input>
      <output id="o" name="out" />
      <rule id="r1"><inputEntry id="r1i"><text>1</text></inputEntry><outputEntry id="r1o"><text>1</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>"""


def test_what_a_business_rule_task_cannot_evaluate_is_refused_naming_it():
    errors, _ = decisions.read({"decisions/d.dmn": etree.fromstring(DRD.encode())}, deploy=True)
    messages = {e["element"]: e["message"] for e in errors}
    assert "holds a literalExpression, not a decision table" in messages["base"]
    assert "requires decision 'base'" in messages["top"]
    assert "has 1 input and 1 output entries; the table has 2 inputs and 1 outputs" in messages["r1"]
    assert "expression language 'juel' is not supported" in messages["je"]
    assert all(e["file"] == "decisions/d.dmn" and e["line"] for e in errors)


def test_the_shipped_tables_are_python_and_a_stored_copy_without_the_declaration_still_loads_as_python():
    from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine

    from engine.errors import InvalidProcess
    from engine.process.definitions import parse_bundle, read_bundle_dir
    from tests.conftest import PROCESSES_DIR

    files = read_bundle_dir(PROCESSES_DIR)
    assert all('expressionLanguage="python"' in files[n] for n in files if n.endswith(".dmn"))
    undeclared = {n: t.replace(' expressionLanguage="python"', "") for n, t in files.items()}
    stored = parse_bundle(undeclared)  # as a version stored before tables were read as FEEL is loaded
    engine = stored.subprocess_specs["rma_warranty"].task_specs["check_warranty"].dmnEngine
    assert type(engine) is DMNEngine and not getattr(engine, "feel", False)
    with pytest.raises(InvalidProcess) as info:  # deployed today, the same file is read as FEEL and refused
        parse_bundle(undeclared, deploy=True)
    warranty = [e for e in info.value.errors if e["file"] == "decisions/warranty.dmn"]
    assert warranty and all('declare expressionLanguage="python"' in e["message"] for e in warranty)
