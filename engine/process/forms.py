"""JSON Schema task forms: validate and normalise submitted data before it enters a workflow.

A form never fetches anything. Its `$ref`s may only point inside it (`#` or `#/...`, a JSON pointer into the
form): `reference_errors` lists every other one, and a deploy refuses the form naming the file and the pointer
(engine.process.definitions). Validation resolves references through `LOCAL_ONLY`, a registry that retrieves
nothing (jsonschema's default would fetch an http:// or file:// `$ref` while checking a submission), so even a
form stored before that check cannot make the server fetch a URL or read a file.

A form's `pattern`s are matched by RE2 (google-re2), which runs in time linear in the value: a pattern that
would backtrack for minutes in Python's `re` (`^(a+)+$` on 34 characters) takes microseconds. A deploy refuses
a pattern RE2 cannot run (a backreference, a lookaround) and `patternProperties` (jsonschema matches its keys
with `re` in several keywords; `propertyNames` with a `pattern` says the same through RE2), naming the file and
the pointer (`pattern_errors`). A stored form whose pattern RE2 refuses cannot be checked: its submissions are
refused until a corrected form is deployed.
"""

from __future__ import annotations

import copy
import functools
import math
import urllib.parse
from collections.abc import Iterator
from typing import Any

import re2
from jsonschema import Draft202012Validator, ValidationError, validators
from referencing import Registry
from referencing.exceptions import NoSuchResource, Unresolvable

from engine.errors import InvalidFormData, text_refusal
from engine.sandbox.limits import RESERVED_KEYS  # task-data keys SpiffWorkflow cannot store

# SpiffWorkflow's serializer treats a dict key named `typename` as a type tag.


REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
_DATA_KEYWORDS = {"enum", "const", "default", "examples"}  # their values are data, never schemas
_SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}  # name -> schema


def _retrieve_nothing(uri: str) -> Any:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


LOCAL_ONLY: Registry = Registry(retrieve=_retrieve_nothing)  # type: ignore[call-arg]


class PatternRefused(ValueError):
    """A form's pattern that RE2 cannot run (a form stored before patterns were checked at deploy)."""


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported to the process owner, not to stderr


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str):
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        why = exc.args[0] if exc.args else "invalid"
        raise PatternRefused(f"{pattern!r}: {why.decode() if isinstance(why, bytes) else why}") from None


