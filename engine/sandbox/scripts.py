"""The script environment BPMN may use: AST-whitelisted Python, no imports, no dunders.

SpiffWorkflow evaluates conditions, scripts, DMN cells and timer expressions with plain eval/exec.
Every piece of code goes through `check()` first (at deploy time where possible, and again before it
runs), which only admits a small set of node types, names and attribute names. Checked code is then
rewritten so that attribute access, operators, calls, slices and f-strings go through the run-time
guards of `engine.sandbox.limits` (plain-data receivers only, size limits), and runs with a tiny
builtins table under a step and wall-clock budget enforced by a trace function.
"""

from __future__ import annotations

import ast
import copy
import datetime as _dt
import decimal
import re
import sys
from collections import OrderedDict
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from engine.sandbox.limits import (  # noqa: F401  (limits are part of the sandbox's public surface)
    DECIMALS,
    MAX_INT_BITS,
    MAX_LENGTH,
    MAX_POWER_EXPONENT,
    MAX_SECONDS,
    MAX_SEQUENCE_REPEAT,
    MAX_STEPS,
    SOURCE_NAME,
    Budget,
    SandboxViolation,
    check_data,
    safe_ceil,
    safe_decimal,
    safe_dict,
    safe_floor,
    safe_int,
    safe_max,
    safe_min,
    safe_pow,
    safe_range,
    safe_round,
    safe_sorted,
    safe_str,
    safe_sum,
)

MAX_SOURCE_CHARS = 20_000
MAX_NESTING = 50


def months_between(start: str | _dt.date, end: str | _dt.date) -> int:
    """Whole months from `start` to `end` (dates or YYYY-MM-DD strings)."""
    a, b = _as_date(start), _as_date(end)
    months = (b.year - a.year) * 12 + (b.month - a.month)
    if b.day < a.day:
        months -= 1
    return months


def days_between(start, end) -> int:
    """Whole days from `start` to `end`."""
    return (_as_date(end) - _as_date(start)).days


def _as_date(value) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected a date or a YYYY-MM-DD string, not {type(value).__name__}")
    return _dt.date.fromisoformat(value[:10])


def today() -> str:
    """Today's date (UTC) as YYYY-MM-DD."""
    return _dt.datetime.now(_dt.UTC).date().isoformat()


_safe_pow = safe_pow  # the name earlier versions exported

SAFE_BUILTINS: dict[str, Any] = {
    "abs": abs,
    "all": all,
    "any": any,
    "bool": bool,
    "dict": safe_dict,
    "enumerate": enumerate,
    "float": float,
    "int": safe_int,
    "len": len,
    "list": list,
    "max": safe_max,
    "min": safe_min,
    "range": safe_range,
    "round": safe_round,
    "sorted": safe_sorted,
    "str": safe_str,
    "sum": safe_sum,
    "tuple": tuple,
    "zip": zip,
    "True": True,
    "False": False,
    "None": None,
}
HELPERS: dict[str, Any] = {
    "months_between": months_between,
    "days_between": days_between,
    "today": today,
    "Decimal": safe_decimal,
    "ceil": safe_ceil,
    "floor": safe_floor,
    "pow": safe_pow,
}
ALLOWED_NODES = (
    ast.Module,
    ast.Expression,
    ast.Expr,
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.If,
    ast.IfExp,
    ast.For,
    ast.Break,
    ast.Continue,
    ast.Pass,
    ast.BoolOp,
    ast.BinOp,
    ast.UnaryOp,
    ast.Compare,
    ast.Call,
    ast.keyword,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Del,
    ast.Delete,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.Set,
    ast.Subscript,
    ast.Slice,
    ast.Attribute,
    ast.ListComp,
    ast.DictComp,
    ast.SetComp,
    ast.comprehension,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.And,
    ast.Or,
    ast.Not,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.USub,
    ast.UAdd,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
)
# Methods on plain data that scripts may call; anything else (e.g. str.format, which can
# reach attributes through its format spec) is refused. At run time each name is further
# limited to the receiver types listed in sandbox_limits.METHODS.
ALLOWED_ATTRIBUTES = frozenset(
    {
        "get",
        "keys",
        "values",
        "items",
        "lower",
        "upper",
        "strip",
        "startswith",
        "endswith",
        "split",
        "join",
        "replace",
        "append",
        "isoformat",
        "year",
        "month",
        "day",
        "count",
        "index",
        "quantize",
    }
)
FORBIDDEN_NAMES = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "open",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "dir",
        "type",
        "object",
        "super",
        "__import__",
        "input",
        "breakpoint",
        "help",
        "memoryview",
        "classmethod",
        "staticmethod",
        "property",
        "id",
        "hasattr",
        "format",
        "iter",
        "next",
        "exit",
        "quit",
        "bytearray",
    }
)
# f-string format specs: constant, and width/precision of at most two digits.
_FORMAT_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?\d{0,2}[,_]?(?:\.\d{1,2})?[bcdeEfFgGnosxX%]?")
_OPERATOR_SYMBOLS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}


