"""The script sandbox: what BPMN code may do, what it may not, and that the deploy refuses the rest."""

from __future__ import annotations

import datetime as dt
import re
import sys

import pytest
from lxml import etree

from engine import sandbox
from engine.errors import InvalidProcess
from engine.process.definitions import BPMN_NS, parse_bundle, read_bundle_dir
from tests.conftest import PROCESSES_DIR

SandboxViolation = sandbox.SandboxViolation
WARRANTY_STAGE = "stages/rma_warranty.bpmn"
AGE_SCRIPT = "age_months = months_between(warranty_start_date, received_on) if warranty_start_date else 9999"

# What the process data holds when the shipped scripts and conditions run.
PROCESS_DATA = {
    "purchase_date": "2023-01-10",
    "warranty_start_date": "2023-01-10",
    "received_on": "2024-06-03",
    "parts_cost": 100,
    "labour_hours": 2,
    "labour_rate": 60,
    "fault_category": "electronic",
    "in_warranty": True,
    "approve": True,
    "qa_passed": False,
    # the online request, triage, inbound, repair-or-replace and goodwill paths
    "channel": "online",
    "troubleshoot_solved": False,
    "review_decision": "ship_in",
    "triage_outcome": "resolved_remotely",
    "parcel_arrived": False,
    "choice": "repair",
    "quote_total": 200,
    "replacement_value": 400,
    "successor_value": 500,
    "offer_repair": True,
    "offer_replacement": True,
    "replacement_share": 0.7,
    "offer_trade_in": True,
    "trade_in_share": 0.3,
    "goodwill_total": 0,
    "goodwill_approved": True,
    "goodwill": {"kind": "discount", "amount": 20},
    # the DE variant's repair stage (processes/variants/DE): repair site decided by the technician
    "factory_only": True,
    "factory_reason": "Sealed optics",
    # the SG variant's approval stage (processes/variants/SG): its loan gateway reads approve,
    # choice and labour_hours (above); the loan offer's form records these
    "loan_lent": True,
    "loan_unit_code": "SG-LOAN-03",
}


@pytest.fixture
def env():
    return sandbox.SandboxEnvironment()


def _shipped_code() -> list[tuple[str, str, str]]:
    """(element id, source, mode) for every script and condition in the shipped BPMN files."""
    code = []
    for path in sorted(PROCESSES_DIR.rglob("*.bpmn")):
        root = etree.parse(str(path)).getroot()
        for el in root.iter(f"{{{BPMN_NS}}}script"):
            code.append((el.getparent().get("id"), el.text, "exec"))
        for el in root.iter(f"{{{BPMN_NS}}}conditionExpression"):
            code.append((el.getparent().get("id"), el.text, "eval"))
    return code


SHIPPED = _shipped_code()


def test_the_bundle_ships_scripts_and_conditions():
    assert {"compute_unit_age", "compute_quote", "mark_repaired"} <= {e for e, _, _ in SHIPPED}
    assert any(mode == "eval" for _, _, mode in SHIPPED)


@pytest.mark.parametrize(("element", "source", "mode"), SHIPPED, ids=[e for e, _, _ in SHIPPED])
def test_shipped_code_passes_the_check_and_runs(env, element, source, mode):
    sandbox.check(source, mode)
    context = dict(PROCESS_DATA)
    if mode == "eval":
        assert isinstance(env.evaluate(source, context), bool)
    else:
        env.execute(source, context)
        changed = any(context[k] != v for k, v in PROCESS_DATA.items() if k in context)
        assert set(context) - set(PROCESS_DATA) or changed, f"{element} assigned nothing"


def test_quote_and_age_scripts_compute_from_process_data(env):
    context = dict(PROCESS_DATA)
    env.execute("quote_total = round(parts_cost + labour_hours * labour_rate, 2)", context)
    env.execute(AGE_SCRIPT, context)
    assert context["quote_total"] == 220
    assert context["age_months"] == 16


def test_script_sees_helpers_but_does_not_store_them_in_task_data(env):
    context = {"a": "2024-01-01"}
    env.execute("d = days_between(a, '2024-03-01')\nb = a.upper()", context)
    assert context == {"a": "2024-01-01", "d": 60, "b": "2024-01-01"}


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        ("2024-01-15", "2024-01-15", 0),
        ("2024-01-15", "2024-02-14", 0),  # a day short of the monthly anniversary
        ("2024-01-15", "2024-02-15", 1),
        ("2023-11-30", "2024-01-30", 2),  # across a year end
        ("2023-11-30", "2024-01-29", 1),
        ("2024-01-31", "2024-02-29", 0),  # the 31st has not come round in February
        ("2024-01-31", "2024-03-31", 2),
        ("2020-02-29", "2022-02-28", 23),
        ("2020-02-29", "2022-03-01", 24),
        ("2022-03-15", "2024-03-15", 24),
        ("2022-03-15", "2024-04-14", 24),
        ("2022-03-15", "2024-04-15", 25),
    ],
)
def test_months_between_counts_whole_months_by_day_of_month(start, end, months):
    assert sandbox.months_between(start, end) == months


