"""Open, find and show RMAs."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, false, func, select
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.adapters import mail_address
from engine.errors import InvalidInput, NotAllowed, NotFound, RmaNotFound, text_refusal
from engine.process.forms import nested_errors
from engine.services import idempotency
from engine.services.catalogue import start_facts, unknown_model_facts
from engine.services.instances import save_new
from engine.services.processes import current_bundle
from engine.services.register import serial_flags, start_inputs, warranty_view
from engine.services.views import page_bounds, rma_view, task_view
from engine.store import search
from engine.store.audit import audit
from engine.store.model import AuditEvent, Bundle, Centre, HumanTask, Instance, Rma, RmaSearchTerm, utcnow

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator
    from engine.store.unit_of_work import UnitOfWork

OPENING_ROLES = ("reception", "manager")


def open_rma(orc: Orchestrator, actor: Actor, payload: dict, idempotency_key: str | None = None) -> dict:
    """Register a unit at a centre and start its repair process; a repeated Idempotency-Key answers the first RMA."""
    if actor.role not in OPENING_ROLES:
        raise NotAllowed("only reception or a manager may open an RMA")
    idem = idempotency.checked(idempotency_key, f"user:{actor.username}", payload)
    return idempotency.once(
        orc, idem, lambda: _open_rma(orc, actor, payload, idem), lambda rma_id: get_rma(orc, actor, rma_id)
    )


def _open_rma(orc: Orchestrator, actor: Actor, payload: dict, idem: idempotency.Idempotency | None) -> dict:
    centre_code = payload["centre"]
    if not actor.may_see_centre(centre_code):
        raise NotAllowed(f"you may open RMAs only for centre {actor.centre}")
    _check_payload(payload)
    product, customer = payload["product"], payload["customer"]
    purchase_date = _as_date(product["purchase_date"])
    with orc.uow() as uow:
        s = uow.session
        centre = s.get(Centre, centre_code)
        if centre is None:
            raise InvalidInput(f"unknown centre {centre_code}", {"centre": [f"Unknown centre '{centre_code}'."]})
        bundle, now = deployed_bundle(s, centre_code), utcnow()
        check_purchase_date(purchase_date, now)
        rma = Rma(
            centre_code=centre_code,
            status="received",
            customer_name=customer["name"],
            customer_email=customer["email"],
            customer_phone=customer.get("phone") or None,
            customer_language=customer.get("language") or "en",
            product_model=product["model"],
            serial_number=product["serial_number"],
            purchase_date=purchase_date,
            product_category=product.get("category") or None,
            fault_description=payload["fault_description"],
            currency=centre.currency,
            tracking_token=secrets.token_urlsafe(24),
            created_by=actor.username,
            created_at=now,
            updated_at=now,
        )
        record = None if idem is None else (lambda: idempotency.record(s, idem, rma.id))
        start_rma(orc, uow, actor, centre, bundle, rma, now, before_start=record)
        uow.commit()
    with orc.reading() as s:
        return without_tracking(actor, _load_view(s, rma))


def start_rma(
    orc: Orchestrator,
    uow: UnitOfWork,
    actor: Actor,
    centre: Centre,
    bundle: Bundle,
    rma: Rma,
    now: datetime,
    before_start: Callable[[], None] | None = None,
    opened_data: dict | None = None,
) -> None:
    """Number a new RMA from its centre's sequence, audit its opening and start its process instance, in the
    caller's unit of work: the one intake path of a single RMA and of every unit of a batch (engine.services.batches).
    """
    s = uow.session
    s.add(rma)
    uow.flush()
    rma.number = f"RMA-{centre.code}-{rma.id:06d}"
    if before_start is not None:
        before_start()
    audit(
        s,
        rma.id,
        actor,
        "rma_opened",
        f"{rma.number} opened for {rma.product_model} {rma.serial_number}",
        data={"fault_description": rma.fault_description, **(opened_data or {})},
    )
    parsed = orc.parsed_bundle(s, bundle.id)
    # a batch unit without a declared purchase date has none for the warranty (the row's is the opening day)
    declared = (opened_data or {}).get("purchase_date_declared", True) is not False
    # a batch's unit is shipped in by its partner: it waits in the inbound stage until reception books it in
    channel = "batch" if rma.batch_id is not None else "counter"
    facts = {**start_facts(s, rma.product_model, centre.currency, channel=channel), **start_inputs(s, rma, declared)}
    workflow = orc.runtime.start(parsed, _start_data(rma, centre, now, facts))
    save_new(orc, s, rma, bundle, workflow, actor)


_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}
OPEN_RMA_SCHEMA = {
    "type": "object",
    "required": ["centre", "customer", "product", "fault_description"],
    "properties": {
        "centre": {"type": "string", "minLength": 1, "maxLength": 16},
        "customer": {
            "type": "object",
            "required": ["name", "email"],
            "properties": {
                "name": _TEXT,
                "email": {"type": "string", "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "maxLength": 254},
                "phone": {"type": ["string", "null"], "maxLength": 40},
                "language": {"type": ["string", "null"], "enum": ["en", "de", None]},
            },
        },
        "product": {
            "type": "object",
            "required": ["model", "serial_number", "purchase_date"],
            "properties": {
                "model": _TEXT,
                "serial_number": {**_TEXT, "maxLength": 120},
                "purchase_date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                "category": {"type": ["string", "null"], "maxLength": 120},
            },
        },
        "fault_description": {"type": "string", "minLength": 1, "maxLength": 5000},
    },
}


def _check_payload(payload: Any) -> None:
    """Field errors nested like the payload, e.g. {"customer": {"email": [...]}}; nothing is saved."""
    if isinstance(payload, dict) and isinstance(payload.get("product"), dict):
        value = payload["product"].get("purchase_date")
        if isinstance(value, date):
            payload = {**payload, "product": {**payload["product"], "purchase_date": value.isoformat()}}
    errors = nested_errors(OPEN_RMA_SCHEMA, payload)
    undeliverable = _email_errors(payload)
    if undeliverable and isinstance(errors.setdefault("customer", {}), dict):
        errors["customer"].setdefault("email", undeliverable)
    if errors:
        raise InvalidInput("the RMA has invalid fields", errors)


def _email_errors(payload: Any) -> list[str]:
    """The customer's e-mail address is sent to later, by the worker: what mail could never reach is refused now."""
    customer = payload.get("customer") if isinstance(payload, dict) else None
    email = customer.get("email") if isinstance(customer, dict) else None
    if not isinstance(email, str):
        return []
    try:
        mail_address.parse(email)
    except mail_address.AddressError as exc:
        return [f"Not an address mail can be sent to: {exc}."]
    return []


