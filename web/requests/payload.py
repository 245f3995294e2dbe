"""The online request's flat form fields (HTML form and multipart API alike) and the engine's nested payload."""

from __future__ import annotations

FIELDS = (
    "centre",
    "name",
    "email",
    "phone",
    "language",
    "model",
    "serial_number",
    "purchase_date",
    "category",
    "fault_description",
)
# engine field path -> flat form field
PATHS = {
    ("customer", "name"): "name",
    ("customer", "email"): "email",
    ("customer", "phone"): "phone",
    ("customer", "language"): "language",
    ("product", "model"): "model",
    ("product", "serial_number"): "serial_number",
    ("product", "purchase_date"): "purchase_date",
    ("product", "category"): "category",
}


def nested(form) -> dict:
    """The engine's request payload from flat fields (missing ones stay missing, so the engine names them)."""
    get = lambda key: (form.get(key) or "").strip() or None  # noqa: E731
    payload: dict = {"customer": {}, "product": {}}
    for (group, key), field in PATHS.items():
        value = get(field)
        if value is not None:
            payload[group][key] = value
    for key in ("centre", "fault_description"):
        if get(key) is not None:
            payload[key] = get(key)
    payload["customer"].setdefault("language", "en")
    return payload


def flat_errors(errors) -> dict:
    """The engine's nested field errors keyed by the form's flat field names."""
    flat: dict = {}
    for key, value in (errors or {}).items():
        if isinstance(value, dict):
            for sub, messages in value.items():
                flat[PATHS.get((key, sub), sub)] = messages
        else:
            flat[key] = value
    return flat
