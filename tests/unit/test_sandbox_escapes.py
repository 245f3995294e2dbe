"""A corpus of attempts to escape the script sandbox: each is refused and leaves no trace.

Every entry is refused either by the static check (and so at deploy) or, where it only shows at run
time, by a run-time guard (and so as a ProcessScriptError naming the task). Each run must leave the
task data, the sandbox's own tables, the environment, the trace function and a canary file untouched,
and finish quickly without eating memory.
"""

from __future__ import annotations

import copy
import os
import random
import resource
import sys
import time
from dataclasses import dataclass
from xml.sax.saxutils import escape as xml_escape

import pytest

from engine import sandbox
from engine.errors import InvalidProcess, ProcessScriptError
from engine.execution.runtime import Runtime
from engine.process.definitions import parse_bundle, read_bundle_dir
from engine.sandbox import limits as sandbox_limits
from tests.conftest import PROCESSES_DIR
from tests.processes.walk import INTAKE_FORM, diagnosis, start_data

SandboxViolation = sandbox.SandboxViolation
QUOTE_SCRIPT = "quote_total = round(parts_cost + labour_hours * labour_rate, 2)"
APPROVAL_CONDITION = "approve == True"


@dataclass(frozen=True)
class Escape:
    id: str
    source: str
    stage: str = "check"  # "check": refused statically; "run": passes the check, refused when it runs
    mode: str = "exec"
    context: str = "data"  # which task data the attempt runs against (see _context)
    error: type = SandboxViolation


def _context(kind: str) -> dict:
    data = {"s": "text", "d": {"a": 1}, "l": [1, 2, 3], "n": 7, "amount": "12.50"}
    if kind == "environ":
        data["env"] = os.environ  # a non-data mapping that has an allowed-looking `.get`
    elif kind == "module":
        data["random"] = random  # SpiffArena's known leak: random._os
    elif kind == "frame":
        data["f"] = sys._getframe()
    return data