def deployed_bundle(session: Session, centre_code: str) -> Bundle:
    """The version a new RMA at this centre starts on."""
    bundle = current_bundle(session, centre_code)
    if bundle is None:
        raise InvalidInput("no process is deployed yet; run `rma init`")
    return bundle


def check_purchase_date(purchase_date: date, now: datetime) -> None:
    if purchase_date > now.date():
        raise InvalidInput(
            "purchase date is in the future", {"product": {"purchase_date": ["Must not be in the future."]}}
        )


def _start_data(rma: Rma, centre: Centre, now: datetime, facts: dict | None = None) -> dict:
    """The instance's start data; `facts` are the catalogue's (engine.services.catalogue.start_facts)."""
    facts = facts if facts is not None else unknown_model_facts("counter", centre.currency)
    return {
        **facts,
        "rma_number": rma.number,
        "centre": centre.code,
        "currency": centre.currency,
        "labour_rate": float(centre.labour_rate),
        "purchase_date": rma.purchase_date.isoformat(),
        "received_on": now.date().isoformat(),
        "product_model": rma.product_model,
        "serial_number": rma.serial_number,
        "product_category": rma.product_category or "",
        "fault_description": rma.fault_description,
        "customer_name": rma.customer_name,
        "customer_email": rma.customer_email,
    }


def _as_date(value: object) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(
            "purchase_date must be YYYY-MM-DD", {"product": {"purchase_date": ["Not a valid date (YYYY-MM-DD)."]}}
        ) from None


def without_tracking(actor: Actor, view: dict) -> dict:
    """The view without the customer's tracking token for roles that never send it (technicians, QA)."""
    if not actor.sends_tracking_link:
        view.pop("tracking_token", None)
        view.pop("tracking_url", None)
    return view


def get_rma(orc: Orchestrator, actor: Actor, rma_id: int) -> dict:
    with orc.reading() as s:
        return without_tracking(actor, _load_view(s, _visible_rma(s, actor, rma_id)))


