"""Jinja filters shared by the staff and portal pages (dates, money, labels)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal


def when(value) -> str:
    """A UTC timestamp as 'YYYY-MM-DD HH:MM UTC'; a date as 'YYYY-MM-DD'."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def iso(value) -> str:
    return value.isoformat() if isinstance(value, (date, datetime)) else ""


def money(value) -> str:
    if value is None or value == "":
        return ""
    return f"{Decimal(str(value)):,.2f}"


ACRONYMS = {"qa": "QA", "rma": "RMA", "rmas": "RMAs"}


def label(value) -> str:
    """'awaiting_approval' -> 'Awaiting approval'; 'qa' -> 'QA', 'rma_opened' -> 'RMA opened'."""
    if not value:
        return ""
    words = [ACRONYMS.get(w, w) for w in str(value).split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def role(value) -> str:
    """A role in running text: 'process_owner' -> 'process owner', 'qa' -> 'QA'."""
    return " ".join(ACRONYMS.get(w, w) for w in str(value or "").split("_"))


FILTERS = {"when": when, "iso": iso, "money": money, "label": label, "role": role}


def register(blueprint) -> None:
    for name, func in FILTERS.items():
        blueprint.add_app_template_filter(func, name)
