"""FEEL, the subset DMN decision tables are written in (Camunda Modeler, bpmn.io), read and evaluated with FEEL's
meaning: never handed to Python.

What is read (anything else is a `FeelError` naming what and where, so a deploy can refuse the cell):

- unary tests (input entries): `-` (any input); a comma list of tests, any of which matches (`"electronic",
  "sensor"`); `not(<tests>)`; comparisons with an endpoint (`< 10`, `>= 3`, `<= warranty_months`); ranges with
  open or closed ends (`[1..5]`, `]1..5[`, `(1..5)`, `[0..0.5)`); a value the input must equal (a number,
  a string, `true`/`false`, `null`, `date("2024-01-31")`, a variable or a path such as `unit.category`); a
  boolean expression over the input `?` (`? >= 0 and ? < 0.5`);
- expressions (input expressions and output entries): literals, variables and paths, `+ - * /` on numbers,
  `+` on strings, comparisons `= != < <= > >=`, `and`, `or`, parentheses, and the functions `date(text)`,
  `string(value)`, `number(text)` and `not(boolean)`.

FEEL's meaning: numbers are decimals (`0.1 + 0.2 = 0.3`), `true` is not `1`, a variable that is not set is
`null`, comparing values of different types is `null` (so a test on them does not match), `and`/`or` are
three-valued, a division by zero is `null`. Nothing here calls `eval`; the evaluator walks the parsed tree.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MAX_CELL_CHARS = 2_000  # a cell of a decision table; Camunda's are a few dozen characters
MAX_DEPTH = 32  # nesting of parentheses and operators
MAX_OPERATORS = 64  # binary operators in one cell (the evaluator recurses through them)
MAX_TEXT = 100_000  # characters of a string an expression builds
NUMBERS = decimal.Context(
    prec=34,  # FEEL's numbers are IEEE 754-2008 decimal128: 34 digits
    Emax=6144,
    Emin=-6143,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
FUNCTIONS = ("date", "string", "number", "not")


class FeelError(Exception):
    """A text that is not FEEL of the supported subset (`column`: 1-based place in the text, when known)."""

    def __init__(self, message: str, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.column = column

    def __str__(self) -> str:
        return self.message if self.column is None else f"{self.message} (at character {self.column})"


# ---------------------------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Node:
    kind: str  # literal, name, input, path, neg, binary, compare, and, or, call, list
    value: Any = None  # literal value, name, operator, function name
    args: tuple = ()


@dataclass(frozen=True)
class Test:
    """One positive unary test: kind 'any', 'compare' (op, endpoint), 'range' (low, high, open ends),
    'equal' (value), 'boolean' (an expression over `?`)."""

    kind: str
    op: str = ""
    args: tuple = ()
    low_open: bool = False
    high_open: bool = False


@dataclass(frozen=True)
class UnaryTests:
    tests: tuple[Test, ...]
    negated: bool = False
    any: bool = False
    text: str = ""


# ------------------------------------------------------------------------------------------- the tokens

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?|\.\d+)
  | (?P<string>")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\.\.|<=|>=|!=|[<>=+\-*/(),.\[\]?])
    """,
    re.VERBOSE,
)
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "'": "'"}
KEYWORDS = {"true": True, "false": False, "null": None}
_PYTHONISMS = {
    "True": "FEEL's booleans are written true and false",
    "False": "FEEL's booleans are written true and false",
    "None": "FEEL writes null",
    "in": 'FEEL lists the values a test accepts with commas: "a", "b"',
    "is": "compare with = or a test",
    "f": "FEEL has no f-strings: join strings with + and string(...)",
}


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, op, end
    text: str
    column: int
    value: Any = None


def tokens(text: str) -> list[Token]:
    if len(text) > MAX_CELL_CHARS:
        raise FeelError(f"the text is {len(text)} characters; a cell may have at most {MAX_CELL_CHARS}")
    out: list[Token] = []
    i = 0
    while i < len(text):
        if text[i] == "'":
            raise FeelError('FEEL strings are in double quotes ("..."), not single quotes', i + 1)
        if text[i] == '"':
            literal, i = _string(text, i)
            out.append(Token("string", literal, i, literal))
            continue
        match = _TOKEN.match(text, i)
        if match is None:
            raise FeelError(f"'{text[i]}' is not part of the FEEL this product reads", i + 1)
        kind = match.lastgroup or ""
        if kind != "space":
            word = match.group()
            out.append(Token(kind, word, i + 1, Decimal(word) if kind == "number" else None))
        i = match.end()
    out.append(Token("end", "", len(text) + 1))
    return out


def _string(text: str, start: int) -> tuple[str, int]:
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return "".join(chars), i + 1
        if c == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                chars.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt not in _ESCAPES:
                raise FeelError(f"unknown escape '\\{nxt}' in a string", i + 1)
            chars.append(_ESCAPES[nxt])
            i += 2
            continue
        chars.append(c)
        i += 1
    raise FeelError('a string is not closed (a " is missing)', start + 1)


