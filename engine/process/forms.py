"""JSON Schema task forms: validate and normalise submitted data before it enters a workflow."""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft202012Validator

from engine.errors import InvalidFormData
from engine.sandbox.limits import RESERVED_KEYS  # task-data keys SpiffWorkflow cannot store

# SpiffWorkflow's serializer treats a dict key named `typename` as a type tag.


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


def field_errors(schema: dict, data: dict) -> dict[str, list[str]]:
    """Field name -> messages; '_form' for errors not tied to one field."""
    errors: dict[str, list[str]] = {}
    validator = Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.path)):
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
        return "Is not in the expected format."
    return error.message


def nested_errors(schema: dict, data) -> dict:
    """Validation errors as a dict nested like the data: {"customer": {"email": ["..."]}}."""
    result: dict = {}
    for error in Draft202012Validator(schema).iter_errors(data):
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
    # normalise first: jsonschema's "array" type accepts lists only, not sets or tuples
    data = _normalise(apply_defaults(schema, {k: v for k, v in data.items() if k not in unknown}))
    errors.update(field_errors(schema, data))
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