def test_months_between_accepts_dates_datetimes_and_iso_timestamps():
    assert sandbox.months_between(dt.date(2023, 5, 20), dt.datetime(2024, 5, 19, 23, 59)) == 11
    assert sandbox.months_between("2023-05-20T08:00:00+00:00", "2024-05-20T01:00:00Z") == 12


def test_days_between_counts_calendar_days():
    assert sandbox.days_between("2024-02-28", "2024-03-01") == 2
    assert sandbox.days_between("2024-03-01", "2024-02-28") == -2


REFUSED = {
    "import": "import os",
    "import_from": "from os import path",
    "dunder_import": "__import__('os')",
    "subclasses_walk": "x = ().__class__.__base__.__subclasses__()",
    "dunder_attribute": "x = [].__class__",
    "getattr": "x = getattr(a, 'b')",
    "eval": "x = eval('1 + 1')",
    "exec": "exec('x = 1')",
    "open": "x = open('/etc/passwd')",
    "type": "x = type(1)",
    "underscore_name": "_secret = 1",
    "underscore_read": "x = _secret",
    "dunder_string": "x = 'a__b'",
    "format_method": "x = '{0.real}'.format(1)",
    "unlisted_attribute": "x = months_between.func_globals",
    "lambda": "f = lambda: 1",
    "def": "def f():\n    return 1",
    "class": "class A:\n    pass",
    "with": "with a:\n    pass",
    "while": "while True:\n    pass",
    "try": "try:\n    x = 1\nexcept Exception:\n    pass",
    "generator": "x = sum(i for i in range(3))",
    "global": "global x",
    "huge_literal_power": "x = 2 ** 100000",
    "variable_power": "x = 2 ** n",
    "syntax_error": "x = (",
}


@pytest.mark.parametrize("source", REFUSED.values(), ids=REFUSED.keys())
def test_check_refuses(source):
    with pytest.raises(SandboxViolation):
        sandbox.check(source)


@pytest.mark.parametrize(
    "source",
    [REFUSED["import"], REFUSED["subclasses_walk"], REFUSED["lambda"]],
    ids=["import", "subclasses_walk", "lambda"],
)
def test_refused_code_never_runs_even_if_it_skipped_deploy(env, source):
    context = {"x": "untouched"}
    with pytest.raises(SandboxViolation):
        env.execute(source, context)
    assert context == {"x": "untouched"}


def test_refused_condition_is_not_evaluated(env):
    with pytest.raises(SandboxViolation):
        env.evaluate("().__class__", {})


def test_builtins_outside_the_whitelist_are_unavailable(env):
    with pytest.raises((NameError, SandboxViolation)):
        env.execute("print('hi')", {})


def test_pow_helper_refuses_a_huge_exponent(env):
    with pytest.raises(SandboxViolation, match="too large"):
        env.execute("x = pow(2, 10 ** 6)", {})
    context = {}
    env.execute("x = pow(2, 10)", context)
    assert context["x"] == 1024


@pytest.mark.parametrize(
    "source",
    [
        "total = 0\nfor i in range(10 ** 7):\n    total += i",
        "squares = [i * i for i in range(10 ** 7)]",
        "total = 0\nfor i in range(1000):\n    for j in range(1000):\n        total += 1",
    ],
    ids=["for_loop", "comprehension", "nested_short_ranges"],
)
def test_step_budget_stops_a_long_loop_and_restores_tracing(env, source):
    before = sys.gettrace()
    context = {}
    with pytest.raises(SandboxViolation, match="steps"):
        env.execute(source, context)
    assert context == {}
    assert sys.gettrace() is before


def test_a_short_loop_fits_in_the_step_budget(env):
    context = {}
    env.execute("total = 0\nfor i in range(1000):\n    total += i", context)
    assert context["total"] == sum(range(1000))


def test_sequence_repetition_is_bounded(env):
    with pytest.raises(SandboxViolation):
        env.execute("n = 10 ** 6\nx = 'a' * n", {})
    context = {}
    env.execute("x = 'ab' * 3", context)
    assert context["x"] == "ababab"


def _line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def test_deploy_refuses_a_bundle_with_an_escaping_script_and_names_where():
    files = read_bundle_dir(PROCESSES_DIR)
    files[WARRANTY_STAGE] = files[WARRANTY_STAGE].replace(
        AGE_SCRIPT, "age_months = ().__class__.__base__.__subclasses__()"
    )
    with pytest.raises(InvalidProcess) as info:
        parse_bundle(files)
    [error] = info.value.errors
    assert error["file"] == WARRANTY_STAGE
    assert error["element"] == "compute_unit_age"
    assert error["line"] == _line_of(files[WARRANTY_STAGE], 'id="compute_unit_age"')
    assert "__" in error["message"] and "refused" in error["message"]


def test_deploy_refuses_an_escaping_gateway_condition():
    files = read_bundle_dir(PROCESSES_DIR)
    files["rma.bpmn"] = files["rma.bpmn"].replace("approve == True", "open('/etc/passwd') != None")
    with pytest.raises(InvalidProcess) as info:
        parse_bundle(files)
    [error] = info.value.errors
    assert (error["file"], error["element"]) == ("rma.bpmn", "route_after_approval")
    assert error["line"] == _line_of(files["rma.bpmn"], 'id="route_after_approval"')
    assert re.search(r"\bopen\b", error["message"])