def _pattern(validator, pattern, instance, schema) -> Iterator[ValidationError]:
    """jsonschema's `pattern`, matched by RE2 (linear time) instead of `re` (backtracking)."""
    if validator.is_type(instance, "string") and _compiled(pattern).search(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


FormValidator = validators.extend(Draft202012Validator, {"pattern": _pattern})


def validator(schema: dict) -> Draft202012Validator:
    """A validator for a form that resolves references inside the form only (any other is unresolvable) and
    matches patterns with RE2."""
    return FormValidator(schema, registry=LOCAL_ONLY)


def pattern_errors(schema: Any) -> list[tuple[str, str]]:
    """(JSON pointer, why) for each `pattern` RE2 cannot run and each `patternProperties` in a form."""
    found = []
    for pointer, key, value in _keywords(schema, "", schema):
        if key == "pattern" and isinstance(value, str):
            try:
                _compiled(value)
            except PatternRefused as exc:
                found.append(
                    (
                        pointer,
                        f"pattern {value!r} cannot be matched in linear time ({str(exc).split(': ', 1)[-1]}): "
                        "backreferences and lookarounds are not allowed",
                    )
                )
        elif key == "patternProperties":
            found.append(
                (
                    pointer,
                    "patternProperties is not allowed in a form (its regular expressions would be matched by a "
                    "backtracking engine): use propertyNames with a pattern",
                )
            )
    return found


def reference_errors(schema: Any) -> list[tuple[str, str]]:
    """(JSON pointer, why) for each reference in a form that does not point at something inside it, and each
    `$id` below the form's root (which would make `#/...` mean another document)."""
    found: list[tuple[str, str]] = []
    for here, key, value in _keywords(schema, "", schema):
        if key in REF_KEYWORDS and isinstance(value, str):
            problem = _reference_problem(key, value, schema)
            if problem is not None:
                found.append((here, problem))
        elif key == "$id" and here != "/$id":
            found.append((here, f"$id {value!r} below the form's root: a form is one document"))
    return found


def _escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _keywords(node: Any, pointer: str, root: Any) -> Iterator[tuple[str, str, Any]]:
    """(pointer, keyword, value) for every keyword of every (sub)schema of a form, data values not entered."""
    if isinstance(node, list):  # allOf, anyOf, oneOf, prefixItems
        for i, item in enumerate(node):
            yield from _keywords(item, f"{pointer}/{i}", root)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        here = f"{pointer}/{_escape(key)}"
        yield here, key, value
        if key in REF_KEYWORDS or key == "$id":
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            for name, sub in value.items():
                yield from _keywords(sub, f"{here}/{_escape(name)}", root)
        elif key not in _DATA_KEYWORDS:
            yield from _keywords(value, here, root)


def _reference_problem(keyword: str, ref: str, root: Any) -> str | None:
    if ref == "#":
        return None
    if not ref.startswith("#/"):
        return f"{keyword} {ref!r} points outside the form: a form's {keyword} may only point inside it ('#/...')"
    node = root
    for part in urllib.parse.unquote(ref[2:]).split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return f"{keyword} {ref!r} points at nothing in the form"
    return None


def _validation_errors(schema: dict, data: Any) -> list:
    try:
        return list(validator(schema).iter_errors(data))
    except Unresolvable as exc:  # a form stored before references were checked at deploy
        raise InvalidFormData(
            "the form has a reference that does not point inside it; a process owner must deploy a corrected form",
            {"_form": [f"This form cannot be checked: its reference {exc.ref!r} finds nothing inside it."]},
        ) from None
    except PatternRefused as exc:  # a form stored before patterns were checked at deploy
        raise InvalidFormData(
            "the form has a pattern that cannot be matched in linear time; a process owner must deploy a corrected "
            "form",
            {"_form": [f"This form cannot be checked: its pattern {exc} cannot be matched safely."]},
        ) from None


def apply_defaults(schema: dict, data: dict) -> dict:
    """Fill properties the user left out with their schema `default`."""
    result = dict(data)
    for key, prop in (schema.get("properties") or {}).items():
        if key not in result and isinstance(prop, dict) and "default" in prop:
            result[key] = copy.deepcopy(prop["default"])
    return result


def _normalise(value: Any) -> Any:
    """Make values JSON-plain: sets become sorted lists, tuples lists."""
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_normalise(v) for v in value)
    return value


def _strip_empty(schema: dict, data: dict) -> dict:
    """Browser forms send '' for untouched optional fields: treat those as absent."""
    required = set(schema.get("required") or [])
    return {k: v for k, v in data.items() if not (v == "" and k not in required)}