E = Escape
CORPUS = [
    # dunder walks to object.__subclasses__() and function globals
    E("subclasses_from_tuple", "x = ().__class__.__base__.__subclasses__()"),
    E("subclasses_via_mro", "x = [].__class__.__mro__[1].__subclasses__()"),
    E("str_mro_root", "x = ''.__class__.__mro__[-1].__subclasses__()"),
    E("class_of_task_data", "x = d.__class__"),
    E("helper_globals", "x = months_between.__globals__['sys'].modules['os']"),
    E("helper_code_object", "x = today.__code__.co_consts"),
    E("decimal_init_globals", "x = Decimal.__init__.__globals__"),
    E("helper_builtins", "x = months_between.__builtins__['eval']"),
    E("bound_method_self", "x = d.get.__self__"),
    E("dunder_in_bytes", "x = b'__class__'"),
    E("object_subclasses", "x = object.__subclasses__()"),
    # format strings that reach attributes
    E("str_format_dunder", "x = '{0.__class__.__mro__}'.format(1)"),
    E("str_format_attribute", "x = '{0.real}'.format(1)"),
    E("str_format_map", "x = '{a.real}'.format_map(d)"),
    E("fstring_dunder", "x = f'{d.__class__}'"),
    E("fstring_computed_spec", "x = f'{s:{s}}'"),
    E("fstring_huge_width", "x = f'{s:>999999999}'"),
    E("fstring_decimal_expansion", "x = f'{Decimal(\"1e999999999\"):f}'", "run"),
    E("percent_format_width", "x = '%999999999d' % 1", "run"),
    E("format_builtin", "x = format(1, '>999999999')"),
    # generators, frames, tracebacks
    E("generator_frame", "x = (i for i in l).gi_frame.f_back.f_globals"),
    E("comprehension_frame_attr", "x = [i for i in l].gi_frame"),
    E("smuggled_frame_globals", "x = f.f_globals['os']", context="frame"),
    E("traceback_frame", "try:\n    1 / 0\nexcept Exception as e:\n    x = e.__traceback__.tb_frame.f_globals"),
    E("exception_args", "try:\n    1 / 0\nexcept Exception as e:\n    x = e.args"),
    E("raise_system_exit", "raise SystemExit(1)"),
    E("yield_expression", "x = (yield)"),
    # getattr, vars, dir, globals and builtins
    E("getattr_concatenated_name", "x = getattr(d, '_' + '_class_' + '_')"),
    E("vars_of_data", "x = vars(d)"),
    E("dir_of_scope", "x = dir()"),
    E("globals_builtins", "x = globals()['__builtins__']"),
    E("locals_dict", "x = locals()"),
    E("builtins_by_name", "x = __builtins__['eval']"),
    E("builtins_via_data_key", "x = d.get('__builtins__')"),
    E("delete_builtins", "del __builtins__"),
    E("eval_condition", "eval('1')", mode="eval"),
    E("exec_script", "exec('import os')"),
    E("compile_code", "x = compile('1', 'f', 'eval')"),
    E("breakpoint_call", "breakpoint()"),
    # imports
    E("import_os", "import os\nos.system('touch CANARY')"),
    E("from_import", "from os import system"),
    E("dunder_import", "x = __import__('os').system('touch CANARY')"),
    E("open_file_in_condition", "open('CANARY', 'w') is None", mode="eval"),
    # type() and class creation
    E("type_of_value", "x = type(1)"),
    E("type_three_args", "x = type('A', (), {})"),
    E("class_definition", "class A:\n    pass"),
    # decorators and lambdas smuggling builtins
    E("decorator_eval", "@eval\ndef f():\n    pass"),
    E("lambda_builtins", "f = lambda: __builtins__"),
    E("lambda_default_smuggles_helper", "f = lambda g=months_between: g"),
    E("lambda_in_condition", "(lambda: 1)() == 1", mode="eval"),
    E("recursive_function", "def f(n):\n    return f(n + 1)\nf(0)"),
    # module attribute leaks and non-data receivers
    E("random_os_leak", "x = random._os.system('touch CANARY')", context="module"),
    E("environ_get_on_non_data", "x = env.get('HOME')", "run", context="environ"),
    E("environ_keys_on_non_data", "x = list(env.keys())", "run", context="environ"),
    E("unbound_dict_get_on_environ", "x = dict.get(env, 'HOME')", "run", context="environ"),
    E("method_on_a_class", "x = Decimal.quantize", "run"),
    E("method_on_a_builtin", "x = str.join('', l)", "run"),
    E("operator_attrgetter", "x = operator.attrgetter('__class__')(d)"),
    E("attrgetter_unavailable", "x = attrgetter('real')(1)", "run", error=NameError),
    E("items_view_mapping", "x = d.items().mapping"),
    # statements outside the whitelist
    E("while_true", "while True:\n    pass"),
    E("walrus_builtins", "x = (y := __builtins__)"),
    E("walrus_in_condition", "(y := 1) == 1", mode="eval"),
    E("attribute_assignment", "d.get = 1"),
    E("attribute_delete", "del d.get"),
    E("annotation_runs_code", "x: open('CANARY', 'w') = 1"),
    E("keyword_dunder", "x = dict(__class__=1)"),
    E("global_statement", "global x"),
    E("match_statement", "match d:\n    case {'a': y}:\n        x = y"),
    E("deeply_nested_lists", "x = " + "[" * 100 + "1" + "]" * 100),
    E("deeply_nested_operators", "x = " + "-" * 5000 + "1"),
    E("oversized_source", "x = 1\n" * 5000),
    E("huge_int_literal", "x = " + "9" * 4000),
    # spelling tricks: identifiers are NFKC-normalised before the check sees them
    E("fullwidth_eval", "x = \uff45\uff56\uff41\uff4c('1')"),
    E("fullwidth_dunder_attribute", "x = d.__\uff43lass__"),
    E("escaped_dunder_string", "x = d.get('\\x5f\\x5fbuiltins\\x5f\\x5f')"),
    E("coding_cookie_utf7", "# -*- coding: utf-7 -*-\nx = 1 +AAo-import os"),
    E("null_byte", "x = 1\x00import os"),
    # memory and time bombs
    E("string_repeat", "x = 'a' * 10**9", "run"),
    E("list_repeat", "x = [0] * 10**9", "run"),
    E("tower_of_powers", "x = 10**10**10"),
    E("variable_exponent", "x = 2 ** n"),
    E("pow_helper_huge_exponent", "x = pow(10, 10**10)", "run"),
    E("power_chain", "x = 2**64\nx = x**64\nx = x**64", "run"),
    E("repeated_squaring", "x = 3\nfor i in range(40):\n    x = x * x", "run"),
    E("list_of_huge_range", "x = list(range(10**9))", "run"),
    E("sum_of_huge_range", "x = sum(range(10**12))", "run"),
    E("huge_comprehension", "x = [0 for i in range(10**8)]", "run"),
    E("nested_comprehension", "x = [i * j for i in range(10000) for j in range(10000)]", "run"),
    E("string_doubling_loop", "x = 'ab'\nfor i in range(40):\n    x = x + x", "run"),
    E("augmented_list_doubling", "x = [0]\nfor i in range(40):\n    x += x", "run"),
    E("join_bomb", "x = '-'.join(['a' * 9000] * 10000)", "run"),
    E("replace_bomb", "t = 'a' * 10000\nx = t.replace('a', t)", "run"),
    E("str_of_shared_lists", "t = [[0] * 10000] * 10000\nx = str(t)", "run"),
    E("fstring_of_shared_lists", "t = [[0] * 10000] * 10000\nx = f'{t}'", "run"),
    E("round_to_negative_digits", "x = round(1, -10**8)", "run"),
    E("int_of_huge_decimal", "x = int(Decimal('1e999999999'))", "run"),
    E("ceil_of_huge_decimal", "x = ceil(Decimal('9e99999999'))", "run"),
    E("sum_concatenating_lists", "x = sum([[0] * 10000] * 10000, [])", "run"),
    E("slice_copies_in_a_loop", "t = 'a' * 10000 * 10\nk = []\nfor i in range(10000):\n    k.append(t[1:])", "run"),
    E("dict_of_copies", "t = 'a' * 10000\nx = {i: t[1:] for i in range(10000)}", "run"),
    E("long_loop", "for i in range(10**7):\n    pass", "run"),
    E("cpu_burn_within_step_budget", "t = list(range(20000)) * 5\nfor i in range(9000):\n    x = t.count(-1)", "run"),
    E(
        "hash_collision_dict",
        "k = [i * 2305843009213693951 for i in range(1, 9000)]\nk = k * 10\nx = len(dict(zip(k, k)))",
        "run",
    ),
    E(
        "compare_shared_structures",
        "t = list(range(20000)) * 5\nu = t * 1\na = [t for i in range(5000)]\nb = [u for i in range(5000)]\nx = a == b",
        "run",
    ),
    E("sort_shared_structures", "t = list(range(20000)) * 5\na = [t] * 5000\nx = sorted(a)", "run"),
    E("count_in_shared_structures", "t = list(range(20000)) * 5\nu = t * 1\na = [t] * 5000\nx = a.count(u)", "run"),
    E("search_in_shared_structures", "t = list(range(20000)) * 5\nu = t * 1\na = [t] * 5000\nx = u in a", "run"),
    E(
        "grow_after_measure",
        "t = []\na = [t for i in range(5000)]\nb = [t * 1 for i in range(5000)]\n"
        "t[0:0] = list(range(20000)) * 5\nx = max(a, b)",
        "run",
    ),
    E("deep_tuple_key", "t = tuple(range(20000)) * 5\nk = {}\nk[(t, t)] = 1", "run"),
    # values that would poison the stored instance
    E("serializer_typename_key", "x = {'typename': 'BpmnWorkflow'}", "run"),
    E("iterator_left_in_task_data", "x = zip(l, l)", "run"),
    E("self_referencing_list", "l.append(l)", "run"),
    E("number_keys_lost_on_reload", "x = {1: 'a'}", "run"),
]


