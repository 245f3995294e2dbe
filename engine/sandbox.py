"""The script environment BPMN may use: AST-whitelisted Python, no imports, no dunders.

SpiffWorkflow evaluates conditions, scripts and DMN cells with plain eval/exec. Every piece of
code goes through `check()` first (at deploy time where possible, and again before it runs),
which only admits a small set of node types and names; the code then runs with a tiny builtins
table and a step budget enforced by a trace function.
"""
from __future__ import annotations

import ast
import datetime as _dt
import decimal
import math
import sys
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

MAX_STEPS = 20_000
MAX_POWER_EXPONENT = 64
MAX_SEQUENCE_REPEAT = 10_000


class SandboxViolation(Exception):
    """Code uses something the sandbox refuses."""


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
    return _dt.date.fromisoformat(str(value)[:10])


def _safe_pow(base, exp, mod=None):
    if isinstance(exp, (int, float)) and abs(exp) > MAX_POWER_EXPONENT:
        raise SandboxViolation(f"exponent {exp} is too large")
    return pow(base, exp, mod) if mod is not None else base ** exp


def today() -> str:
    return _dt.datetime.now(_dt.timezone.utc).date().isoformat()


SAFE_BUILTINS: dict[str, Any] = {
    "abs": abs, "all": all, "any": any, "bool": bool, "dict": dict, "enumerate": enumerate,
    "float": float, "int": int, "len": len, "list": list, "max": max, "min": min, "range": range,
    "round": round, "sorted": sorted, "str": str, "sum": sum, "tuple": tuple, "zip": zip,
    "True": True, "False": False, "None": None,
}
HELPERS: dict[str, Any] = {
    "months_between": months_between,
    "days_between": days_between,
    "today": today,
    "Decimal": decimal.Decimal,
    "ceil": math.ceil,
    "floor": math.floor,
    "pow": _safe_pow,
}
ALLOWED_NODES = (
    ast.Module, ast.Expression, ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.If, ast.IfExp,
    ast.For, ast.Break, ast.Continue, ast.Pass, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare,
    ast.Call, ast.keyword, ast.Constant, ast.Name, ast.Load, ast.Store, ast.Del, ast.Delete,
    ast.List, ast.Tuple, ast.Dict, ast.Set, ast.Subscript, ast.Slice, ast.Attribute,
    ast.ListComp, ast.DictComp, ast.SetComp, ast.comprehension, ast.JoinedStr, ast.FormattedValue,
    ast.And, ast.Or, ast.Not, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.USub, ast.UAdd, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Is, ast.IsNot,
)
# Methods on plain data that scripts may call; anything else (e.g. str.format, which can
# reach attributes through its format spec) is refused.
ALLOWED_ATTRIBUTES = frozenset({
    "get", "keys", "values", "items", "lower", "upper", "strip", "startswith", "endswith",
    "split", "join", "replace", "append", "isoformat", "year", "month", "day", "count", "index",
    "quantize",
})
FORBIDDEN_NAMES = frozenset({
    "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "globals", "locals", "vars",
    "dir", "type", "object", "super", "__import__", "input", "breakpoint", "help", "memoryview",
    "classmethod", "staticmethod", "property", "id", "hasattr",
})


def check(source: str, mode: str = "exec") -> ast.AST:
    """Parse and check `source`; raise SandboxViolation naming what is refused."""
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        raise SandboxViolation(f"syntax error at line {exc.lineno}: {exc.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, ALLOWED_NODES):
            raise SandboxViolation(f"{type(node).__name__} is not allowed (line {getattr(node, 'lineno', '?')})")
        if isinstance(node, ast.Name) and (node.id.startswith("_") or node.id in FORBIDDEN_NAMES):
            raise SandboxViolation(f"name '{node.id}' is not allowed")
        if isinstance(node, ast.Attribute) and (node.attr.startswith("_") or node.attr not in ALLOWED_ATTRIBUTES):
            raise SandboxViolation(f"attribute '{node.attr}' is not allowed")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value:
            raise SandboxViolation("string constants containing '__' are not allowed")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            node_exp = node.right
            if not (isinstance(node_exp, ast.Constant) and isinstance(node_exp.value, (int, float))
                    and abs(node_exp.value) <= MAX_POWER_EXPONENT):
                raise SandboxViolation("'**' needs a literal exponent of at most 64; use pow()")
    return tree


class _StepBudget:
    def __init__(self, limit: int):
        self.left = limit

    def __call__(self, frame, event, arg):
        self.left -= 1
        if self.left < 0:
            raise SandboxViolation(f"script exceeded {MAX_STEPS} steps")
        return self


_code_cache: dict[tuple[str, str], Any] = {}


def _compile(source: str, mode: str):
    key = (source, mode)
    code = _code_cache.get(key)
    if code is None:
        code = compile(check(source, mode), "<bpmn>", mode)
        if len(_code_cache) > 4096:
            _code_cache.clear()
        _code_cache[key] = code
    return code


def _run(code, namespace: dict, is_eval: bool):
    namespace["__builtins__"] = SAFE_BUILTINS
    budget = _StepBudget(MAX_STEPS)
    previous = sys.gettrace()
    sys.settrace(budget)
    try:
        return eval(code, namespace) if is_eval else exec(code, namespace)
    finally:
        sys.settrace(previous)


class SandboxEnvironment(TaskDataEnvironment):
    """TaskDataEnvironment that checks and budgets every expression and script."""

    def __init__(self):
        super().__init__(dict(HELPERS))

    def evaluate(self, expression, context, external_context=None):
        namespace = {**self.globals, **(external_context or {}), **context}
        return _run(_compile(expression.strip(), "eval"), namespace, True)

    def execute(self, script, context, external_context=None):
        self.check_for_overwrite(context, external_context or {})
        code = _compile(script, "exec")
        namespace = {**self.globals, **(external_context or {}), **context}
        _run(code, namespace, False)
        for key in list(namespace):
            if key == "__builtins__" or key in self.globals or (external_context and key in external_context):
                continue
            if callable(namespace[key]):
                continue
            context[key] = namespace[key]
        for key in [k for k in context if k not in namespace]:
            del context[key]
        return True


def script_engine() -> PythonScriptEngine:
    """A SpiffWorkflow script engine whose environment is the sandbox."""
    return PythonScriptEngine(environment=SandboxEnvironment())
