"""Render a task's JSON Schema as HTML form fields and read the submitted strings back."""

from __future__ import annotations

from engine.process import forms

# Two explicit choices read better than one checkbox whose unticked state silently means "no".
CHOICE_LABELS = {"passed": ("Passed", "Failed"), "approve": ("Approve", "Decline")}


def _choice_labels(name: str, prop: dict) -> tuple[str, str]:
    custom = prop.get("x-choice-labels")
    if isinstance(custom, list) and len(custom) == 2:
        return str(custom[0]), str(custom[1])
    for suffix, labels in CHOICE_LABELS.items():
        if name == suffix or name.endswith("_" + suffix):
            return labels
    return "Yes", "No"


def _is_radio(prop: dict) -> bool:
    # A boolean that must be true (an acknowledgement) stays a checkbox; any other boolean is a real choice.
    return prop.get("type") == "boolean" and "enum" not in prop and prop.get("const") is not True


def fields(schema: dict | None) -> list[dict]:
    """forms.describe() plus the widget each field gets on the page."""
    props = (schema or {}).get("properties") or {}
    result = []
    for field in forms.describe(schema):
        prop = props.get(field["name"], {})
        field = dict(field)
        if prop.get("x-upload") == "image":
            field["widget"] = "photos"  # files go to engine.services.photos; the form data cites their SHA-256
        elif _is_radio(prop):
            field["widget"] = "radio"
            field["choices"] = list(zip(("true", "false"), _choice_labels(field["name"], prop)))
        result.append(field)
    return result


def initial_values(schema: dict | None) -> dict:
    """Values a fresh form shows: the schema defaults, as strings."""
    values = {}
    for field in forms.describe(schema):
        default = field.get("default")
        if default is not None:
            values[field["name"]] = ("true" if default else "false") if isinstance(default, bool) else str(default)
    return values


def read_submission(schema: dict | None, raw) -> dict:
    """Typed data from the form strings; an unanswered Yes/No question stays absent so 'required' reports it."""
    data = forms.coerce_form_strings(schema, raw)
    for name, prop in ((schema or {}).get("properties") or {}).items():
        if _is_radio(prop) and raw.get(name) not in ("true", "false"):
            data.pop(name, None)
    return data