def test_the_corpus_is_large_and_names_are_unique():
    assert len(CORPUS) >= 40
    assert len({e.id for e in CORPUS}) == len(CORPUS)


def _run(env, escape: Escape, source: str, context: dict):
    if escape.mode == "eval":
        return env.evaluate(source, context)
    return env.execute(source, context)


def _snapshot(context: dict) -> dict:
    return {k: (v if k in ("env", "random", "f") else copy.deepcopy(v)) for k, v in context.items()}


@pytest.mark.parametrize("escape", CORPUS, ids=[e.id for e in CORPUS])
def test_escape_is_refused_and_has_no_effect(escape, tmp_path):
    canary = tmp_path / "canary"
    source = escape.source.replace("CANARY", str(canary))
    env = sandbox.SandboxEnvironment()
    context = _context(escape.context)
    before = _snapshot(context)
    tables = (dict(sandbox.SAFE_BUILTINS), dict(sandbox.HELPERS), dict(env.globals))
    environ, tracer = dict(os.environ), sys.gettrace()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    if escape.stage == "check":
        with pytest.raises(SandboxViolation):
            sandbox.check(source, escape.mode)
    else:
        sandbox.check(source, escape.mode)  # only a run-time guard can see this one
    started, cpu = time.monotonic(), time.thread_time()
    with pytest.raises(escape.error):
        _run(env, escape, source, context)

    # scripts are timed by their thread's CPU time (the limit), and nothing may wait without computing (a hang)
    assert time.thread_time() - cpu < sandbox.MAX_SECONDS + 1
    assert time.monotonic() - started < 30
    assert context.keys() == before.keys()
    assert all(context[k] is before[k] if k in ("env", "random", "f") else context[k] == before[k] for k in context)
    assert not canary.exists()
    assert (dict(sandbox.SAFE_BUILTINS), dict(sandbox.HELPERS), dict(env.globals)) == tables
    assert dict(os.environ) == environ and sys.gettrace() is tracer
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 256 * 1024  # KiB: no memory bomb went off