def check(source: str, mode: str = "exec") -> ast.AST:
    """Parse and check `source`; raise SandboxViolation naming what is refused."""
    if not isinstance(source, str):
        raise SandboxViolation("code must be text")
    if len(source) > MAX_SOURCE_CHARS:
        raise SandboxViolation(f"code of {len(source)} characters is over the limit of {MAX_SOURCE_CHARS}")
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        raise SandboxViolation(f"syntax error at line {exc.lineno}: {exc.msg}") from None
    except (ValueError, MemoryError, RecursionError):
        raise SandboxViolation("code is nested too deeply or cannot be read") from None
    _check_nesting(tree)
    for node in ast.walk(tree):
        _check_node(node)
    return tree


def _check_nesting(tree: ast.AST) -> None:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            raise SandboxViolation(f"code is nested more than {MAX_NESTING} levels deep")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_node(node: ast.AST) -> None:
    line = getattr(node, "lineno", "?")
    if not isinstance(node, ALLOWED_NODES):
        raise SandboxViolation(f"{type(node).__name__} is not allowed (line {line})")
    if isinstance(node, ast.Name) and (node.id.startswith("_") or node.id in FORBIDDEN_NAMES):
        raise SandboxViolation(f"name '{node.id}' is not allowed")
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("_") or node.attr not in ALLOWED_ATTRIBUTES:
            raise SandboxViolation(f"attribute '{node.attr}' is not allowed")
        if not isinstance(node.ctx, ast.Load):
            raise SandboxViolation(f"assigning or deleting attribute '{node.attr}' is not allowed (line {line})")
    if isinstance(node, ast.keyword) and node.arg is not None and node.arg.startswith("_"):
        raise SandboxViolation(f"keyword '{node.arg}' is not allowed")
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (str, bytes)) and (
            "__" in node.value if isinstance(node.value, str) else b"__" in node.value
        ):
            raise SandboxViolation("string constants containing '__' are not allowed")
        if isinstance(node.value, int) and node.value.bit_length() > MAX_INT_BITS:
            raise SandboxViolation(f"integer constant is over the limit of {MAX_INT_BITS} bits")
    if isinstance(node, ast.comprehension) and node.is_async:
        raise SandboxViolation(f"async comprehensions are not allowed (line {line})")
    if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
        _format_spec(node)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        exp = node.right
        if not (
            isinstance(exp, ast.Constant)
            and isinstance(exp.value, (int, float))
            and abs(exp.value) <= MAX_POWER_EXPONENT
        ):
            raise SandboxViolation("'**' needs a literal exponent of at most 64; use pow()")


def _format_spec(node: ast.FormattedValue) -> str:
    """The constant format spec of an f-string field; computed or oversized specs are refused."""
    if node.format_spec is None:
        return ""
    parts = node.format_spec.values if isinstance(node.format_spec, ast.JoinedStr) else [node.format_spec]
    texts = [p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str)]
    if len(texts) != len(parts):
        raise SandboxViolation("f-string format specs must be constant")
    spec = "".join(texts)
    if not _FORMAT_SPEC.fullmatch(spec):
        raise SandboxViolation(f"f-string format spec '{spec}' is not allowed")
    return spec


def _guard(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(args), keywords=[])


def _keyed(node):
    """Dict keys and set items go through the key guard (constants and `**` unpacking need not)."""
    return node if node is None or isinstance(node, ast.Constant) else _guard("_sb_key", node)


