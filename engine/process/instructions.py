"""Instructions for the person working a task: `spiffworkflow:instructionsForEndUser`, as SpiffArena has it.

Markdown with Jinja over the task's data (`Check the {{ product_model }} for {{ fault_category }}.`). Jinja runs in
its immutable sandbox with a time and size budget (process owners write these texts); the Markdown is rendered by
markdown-it with raw HTML off (a `<script>` in the text or in the data is shown as text), images off and only
safe link schemes. A template that cannot be filled in (a syntax error in a stored version, a variable the task
data does not have) never fails the page: the raw text is shown with a note saying why. A deploy refuses a template
that does not compile, naming file, element and line.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markdown_it import MarkdownIt

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
TAG = "instructionsForEndUser"
MAX_SOURCE = 10_000  # characters of one task's instructions as written
MAX_OUTPUT = 50_000  # characters once filled in
MAX_SECONDS = 0.5
# filters and text methods that could build a value far larger than their input are not offered
_UNSAFE_FILTERS = (
    "center",
    "format",
    "indent",
    "wordwrap",
    "filesizeformat",
    "pprint",
    "xmlattr",
    "urlize",
    "replace",
)
_TEXT_METHODS = frozenset(
    {"lower", "upper", "title", "capitalize", "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "count"}
)


class _Environment(ImmutableSandboxedEnvironment):
    """Jinja's sandbox, with the operators and filters that could build huge values refused."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def is_safe_attribute(self, obj, attr, value) -> bool:
        if isinstance(obj, str) and attr not in _TEXT_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value):
        if getattr(value, "__name__", None) in ("format", "format_map") and isinstance(
            getattr(value, "__self__", None), str
        ):
            raise SecurityError("str.format is not allowed in instructions")
        return super().wrap_str_format(value)

    def call_binop(self, context, operator, left, right):
        if operator == "%" and isinstance(left, str):
            raise SecurityError("'%' formatting is not allowed in instructions")
        if operator == "**" and not (isinstance(right, int) and abs(right) <= 64 and abs(left) < 10**6):
            raise SecurityError("'**' is limited to small numbers in instructions")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_OUTPUT:
                    raise SecurityError(f"a repeated value of more than {MAX_OUTPUT} items is not allowed")
        if operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            if len(left) + len(right) > MAX_OUTPUT:
                raise SecurityError(f"a joined value of more than {MAX_OUTPUT} items is not allowed")
        return super().call_binop(context, operator, left, right)


_ENV = _Environment(autoescape=False, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
for _name in _UNSAFE_FILTERS:
    _ENV.filters.pop(_name, None)
for _name in ("lipsum", "cycler", "joiner", "namespace"):  # no accumulator a loop could grow
    _ENV.globals.pop(_name, None)


def _join(value, separator: str = "", attribute=None) -> str:
    """Jinja's join, refusing a result over MAX_OUTPUT characters before building it."""
    items = [str(_ENV.getattr(v, attribute) if attribute is not None else v) for v in value]
    if sum(map(len, items)) + len(str(separator)) * max(len(items) - 1, 0) > MAX_OUTPUT:
        raise SecurityError(f"a joined value of more than {MAX_OUTPUT} characters is not allowed")
    return str(separator).join(items)


_ENV.filters["join"] = _join
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).disable("image")


@dataclass(frozen=True)
class Rendered:
    text: str  # the Markdown, filled in (or the raw text when it could not be)
    html: str  # safe HTML of `text`
    error: str | None = None  # why the raw text is shown


def read(trees: dict) -> dict[tuple[str, str], str]:
    """{(file, element id): instructions} of every element with non-blank instructions."""
    found = {}
    for name, root in trees.items():
        for el in root.iter(f"{{{SPIFF}}}{TAG}"):
            text = (el.text or "").strip()
            owner = el.getparent().getparent() if el.getparent() is not None else None
            if text and owner is not None and owner.get("id"):
                found[(name, owner.get("id"))] = text
    return found


def deploy_errors(bpmn_trees: dict) -> list[dict]:
    """A template that does not compile or is too long, by file, element and line."""
    errors = []
    for name, root in sorted(bpmn_trees.items()):
        for el in root.iter(f"{{{SPIFF}}}{TAG}"):
            text = el.text or ""
            owner = el.getparent().getparent() if el.getparent() is not None else None
            element = owner.get("id") if owner is not None else None
            if len(text) > MAX_SOURCE:
                message = f"instructions of {len(text)} characters; the limit is {MAX_SOURCE}"
                errors.append({"file": name, "element": element, "line": el.sourceline, "message": message})
                continue
            try:
                _ENV.parse(text)
            except TemplateSyntaxError as exc:
                line = el.sourceline + (exc.lineno or 1) - 1 if el.sourceline else None
                errors.append(
                    {
                        "file": name,
                        "element": element,
                        "line": line,
                        "message": f"instructions: Jinja syntax error: {exc.message}",
                    }
                )
    return errors


def render(source: str, data: dict) -> Rendered:
    """Fill the instructions in with the task data and render the Markdown safely; never raises."""
    try:
        text = _fill(source, data)
        error = None
    except Exception as exc:  # noqa: BLE001 (whatever the text does, the page shows)
        text, error = source, f"the instructions could not be filled in with this task's data: {_why(exc)}"
    return Rendered(text, _MARKDOWN.render(text), error)


class _TooMuch(Exception):
    pass


def _why(exc: BaseException) -> str:
    if isinstance(exc, TemplateSyntaxError):
        return f"syntax error on line {exc.lineno}: {exc.message}"
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return message[:300]


def _fill(source: str, data: dict) -> str:
    if len(source) > MAX_SOURCE:
        raise _TooMuch(f"the text is over {MAX_SOURCE} characters")
    template = _ENV.from_string(source)
    deadline = time.monotonic() + MAX_SECONDS

    def watch(frame, event, arg):
        if time.monotonic() > deadline:
            raise _TooMuch(f"filling them in took longer than {MAX_SECONDS} seconds")
        return None

    previous = sys.gettrace()
    parts, size = [], 0
    sys.settrace(watch)
    try:
        for part in template.generate(**{k: v for k, v in data.items() if isinstance(k, str)}):
            size += len(part)
            if size > MAX_OUTPUT:
                raise _TooMuch(f"the filled-in text is over {MAX_OUTPUT} characters")
            parts.append(part)
    finally:
        sys.settrace(previous)
    return "".join(parts)
