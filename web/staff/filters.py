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


def age(value, now: datetime | None = None) -> str:
    """How long ago a UTC timestamp was, shortly: '45 min', '5 h', '3 d'."""
    if not isinstance(value, datetime):
        return ""
    now = now or datetime.now(UTC)
    minutes = max(0, int((now - (value if value.tzinfo else value.replace(tzinfo=UTC))).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


def overdue(value, now: datetime | None = None) -> bool:
    """A due time that has passed."""
    if not isinstance(value, datetime):
        return False
    return (value if value.tzinfo else value.replace(tzinfo=UTC)) < (now or datetime.now(UTC))


FILTERS = {"when": when, "iso": iso, "money": money, "label": label, "role": role, "age": age}
TESTS = {"overdue": overdue}


def register(blueprint) -> None:
    for name, func in FILTERS.items():
        blueprint.add_app_template_filter(func, name)
    for name, test in TESTS.items():
        blueprint.add_app_template_test(test, name)
