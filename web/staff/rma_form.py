"""The reception form that opens an RMA: read and check the strings, build the engine's payload."""

from __future__ import annotations

import re
from datetime import date

# (form field, label, required, max length) in page order; lengths follow the RMA table's columns.
FIELDS = [
    ("centre", "Service centre", True, 16),
    ("customer_name", "Customer name", True, 200),
    ("customer_email", "Email", True, 254),
    ("customer_phone", "Phone", False, 40),
    ("customer_language", "Language", False, 8),
    ("product_model", "Product model", True, 200),
    ("serial_number", "Serial number", True, 120),
    ("purchase_date", "Purchase date", True, 10),
    ("product_category", "Category", False, 120),
    ("fault_description", "Fault description", True, 5000),
]
FIELD_NAMES = frozenset(name for name, *_ in FIELDS)
LANGUAGES = [("en", "English"), ("de", "Deutsch")]  # the languages customer messages and pages ship in
CATEGORIES = ["camera", "lens", "cctv", "accessory", "other"]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Where the engine's nested error keys land on this flat form.
_ENGINE_KEYS = {
    ("customer", "name"): "customer_name",
    ("customer", "email"): "customer_email",
    ("customer", "phone"): "customer_phone",
    ("product", "model"): "product_model",
    ("product", "serial_number"): "serial_number",
    ("product", "purchase_date"): "purchase_date",
    ("product", "category"): "product_category",
}


def read(raw) -> tuple[dict, dict[str, list[str]]]:
    """(values as typed, field errors); values are stripped strings for re-display."""
    values = {name: (raw.get(name) or "").strip() for name, *_ in FIELDS}
    errors: dict[str, list[str]] = {}
    for name, _label, required, max_length in FIELDS:
        if required and not values[name]:
            errors.setdefault(name, []).append("This field is required.")
        elif len(values[name]) > max_length:
            errors.setdefault(name, []).append(f"At most {max_length} characters.")
    if values["customer_email"] and not _EMAIL.match(values["customer_email"]):
        errors.setdefault("customer_email", []).append("Enter an email address like name@example.com.")
    if values["purchase_date"] and "purchase_date" not in errors:
        try:
            if date.fromisoformat(values["purchase_date"]) > date.today():
                errors.setdefault("purchase_date", []).append("Must not be in the future.")
        except ValueError:
            errors.setdefault("purchase_date", []).append("Enter a date as YYYY-MM-DD.")
    return values, errors


def payload(values: dict) -> dict:
    """The open_rma payload for checked values."""
    return {
        "centre": values["centre"],
        "customer": {
            "name": values["customer_name"],
            "email": values["customer_email"].lower(),
            "phone": values["customer_phone"],
            "language": values["customer_language"] or "en",
        },
        "product": {
            "model": values["product_model"],
            "serial_number": values["serial_number"],
            "purchase_date": values["purchase_date"],
            "category": values["product_category"],
        },
        "fault_description": values["fault_description"],
    }


def engine_errors(errors) -> dict[str, list[str]]:
    """Flatten the engine's {customer: {email: [...]}} errors onto this form's field names."""
    flat: dict[str, list[str]] = {}
    for key, value in (errors or {}).items() if isinstance(errors, dict) else []:
        if isinstance(value, dict):
            for sub, messages in value.items():
                flat.setdefault(_ENGINE_KEYS.get((key, sub), "_form"), []).extend(messages)
        else:
            flat.setdefault(key if key in FIELD_NAMES else "_form", []).extend(value)
    return flat
