"""Render a task's JSON Schema as HTML form fields and read the submitted strings back."""

from __future__ import annotations

from engine.process import forms

from .filters import label

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


def _is_money(prop: dict) -> bool:
    return prop.get("x-unit") == "currency"  # an amount in the RMA's currency (the centre's)


def fields(schema: dict | None, currency: str | None = None) -> list[dict]:
    """forms.describe() plus the widget each field gets on the page (an amount's title names its currency)."""
    props = (schema or {}).get("properties") or {}
    result = []
    for field in forms.describe(schema):
        prop = props.get(field["name"], {})
        field = dict(field)
        if currency and _is_money(prop):
            field["title"] = f"{field['title']} ({currency})"
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


def entries(schema: dict | None, data: dict | None, currency: str | None = None) -> list[dict]:
    """What a task was completed with, as (title, text) in the form's order, for reading: Yes/No and choices in
    the words the form offered, amounts with their currency, photos counted."""
    props = (schema or {}).get("properties") or {}
    data = data or {}
    names = [n for n in props if n in data] + [n for n in data if n not in props]
    result = []
    for name in names:
        prop, value = props.get(name) or {}, data[name]
        kind = "text"
        if prop.get("x-upload") == "image":
            text, kind = f"{len(value or [])} photo(s)", "photos"
        elif isinstance(value, bool):
            labels = _choice_labels(name, prop) if _is_radio(prop) else ("Yes", "No")
            text, kind = labels[0] if value else labels[1], "choice-" + ("true" if value else "false")
        elif isinstance(value, (int, float)) and _is_money(prop):
            text, kind = f"{value:,.2f} {currency or ''}".strip(), "money"
        elif "enum" in prop and isinstance(value, str):
            text = label(value)
        elif isinstance(value, dict):
            text = "; ".join(f"{label(k)}: {label(v) if isinstance(v, str) else v}" for k, v in value.items())
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        else:
            text = str(value)
        result.append({"name": name, "title": prop.get("title", label(name)), "text": text, "kind": kind})
    return result