# ------------------------------------------------------------------------------------------- the parser


class _Parser:
    def __init__(self, text: str, allow_input: bool):
        self.text = text
        self.toks = tokens(text)
        self.i = 0
        self.allow_input = allow_input
        self.depth = 0
        self.operators = 0
        self.uses_input = False

    # helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def at(self, *texts: str) -> bool:
        return self.tok.kind in ("op", "name") and self.tok.text in texts

    def take(self) -> Token:
        tok = self.tok
        self.i += 1
        return tok

    def expect(self, text: str, what: str) -> Token:
        if not self.at(text):
            raise self.error(f"expected {what}")
        return self.take()

    def error(self, message: str) -> FeelError:
        tok = self.tok
        found = "the end of the text" if tok.kind == "end" else f"'{tok.text}'"
        hint = _PYTHONISMS.get(tok.text) if tok.kind == "name" else None
        if tok.kind == "op" and tok.text == "=" and self.toks[self.i + 1].text == "=":
            hint = "FEEL compares with a single ="
        return FeelError(f"{message}, found {found}" + (f": {hint}" if hint else ""), tok.column)

    def end(self) -> None:
        if self.tok.kind != "end":
            raise self.error("expected the end of the cell")

    def operator(self) -> None:
        self.operators += 1
        if self.operators > MAX_OPERATORS:
            raise FeelError(f"the cell has more than {MAX_OPERATORS} operators", self.tok.column)

    def nest(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FeelError(f"the expression is nested more than {MAX_DEPTH} levels deep", self.tok.column)

    # expressions
    def expression(self) -> Node:
        self.nest()
        node = self.conjunction()
        while self.at("or"):
            self.take()
            self.operator()
            node = Node("or", None, (node, self.conjunction()))
        self.depth -= 1
        return node

    def conjunction(self) -> Node:
        node = self.comparison()
        while self.at("and"):
            self.take()
            self.operator()
            node = Node("and", None, (node, self.comparison()))
        return node

    def comparison(self) -> Node:
        node = self.additive()
        if self.at("=", "!=", "<", "<=", ">", ">="):
            op = self.take().text
            if self.at("="):
                raise self.error("expected a value after the comparison")
            node = Node("compare", op, (node, self.additive()))
            if self.at("=", "!=", "<", "<=", ">", ">="):
                raise self.error("comparisons do not chain in FEEL; join them with and")
        return node

    def additive(self) -> Node:
        node = self.multiplicative()
        while self.at("+", "-"):
            op = self.take().text
            self.operator()
            node = Node("binary", op, (node, self.multiplicative()))
        return node

    def multiplicative(self) -> Node:
        node = self.unary()
        while self.at("*", "/"):
            op = self.take().text
            self.operator()
            if self.at("*"):
                raise self.error("FEEL's power ** is not supported")
            node = Node("binary", op, (node, self.unary()))
        return node

    def unary(self) -> Node:
        if self.at("-"):
            self.take()
            self.nest()
            node = Node("neg", None, (self.unary(),))
            self.depth -= 1
            return node
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while self.at("."):
            self.take()
            self.operator()
            if self.tok.kind != "name" or self.tok.text in KEYWORDS:
                raise self.error("expected a name after '.'")
            node = Node("path", self.take().text, (node,))
        return node

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            self.take()
            return Node("literal", tok.value)
        if tok.kind == "string":
            self.take()
            return Node("literal", tok.value)
        if tok.kind == "op" and tok.text == "?":
            if not self.allow_input:
                raise self.error("'?' (the input) is only for the input entries of a rule")
            self.take()
            self.uses_input = True
            return Node("input")
        if tok.kind == "op" and tok.text == "(":
            self.take()
            node = self.expression()
            self.expect(")", "')'")
            return node
        if tok.kind == "name":
            if tok.text in KEYWORDS:
                self.take()
                return Node("literal", KEYWORDS[tok.text])
            if tok.text in ("and", "or"):
                raise self.error("expected a value")
            if tok.text in _PYTHONISMS and tok.text != "f":
                raise self.error("expected a value")
            self.take()
            if self.at("("):
                return self.call(tok)
            if self.tok.kind == "string" and tok.text == "f":
                raise FeelError(_PYTHONISMS["f"], tok.column)
            return Node("name", tok.text)
        raise self.error("expected a value")

    def call(self, name: Token) -> Node:
        if name.text not in FUNCTIONS:
            raise FeelError(f"function '{name.text}' is not supported (supported: {', '.join(FUNCTIONS)})", name.column)
        self.take()
        args = [] if self.at(")") else [self.expression()]
        while self.at(","):
            self.take()
            args.append(self.expression())
        self.expect(")", "')' after the function's arguments")
        if len(args) != 1:
            raise FeelError(f"{name.text}() takes one argument, not {len(args)}", name.column)
        if name.text == "date" and args[0].kind == "literal" and isinstance(args[0].value, str):
            _date(args[0].value, strict=True)  # a literal date is checked now
        return Node("call", name.text, tuple(args))

    # unary tests
    def unary_tests(self) -> UnaryTests:
        if self.at("-") and self.toks[self.i + 1].kind == "end":
            return UnaryTests((), any=True, text=self.text)
        if self.at("not") and self.toks[self.i + 1].text == "(":
            self.take()
            self.take()
            tests = self.positive_tests()
            self.expect(")", "')' closing not(")
            self.end()
            return UnaryTests(tests, negated=True, text=self.text)
        tests = self.positive_tests()
        self.end()
        return UnaryTests(tests, text=self.text)

    def positive_tests(self) -> tuple[Test, ...]:
        tests = [self.positive_test()]
        while self.at(","):
            self.take()
            tests.append(self.positive_test())
        return tuple(tests)

    def positive_test(self) -> Test:
        if self.at("<", "<=", ">", ">="):
            op = self.take().text
            return Test("compare", op, (self.endpoint(),))
        if self.at("=", "!="):
            raise self.error(
                "a cell compares with the input without '='; write the value itself (\"a\"), or not(\"a\") for '!='"
            )
        if self.at("[", "]", "("):
            start = self.i
            opener = self.take().text
            low = self.endpoint()
            if self.at(".."):
                self.take()
                high = self.endpoint()
                if not self.at("]", "[", ")"):
                    raise self.error("expected ']', '[' or ')' closing the range")
                closer = self.take().text
                return Test("range", "", (low, high), low_open=opener in "](", high_open=closer in "[)")
            if opener != "(":
                raise self.error("expected '..' in the range")
            self.i = start  # a parenthesised expression after all
        self.uses_input = False
        node = self.expression()
        if not (self.tok.kind == "end" or self.at(",", ")")):
            raise self.error("expected ',' or the end of the test")
        if self.uses_input:
            if node.kind not in ("compare", "and", "or") and not (node.kind == "call" and node.value == "not"):
                raise FeelError("an expression over '?' must be a comparison (such as ? > 5)", 1)
            return Test("boolean", "", (node,))
        if node.kind in ("compare", "and", "or"):
            raise FeelError(
                "a comparison in an input entry compares with the input through '?' (? > 5) "
                "or starts with the operator (> 5)",
                1,
            )
        return Test("equal", "", (node,))

    def endpoint(self) -> Node:
        self.uses_input = False
        node = self.additive()
        if self.uses_input:
            raise FeelError("'?' cannot be a range's or comparison's endpoint", 1)
        return node


def parse_expression(text: str) -> Node | None:
    """An input expression or an output entry; None for an empty one (an output of null)."""
    if not (text or "").strip():
        return None
    parser = _Parser(text, allow_input=False)
    node = parser.expression()
    parser.end()
    return node


def parse_unary_tests(text: str | None) -> UnaryTests:
    """An input entry; empty text is `-` (any input)."""
    if not (text or "").strip():
        return UnaryTests((), any=True, text="-")
    return _Parser(text or "", allow_input=True).unary_tests()


# ---------------------------------------------------------------------------------------- the meaning


class FeelRuntimeError(Exception):
    """A value the evaluator cannot take (a Python object that is not data)."""


def value_of(raw: Any) -> Any:
    """Task data as FEEL sees it: numbers become decimals (bool stays bool), tuples lists."""
    if raw is None or isinstance(raw, (bool, str, Decimal, _dt.date)):
        return raw
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        return Decimal(repr(raw)) if raw == raw and raw not in (float("inf"), float("-inf")) else None
    if isinstance(raw, (list, tuple)):
        return [value_of(v) for v in raw]
    if isinstance(raw, dict):
        return raw
    raise FeelRuntimeError(f"a value of type {type(raw).__name__} is not FEEL data")


def to_data(value: Any) -> Any:
    """A FEEL value as task data: a decimal that is whole is an int, else a float; a date is YYYY-MM-DD."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and abs(value) < Decimal(2) ** 63:
            return int(value)
        number = float(value)
        return number if math.isfinite(number) else None  # beyond what task data (JSON) holds: null
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [to_data(v) for v in value]
    return value


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, _dt.date):
        return "date"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "context"
    return "null"


def evaluate(node: Node | None, data: dict, input_value: Any = None) -> Any:
    if node is None:
        return None
    kind = node.kind
    if kind == "literal":
        return node.value
    if kind == "name":
        return value_of(data.get(node.value)) if isinstance(data, dict) else None
    if kind == "input":
        return input_value
    if kind == "path":
        base = evaluate(node.args[0], data, input_value)
        return value_of(base.get(node.value)) if isinstance(base, dict) else None
    if kind == "neg":
        operand = evaluate(node.args[0], data, input_value)
        return _arith("-", Decimal(0), operand) if isinstance(operand, Decimal) else None
    if kind == "binary":
        return _arith(node.value, evaluate(node.args[0], data, input_value), evaluate(node.args[1], data, input_value))
    if kind == "compare":
        left = evaluate(node.args[0], data, input_value)
        return compare(node.value, left, evaluate(node.args[1], data, input_value))
    if kind in ("and", "or"):
        left = evaluate(node.args[0], data, input_value)
        right = evaluate(node.args[1], data, input_value)
        return _logic(kind, left, right)
    if kind == "call":
        return _call(node.value, evaluate(node.args[0], data, input_value))
    raise FeelRuntimeError(f"unknown node {kind}")  # pragma: no cover (the parser builds no other)


def _arith(op: str, left: Any, right: Any) -> Any:
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        joined = left + right
        return joined if len(joined) <= MAX_TEXT else None
    if _type(left) != "number" or _type(right) != "number":
        return None
    try:
        with decimal.localcontext(NUMBERS):
            if op == "+":
                return left + right
            if op == "-":
                return left - right
            if op == "*":
                return left * right
            return left / right
    except ArithmeticError:  # a division by zero, an overflow: null, as FEEL says
        return None


def total(values: list[Decimal]) -> Decimal | None:
    """The sum of decimals (COLLECT SUM), or null when it overflows."""
    try:
        with decimal.localcontext(NUMBERS):
            return sum(values, Decimal(0))
    except ArithmeticError:
        return None


def compare(op: str, left: Any, right: Any) -> bool | None:
    """FEEL's comparison: values of different types (or null, except null = null) compare to null."""
    if op in ("=", "!="):
        if left is None or right is None:
            same = left is None and right is None
        elif _type(left) != _type(right):
            return None
        else:
            same = left == right
        return same if op == "=" else not same
    kind = _type(left)
    if kind != _type(right) or kind not in ("number", "string", "date"):
        return None
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


def _logic(kind: str, left: Any, right: Any) -> bool | None:
    left = left if isinstance(left, bool) else None
    right = right if isinstance(right, bool) else None
    if kind == "and":
        if left is False or right is False:
            return False
        return True if left is True and right is True else None
    if left is True or right is True:
        return True
    return False if left is False and right is False else None


def _call(name: str, arg: Any) -> Any:
    if name == "not":
        return (not arg) if isinstance(arg, bool) else None
    if name == "date":
        if isinstance(arg, _dt.datetime):
            return arg.date()
        if isinstance(arg, _dt.date):
            return arg
        return _date(arg, strict=False) if isinstance(arg, str) else None
    if name == "string":
        return None if arg is None else _string_of(arg)
    if name == "number":
        if isinstance(arg, Decimal):
            return arg
        if isinstance(arg, str) and re.fullmatch(r"-?(\d+(\.\d+)?|\.\d+)", arg.strip()):
            with decimal.localcontext(NUMBERS):
                return +Decimal(arg.strip())
        return None
    raise FeelRuntimeError(f"unknown function {name}")  # pragma: no cover


def _date(text: str, strict: bool) -> _dt.date | None:
    if re.fullmatch(r"-?\d{4}-\d{2}-\d{2}", text):
        try:
            return _dt.date.fromisoformat(text)
        except ValueError:
            pass
    if strict:
        raise FeelError(f'date("{text}") is not a date: FEEL dates are written date("YYYY-MM-DD")')
    return None


def _string_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f") if value != 0 else "0"
        return text
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    return str(to_data(value))


def matches(tests: UnaryTests, input_value: Any, data: dict) -> bool:
    """Whether the input entry `tests` accepts `input_value` (a FEEL value); null is no."""
    if tests.any:
        return True
    result: bool | None = False
    for test in tests.tests:
        outcome = _test(test, input_value, data)
        if outcome is True:
            result = True
            break
        if outcome is None:
            result = None
    if tests.negated:
        return result is False
    return result is True


def _test(test: Test, value: Any, data: dict) -> bool | None:
    if test.kind == "compare":
        return compare(test.op, value, evaluate(test.args[0], data, value))
    if test.kind == "range":
        low = evaluate(test.args[0], data, value)
        high = evaluate(test.args[1], data, value)
        above = compare(">" if test.low_open else ">=", value, low)
        below = compare("<" if test.high_open else "<=", value, high)
        return _logic("and", above, below)
    if test.kind == "boolean":
        outcome = evaluate(test.args[0], data, value)
        return outcome if isinstance(outcome, bool) else None
    return compare("=", value, evaluate(test.args[0], data, value))