class _Guard(ast.NodeTransformer):
    """Route checked code through the run-time guards (names starting with '_' cannot be written by scripts)."""

    def visit_Attribute(self, node):
        self.generic_visit(node)
        return ast.copy_location(_guard("_sb_attr", node.value, ast.Constant(node.attr)), node)

    def visit_BinOp(self, node):
        self.generic_visit(node)
        return ast.copy_location(
            _guard("_sb_binop", ast.Constant(_OPERATOR_SYMBOLS[type(node.op)]), node.left, node.right), node
        )

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        load = copy.deepcopy(node.target)
        load.ctx = ast.Load()
        value = _guard("_sb_binop", ast.Constant(_OPERATOR_SYMBOLS[type(node.op)]), self._sized_slice(load), node.value)
        return ast.copy_location(ast.Assign(targets=[node.target], value=value), node)

    def visit_AnnAssign(self, node):
        # annotations are never evaluated (and leave no __annotations__ behind)
        self.generic_visit(node)
        if node.value is None:
            return ast.copy_location(ast.Pass(), node)
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)

    def visit_FormattedValue(self, node):
        node.value = self.visit(node.value)
        node.value = _guard("_sb_fmt", node.value, ast.Constant(_format_spec(node)))
        return node

    def visit_Subscript(self, node):
        self.generic_visit(node)
        if not isinstance(node.slice, (ast.Slice, ast.Constant)):
            node.slice = _guard("_sb_key", node.slice)
        return self._sized_slice(node) if isinstance(node.ctx, ast.Load) else node

    def visit_Compare(self, node):
        # comparing walks both sides in C: values too large to walk quickly are refused first
        self.generic_visit(node)
        node.left = _guard("_sb_deep", node.left)
        node.comparators = [_guard("_sb_deep", c) for c in node.comparators]
        return node

    def visit_Dict(self, node):
        self.generic_visit(node)
        node.keys = [_keyed(k) for k in node.keys]
        return self._sized(node) if any(key is None for key in node.keys) else node

    def visit_Set(self, node):
        self.generic_visit(node)
        node.elts = [_keyed(e) for e in node.elts]
        return node

    def visit_DictComp(self, node):
        self.generic_visit(node)
        node.key = _keyed(node.key)
        return self._sized(node)

    def visit_SetComp(self, node):
        self.generic_visit(node)
        node.elt = _keyed(node.elt)
        return self._sized(node)

    def _sized_slice(self, node):
        return self._sized(node) if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) else node

    @staticmethod
    def _sized(node):
        return ast.copy_location(_guard("_sb_size", node), node)

    def _sized_result(self, node):
        self.generic_visit(node)
        return self._sized(node)

    visit_Call = visit_ListComp = visit_JoinedStr = _sized_result


_code_cache: dict[tuple[str, str], Any] = {}


def _compile(source: str, mode: str):
    key = (source, mode)
    code = _code_cache.get(key)
    if code is None:
        tree = ast.fix_missing_locations(_Guard().visit(check(source, mode)))
        code = compile(tree, SOURCE_NAME, mode)
        if len(_code_cache) > 4096:
            _code_cache.clear()
        _code_cache[key] = code
    return code


def _run(code, namespace: dict, is_eval: bool):
    budget = Budget()
    namespace["__builtins__"] = SAFE_BUILTINS
    namespace.update(budget.guards)
    previous = sys.gettrace()
    with budget, decimal.localcontext(DECIMALS):
        sys.settrace(budget.trace)
        try:
            return eval(code, namespace) if is_eval else exec(code, namespace)
        finally:
            sys.settrace(previous)


def _isolated(values: dict) -> dict:
    """Copies of the mutable task data, so a script that fails has changed nothing in place."""
    return {k: copy.deepcopy(v) if type(v) in _MUTABLE else v for k, v in values.items()}


_MUTABLE = (list, dict, set, OrderedDict)


class SandboxEnvironment(TaskDataEnvironment):
    """TaskDataEnvironment that checks and budgets every expression and script."""

    def __init__(self):
        super().__init__(dict(HELPERS))

    def evaluate(self, expression, context, external_context=None):
        namespace = {**self.globals, **_isolated(external_context or {}), **_isolated(context)}
        result = _run(_compile(expression.strip(), "eval"), namespace, True)
        check_data({"the result": result})
        return result

    def execute(self, script, context, external_context=None):
        external = external_context or {}
        self.check_for_overwrite(context, external)
        code = _compile(script, "exec")
        namespace = {**self.globals, **_isolated(external), **_isolated(context)}
        _run(code, namespace, False)
        updates = {}
        for key, value in namespace.items():
            if key.startswith("_") or key in self.globals or key in external or callable(value):
                continue
            updates[key] = value
        check_data(updates)
        # only now, with every value checked, does the task data change: nothing is half-applied
        for key in [k for k in context if k not in namespace]:
            del context[key]
        context.update(updates)
        return True


class SandboxScriptEngine(PythonScriptEngine):
    """The sandboxed script engine; service tasks go to `services` (engine.adapters.service_tasks.HttpServices,
    given by the orchestrator: anything with `call_task(task, operation_name, operation_params) -> str`)."""

    def __init__(self, services=None):
        super().__init__(environment=SandboxEnvironment())
        self.services = services

    def call_service(self, task, operation_name=None, operation_params=None, **kwargs):
        if self.services is None:
            raise WorkflowTaskException("service task failed: service tasks are not available here", task=task)
        return self.services.call_task(task, operation_name, operation_params)


def script_engine(services=None) -> PythonScriptEngine:
    """A SpiffWorkflow script engine whose environment is the sandbox."""
    return SandboxScriptEngine(services)