def test_the_wall_clock_limit_stops_a_run_between_steps():
    budget = sandbox_limits.Budget(seconds=-1)
    with pytest.raises(SandboxViolation, match="longer than"):
        budget.trace(sys._getframe(), "line", None)


def test_the_cpu_burn_is_stopped_by_the_clock_not_the_steps():
    env = sandbox.SandboxEnvironment()
    burn = next(e for e in CORPUS if e.id == "cpu_burn_within_step_budget")
    with pytest.raises(SandboxViolation, match="longer than"):
        env.execute(burn.source, {})


def test_plain_data_methods_and_formatting_still_work():
    env = sandbox.SandboxEnvironment()
    context = {"notes": " Scratched Lid ", "parts": {"mb": 100, "lens": 20}, "amount": "12.5", "received": "2024-06-03"}
    env.execute(
        "clean = notes.strip().lower().replace('lid', 'cover')\n"
        "names = ', '.join(sorted(parts.keys()))\n"
        "total = sum([v for v in parts.values()]) + parts.get('screen', 0)\n"
        "price = Decimal(amount).quantize(Decimal('0.01'))\n"
        "label = f'{price:>8.2f} {total:,} {names!r}'\n"
        "year = int(received.split('-')[0])\n"
        "first = [p for p in parts][0:1]\n"
        "count: int = len(parts)\n"
        "count += 1\n",
        context,
    )
    assert context["clean"] == "scratched cover" and context["names"] == "lens, mb"
    assert context["total"] == 120 and str(context["price"]) == "12.50"
    assert context["label"] == "   12.50 120 'lens, mb'"
    assert (context["year"], context["first"], context["count"]) == (2024, ["mb"], 3)
    assert "__annotations__" not in context


def _deploy_with(source: str, mode: str) -> list[dict]:
    files = read_bundle_dir(PROCESSES_DIR)
    if mode == "exec":
        name, old = "stages/rma_approval.bpmn", QUOTE_SCRIPT
    else:
        name, old = "rma.bpmn", APPROVAL_CONDITION
    assert old in files[name]
    files[name] = files[name].replace(old, xml_escape(source))
    with pytest.raises(InvalidProcess) as info:
        parse_bundle(files)
    return info.value.errors


STATIC = [e for e in CORPUS if e.stage == "check" and "\x00" not in e.source]  # XML cannot carry NUL


@pytest.mark.parametrize("escape", STATIC, ids=[e.id for e in STATIC])
def test_statically_visible_escape_is_refused_at_deploy_naming_the_element(escape):
    errors = _deploy_with(escape.source, escape.mode)
    element = "compute_quote" if escape.mode == "exec" else "route_after_approval"
    assert any(e["element"] == element and "refused" in e["message"] for e in errors), errors


RUN_TIME = [e for e in CORPUS if e.stage == "run" and e.context == "data" and e.mode == "exec"]
TASK_DATA = "s = 'text'\nd = {'a': 1}\nl = [1, 2, 3]\nn = 7\n"


@pytest.mark.parametrize("escape", RUN_TIME, ids=[e.id for e in RUN_TIME])
def test_run_time_escape_is_a_process_script_error_naming_the_task(escape):
    files = read_bundle_dir(PROCESSES_DIR)
    name = "stages/rma_approval.bpmn"
    files[name] = files[name].replace(QUOTE_SCRIPT, xml_escape(TASK_DATA + escape.source))
    parsed = parse_bundle(files)  # nothing visible statically: the deploy accepts it
    rt = Runtime()
    wf = rt.start(parsed, start_data(purchase_date="2019-01-01", received_on="2024-01-01"))
    rt.complete(wf, rt.ready_tasks(wf)[0].id, INTAKE_FORM)
    diagnose = rt.ready_tasks(wf)[0]
    with pytest.raises(ProcessScriptError) as info:
        rt.complete(wf, diagnose.id, diagnosis("sensor", parts_cost=10, labour_hours=1))
    assert info.value.task == "compute_quote"
    assert "compute_quote" in info.value.message
    assert "quote_total" not in rt.current_data(wf)