def _visible_rma(session: Session, actor: Actor, rma_id: int) -> Rma:
    rma = session.get(Rma, rma_id)
    if rma is None:
        raise RmaNotFound(f"RMA {rma_id} not found")
    if not actor.may_see_centre(rma.centre_code):
        # Another centre's RMA: answer as if it did not exist, so numbers do not leak.
        raise RmaNotFound(f"RMA {rma_id} not found")
    return rma


def _load_view(session: Session, rma: Rma) -> dict:
    tasks = session.scalars(
        select(HumanTask).where(HumanTask.rma_id == rma.id, HumanTask.status == "open").order_by(HumanTask.created_at)
    ).all()
    events = session.scalars(select(AuditEvent).where(AuditEvent.rma_id == rma.id).order_by(AuditEvent.id)).all()
    bundle = session.scalar(_RUNNING_BUNDLE, {"rma_id": rma.id})  # one SELECT: the instance's bundle row
    # which date the warranty check counts from, and what staff should look at about the serial (issue 17.5)
    extra = {"warranty": warranty_view(rma), "serial_flags": serial_flags(session, rma)}
    return rma_view(rma, tasks, events, bundle) | extra


def _bundle_id(session: Session, rma_id: int) -> int:
    bundle_id = session.scalar(select(Instance.bundle_id).where(Instance.rma_id == rma_id))
    if bundle_id is None:
        raise NotFound(f"RMA {rma_id} has no process instance")
    return bundle_id


_RUNNING_BUNDLE = (
    select(Bundle).join(Instance, Instance.bundle_id == Bundle.id).where(Instance.rma_id == bindparam("rma_id"))
)


def list_rmas(
    orc: Orchestrator,
    actor: Actor,
    status: str | None = None,
    centre: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> dict:
    """RMAs the actor may see, newest first, filtered and paginated.

    `q` finds RMAs whose number, serial number, customer name or email has a word starting with it
    (engine.store.search: "Mül", "lee wong", "RMA-SG-0001", "000123"), by a range on the search-term index.
    """
    if actor.is_partner:  # no centre, yet not every centre: a partner reads its units in engine.services.partner_rmas
        raise NotAllowed("a partner reads its organisation's units, not the centres' RMA list")
    page, per_page = page_bounds(page, per_page)
    centres = [c for c in (None if actor.is_global else actor.centre, centre) if c]
    query = select(Rma)
    matches = _search_matches(q, centres)
    if matches is not None:
        # the terms carry the RMA's centre: filtering rmas by centre too would let SQLite walk the centre index
        query = query.where(Rma.id.in_(matches))
    else:
        for code in centres:
            query = query.where(Rma.centre_code == code)
    if status:
        query = query.where(Rma.status == status)
    with orc.reading() as s:
        if matches is not None and not status:
            # the term index alone answers how many (centre_code is in it too)
            found = matches.subquery()
            total = s.scalar(select(func.count(func.distinct(found.c.rma_id))))
        else:
            total = s.scalar(select(func.count()).select_from(query.subquery()))
        rows = s.scalars(query.order_by(Rma.id.desc()).limit(per_page).offset((page - 1) * per_page)).all()
        return {
            "items": [without_tracking(actor, rma_view(r)) for r in rows],
            "total": total,
            "page": page,
            "per_page": per_page,
        }


def _search_matches(q: str | None, centres: list[str]) -> Select[Any] | None:
    """SELECT rma_id of the search terms starting with `q` (None: no search, every RMA)."""
    prefix = search.search_prefix(q)
    terms = RmaSearchTerm.__table__.c
    if not prefix:  # blank: every RMA; only punctuation: none (no term starts with it)
        return select(terms.rma_id).where(false()) if q and q.strip() else None
    if text_refusal(prefix) is not None:  # a NUL: no stored term holds one (and PostgreSQL refuses it in a query)
        return select(terms.rma_id).where(false())
    low, high = search.prefix_range(prefix)
    matches = select(terms.rma_id).where(terms.term >= low)
    if high is not None:
        matches = matches.where(terms.term < high)
    for code in centres:
        matches = matches.where(terms.centre_code == code)
    return matches


def rma_open_tasks(session: Session, rma_id: int) -> list[dict]:
    rows = session.scalars(select(HumanTask).where(HumanTask.rma_id == rma_id, HumanTask.status == "open"))
    return [task_view(t) for t in rows]
