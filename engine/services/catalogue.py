"""The product catalogue: models with warranty, replacement value, successor and known issues."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.errors import InvalidInput, NotAllowed, NotFound
from engine.process.forms import nested_errors
from engine.store.audit import audit
from engine.store.model import CatalogueModel, utcnow

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

DEFAULT_WARRANTY_MONTHS = 24
EDITING_ROLES = ("manager",)
ISSUE_CODE = re.compile(r"^[a-z0-9_]{1,40}$")

MODEL_SCHEMA = {
    "type": "object",
    "required": ["model", "category", "warranty_months", "replacement_value", "currency"],
    "properties": {
        "model": {"type": "string", "minLength": 1, "maxLength": 200},
        "category": {"type": "string", "minLength": 1, "maxLength": 120},
        "warranty_months": {"type": "integer", "minimum": 0, "maximum": 240},
        # days after the maker's ship date before the warranty counts from it (engine.services.register)
        "ship_grace_days": {"type": ["integer", "null"], "minimum": 0, "maximum": 730},
        "replacement_value": {"type": "number", "minimum": 0, "maximum": 10_000_000},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "successor_model": {"type": ["string", "null"], "maxLength": 200},
        "known_issues": {
            "type": "array",
            "maxItems": 20,
            "items": {
                "type": "object",
                "required": ["code", "question", "steps"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "pattern": ISSUE_CODE.pattern},
                    "question": {"type": "string", "minLength": 1, "maxLength": 300},
                    "steps": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 10,
                        "items": {"type": "string", "minLength": 1, "maxLength": 500},
                    },
                },
            },
        },
    },
}


def model_key(name: str) -> str:
    """Models are found by name whatever the case and spacing the customer typed."""
    return " ".join((name or "").split()).casefold()


def model_view(row: CatalogueModel) -> dict:
    return {
        "model": row.model,
        "category": row.category,
        "warranty_months": row.warranty_months,
        "ship_grace_days": row.ship_grace_days,
        "replacement_value": row.replacement_value,
        "currency": row.currency,
        "successor_model": row.successor_model,
        "known_issues": list(row.known_issues or []),
        "updated_by": row.updated_by,
        "updated_at": row.updated_at,
    }


def may_edit(actor: Actor) -> bool:
    """The catalogue is the company's: a centre's own manager reads it but does not change it for every centre."""
    return actor.role in EDITING_ROLES and actor.centre is None


def _require_editor(actor: Actor) -> None:
    if not may_edit(actor):
        raise NotAllowed("only a company-wide manager may change the product catalogue")


def check_model(payload: Any) -> dict:
    """The payload, normalised, or InvalidInput with field errors nested like the payload."""
    errors = nested_errors(MODEL_SCHEMA, payload)
    if not errors:
        codes = [i["code"] for i in payload.get("known_issues") or []]
        if len(codes) != len(set(codes)):
            errors["known_issues"] = ["Each known issue needs its own code."]
        for name in ("model", "category"):
            if not payload[name].strip():
                errors[name] = ["Required: more than spaces and line breaks."]
    if errors:
        raise InvalidInput("the model has invalid fields", errors)
    return {
        **payload,
        "model": " ".join(payload["model"].split()),
        "category": payload["category"].strip(),
        "successor_model": (payload.get("successor_model") or "").strip() or None,
        "known_issues": list(payload.get("known_issues") or []),
    }


def list_models(orc: Orchestrator, q: str | None = None) -> list[dict]:
    """Every model, by name (public: the request form offers them)."""
    with orc.reading() as s:
        query = select(CatalogueModel).order_by(CatalogueModel.model)
        if q:
            query = query.where(CatalogueModel.model_key.like(f"%{model_key(q)}%"))
        return [model_view(r) for r in s.scalars(query)]


def get_model(orc: Orchestrator, name: str) -> dict:
    with orc.reading() as s:
        row = find(s, name)
        if row is None:
            raise NotFound(f"no model '{name}' in the catalogue")
        return model_view(row)


def find(session: Session, name: str) -> CatalogueModel | None:
    return session.scalar(select(CatalogueModel).where(CatalogueModel.model_key == model_key(name)))


def save_model(orc: Orchestrator, actor: Actor, payload: dict) -> dict:
    """Create or update one model (managers)."""
    _require_editor(actor)
    clean = check_model(payload)
    with orc.uow() as uow:
        s = uow.session
        _check_successors(s, [clean])
        row = upsert(s, clean, actor.username)
        audit(s, None, actor, "catalogue_changed", f"model {row.model} saved", data=_audit_data(clean))
        uow.commit()
        return model_view(row)


def delete_model(orc: Orchestrator, actor: Actor, name: str) -> None:
    _require_editor(actor)
    with orc.uow() as uow:
        row = find(uow.session, name)
        if row is None:
            raise NotFound(f"no model '{name}' in the catalogue")
        uow.session.delete(row)
        audit(uow.session, None, actor, "catalogue_changed", f"model {row.model} removed")
        uow.commit()


def upsert(session: Session, clean: dict, username: str) -> CatalogueModel:
    row = find(session, clean["model"])
    if row is None:
        row = CatalogueModel(model=clean["model"], model_key=model_key(clean["model"]))
        session.add(row)
    row.category, row.warranty_months = clean["category"], int(clean["warranty_months"])
    if clean.get("ship_grace_days") is not None:  # absent: a new model has the default, an old one keeps its own
        row.ship_grace_days = int(clean["ship_grace_days"])
    row.replacement_value = Decimal(str(clean["replacement_value"])).quantize(Decimal("0.01"))
    row.currency, row.successor_model = clean["currency"], clean.get("successor_model")
    row.known_issues, row.updated_by, row.updated_at = clean.get("known_issues") or [], username, utcnow()
    return row


def _check_successors(session: Session, models: list[dict]) -> None:
    named = {model_key(m["model"]) for m in models}
    for m in models:
        successor = m.get("successor_model")
        if successor and model_key(successor) not in named and find(session, successor) is None:
            raise InvalidInput(
                "unknown successor model", {"successor_model": [f"'{successor}' is not in the catalogue."]}
            )


def _audit_data(clean: dict) -> dict:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in clean.items() if k != "known_issues"}


def unknown_model_facts(channel: str = "counter", currency: str = "") -> dict:
    """What an RMA of a model the catalogue does not know starts with: the default warranty, no offers."""
    return {
        "channel": channel,
        "warranty_months": DEFAULT_WARRANTY_MONTHS,
        "replacement_value": 0,
        "replacement_currency": currency,
        "has_successor": False,
        "successor_model": None,
        "successor_value": 0,
        "known_issues": [],
    }


def start_facts(session: Session, model: str, currency: str, channel: str) -> dict:
    """The catalogue's facts for a new RMA's start data (engine.process.dataflow.START_DATA_KEYS lists them).

    A replacement value in another currency than the centre's cannot be compared with its quote, so
    it counts as unknown there (repair only) rather than being converted at a guessed rate.
    """
    row = find(session, model)
    facts = unknown_model_facts(channel, currency)
    if row is None:
        return facts
    facts["warranty_months"] = row.warranty_months
    facts["known_issues"] = list(row.known_issues or [])
    if row.currency == currency:
        facts["replacement_value"] = float(row.replacement_value)
    successor = find(session, row.successor_model) if row.successor_model else None
    if successor is not None and successor.currency == currency and facts["replacement_value"] > 0:
        facts.update(
            has_successor=True, successor_model=successor.model, successor_value=float(successor.replacement_value)
        )
    return facts


def as_decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None
    return value if value.is_finite() else None


def count(orc: Orchestrator) -> int:
    with orc.reading() as s:
        return s.scalar(select(func.count()).select_from(CatalogueModel)) or 0