# Deploy: every kind of code SpiffWorkflow will evaluate is checked, not just scripts and conditions.
DMN = "decisions/warranty.dmn"
EVIL = "__import__('os').getcwd()"
MINIMAL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://example.com/rma">
  <bpmn:process id="rma" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>to_wait</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="to_wait" sourceRef="start" targetRef="wait" />
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:incoming>to_wait</bpmn:incoming><bpmn:outgoing>to_note</bpmn:outgoing>
      <bpmn:timerEventDefinition id="wait_timer">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{timer}</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="to_note" sourceRef="wait" targetRef="note" />
    <bpmn:task id="note">
      <bpmn:extensionElements>
        <spiffworkflow:preScript>{pre}</spiffworkflow:preScript>
        <spiffworkflow:postScript>{post}</spiffworkflow:postScript>
      </bpmn:extensionElements>
      <bpmn:incoming>to_note</bpmn:incoming><bpmn:outgoing>to_end</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics isSequential="true">
        <bpmn:loopCardinality>{cardinality}</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:task>
    <bpmn:sequenceFlow id="to_end" sourceRef="note" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>to_end</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""
SAFE_PARTS = {"timer": "'PT1H'", "pre": "before = 1", "post": "after = 2", "cardinality": "2"}


def test_a_minimal_process_with_timer_pre_post_and_cardinality_deploys():
    parse_bundle({"rma.bpmn": MINIMAL.format(**SAFE_PARTS)})


@pytest.mark.parametrize(
    ("part", "element"), [("timer", "wait"), ("pre", "note"), ("post", "note"), ("cardinality", "note")]
)
def test_escape_in_a_timer_pre_post_script_or_cardinality_is_refused_at_deploy(part, element):
    source = "x = " + EVIL if part in ("pre", "post") else EVIL
    xml = MINIMAL.format(**{**SAFE_PARTS, part: xml_escape(source)})
    with pytest.raises(InvalidProcess) as info:
        parse_bundle({"rma.bpmn": xml})
    [error] = info.value.errors
    assert (error["file"], error["element"]) == ("rma.bpmn", element)
    assert "refused" in error["message"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("<text>fault_category</text>", f"<text>{EVIL}</text>"),  # input expression
        ("<text>&lt;= warranty_months</text>", f"<text>&lt;= len({EVIL})</text>"),  # input entry
        ("<text>? in ('physical_damage', 'liquid_damage')</text>", f"<text>? in {EVIL}</text>"),  # input entry with ?
        ('<text>f"Within the {warranty_months}-month warranty"</text>', f"<text>{EVIL}</text>"),  # output entry
        ("<text>&gt; warranty_months</text>", "<text>&gt; ().__class__</text>"),  # appended entry
    ],
    ids=["input_expression", "input_entry", "input_entry_marked", "output_entry", "appended_entry"],
)
def test_escape_in_any_decision_cell_is_refused_at_deploy_naming_the_rule_task(old, new):
    files = read_bundle_dir(PROCESSES_DIR)
    assert old in files[DMN]
    files[DMN] = files[DMN].replace(old, new)
    with pytest.raises(InvalidProcess) as info:
        parse_bundle(files)
    [error] = info.value.errors
    assert (error["file"], error["element"]) == ("stages/rma_warranty.bpmn", "check_warranty")
    assert "refused" in error["message"]


def test_refused_code_in_an_already_deployed_bundle_fails_at_run_time_naming_the_task():
    """A bundle stored before a rule existed is refused when its code runs, as a ProcessScriptError."""
    parsed = parse_bundle(read_bundle_dir(PROCESSES_DIR))
    quote = next(
        s
        for s in parsed.subprocess_specs["rma_approval"].task_specs.values()
        if getattr(s, "bpmn_id", None) == "compute_quote"
    )
    quote.script = "quote_total = ().__class__.__base__.__subclasses__()"
    rt = Runtime()
    wf = rt.start(parsed, start_data(purchase_date="2019-01-01", received_on="2024-01-01"))
    rt.complete(wf, rt.ready_tasks(wf)[0].id, INTAKE_FORM)
    with pytest.raises(ProcessScriptError) as info:
        rt.complete(wf, rt.ready_tasks(wf)[0].id, diagnosis("sensor", parts_cost=10, labour_hours=1))
    assert info.value.task == "compute_quote" and "SandboxViolation" in info.value.message