def _holds_reserved_key(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k in RESERVED_KEYS or _holds_reserved_key(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_holds_reserved_key(v) for v in value)
    return False


def unstorable(value: Any) -> str | None:
    """Why a submitted value cannot be kept, or None: text (or a key) no column can store, a number that is not
    finite (JSON's NaN and Infinity, or 1e400 read as infinity: no comparison with a form's bounds holds for it)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            refusal = text_refusal(item)
            if refusal is not None:
                return refusal
        elif isinstance(item, float) and not math.isfinite(item):
            return "Must be a finite number."
        elif isinstance(item, dict):
            for key, sub in item.items():
                refusal = text_refusal(key) if isinstance(key, str) else None
                if refusal is not None:
                    return refusal
                stack.append(sub)
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
    return None


def field_errors(schema: dict, data: dict) -> dict[str, list[str]]:
    """Field name -> messages; '_form' for errors not tied to one field."""
    errors: dict[str, list[str]] = {}
    for error in sorted(_validation_errors(schema, data), key=lambda e: list(e.path)):
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else "_form"
            errors.setdefault(missing, []).append("This field is required.")
            continue
        field = str(error.path[0]) if error.path else "_form"
        errors.setdefault(field, []).append(_friendly(error))
    return errors


def _friendly(error) -> str:
    """jsonschema's messages, in words a person filling a form understands."""
    v, schema_value = error.validator, error.validator_value
    if v == "const" and error.instance is False:
        return "Must be checked."
    if v == "minimum":
        return f"Must be at least {schema_value}."
    if v == "maximum":
        return f"Must be at most {schema_value}."
    if v == "minLength":
        return "This field is required." if schema_value == 1 else f"Must be at least {schema_value} characters."
    if v == "maxLength":
        return f"Must be at most {schema_value} characters."
    if v == "enum":
        return "Choose one of: " + ", ".join(str(x) for x in schema_value if x is not None) + "."
    if v == "type":
        names: list[str] = schema_value if isinstance(schema_value, list) else [schema_value]
        return (
            "Must be "
            + " or ".join(
                {
                    "number": "a number",
                    "integer": "a whole number",
                    "boolean": "yes or no",
                    "string": "text",
                    "object": "an object",
                    "array": "a list",
                    "null": "empty",
                }.get(n, n)
                for n in names
            )
            + "."
        )
    if v == "pattern":
        # a pattern of \S only says "not blank" (a conditional requirement, e.g. qa_notes when QA fails)
        return "This field is required." if schema_value == r"\S" else "Is not in the expected format."
    return error.message


def nested_errors(schema: dict, data) -> dict:
    """Validation errors as a dict nested like the data: {"customer": {"email": ["..."]}}."""
    result: dict = {}
    for error in _validation_errors(schema, data):
        path = [str(p) for p in error.path]
        message = _friendly(error)
        if error.validator == "required":
            path.append(error.message.split("'")[1] if "'" in error.message else "_form")
            message = "This field is required."
        node = result
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if isinstance(node, list):
                break
        else:
            node.setdefault(path[-1] if path else "_form", []).append(message)
    return result


def validate_submission(schema: dict | None, data: Any) -> dict:
    """Return the normalised data, or raise InvalidFormData with field-level errors."""
    if not isinstance(data, dict):
        raise InvalidFormData("form data must be an object", {"_form": ["Expected an object."]})
    schema = schema or {"type": "object", "properties": {}}
    data = _strip_empty(schema, data)
    unknown = [k for k in data if k in RESERVED_KEYS or k not in (schema.get("properties") or {})]
    errors = {k: ["Unknown field."] for k in unknown}
    # a nested `typename` would make the stored instance impossible to restore
    errors.update({k: ["Uses a reserved key."] for k, v in data.items() if k not in unknown and _holds_reserved_key(v)})
    # what cannot be kept is not checked further (a pattern cannot even read a lone surrogate)
    unkept = {k: [why] for k, v in data.items() if k not in unknown and (why := unstorable(v)) is not None}
    errors.update(unkept)
    # normalise first: jsonschema's "array" type accepts lists only, not sets or tuples
    data = _normalise(apply_defaults(schema, {k: v for k, v in data.items() if k not in unknown and k not in unkept}))
    errors.update({k: messages for k, messages in field_errors(schema, data).items() if k not in unkept})
    if errors:
        raise InvalidFormData("the form has errors", errors)
    return data


def describe(schema: dict | None) -> list[dict]:
    """Fields in display order, for rendering a form from its schema."""
    if not schema:
        return []
    required = set(schema.get("required") or [])
    fields = []
    for key, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type", "string")
        widget = (
            "select"
            if "enum" in prop
            else {"boolean": "checkbox", "number": "number", "integer": "number"}.get(kind, "text")
        )
        if kind == "string" and prop.get("format") == "textarea" or prop.get("maxLength", 0) > 200:
            widget = "textarea"
        fields.append(
            {
                "name": key,
                "title": prop.get("title", key),
                "type": kind,
                "widget": widget,
                "required": key in required,
                "enum": prop.get("enum"),
                "description": prop.get("description"),
                "minimum": prop.get("minimum"),
                "default": prop.get("default"),
            }
        )
    return fields


def coerce_form_strings(schema: dict | None, raw: dict[str, str]) -> dict:
    """Turn HTML form strings into typed values per the schema (field errors come later)."""
    result: dict[str, Any] = {}
    for key, prop in ((schema or {}).get("properties") or {}).items():
        kind = prop.get("type", "string")
        value = raw.get(key)
        if kind == "boolean":
            if "enum" not in prop:
                result[key] = value in ("on", "true", "1", "yes")
            continue
        if value is None or value == "":
            continue
        if kind in ("number", "integer"):
            try:
                result[key] = int(value) if kind == "integer" else float(value)
            except ValueError:
                result[key] = value
        else:
            result[key] = value
    return result
