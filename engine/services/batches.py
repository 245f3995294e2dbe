"""Batch RMAs (issue 17, point 2): one batch of many units, each unit an RMA with its own process instance.

A partner opens a batch for its own organisation; reception or a manager of the centre opens one on a partner's
behalf (naming the organisation). Every unit is checked first and every problem is reported (by unit index in
JSON, by line and column in a CSV file); nothing is stored while any remains. The batch and all its units are
opened in one transaction through the single intake's path (engine.services.rmas.start_rma).
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.errors import InvalidInput, NotAllowed, NotFound, text_refusal
from engine.services import idempotency
from engine.services.batch_csv import BatchFileError, parse_units_csv, problem
from engine.services.catalogue import model_key
from engine.services.partner_rmas import unit_views
from engine.services.partners import visible_organisation
from engine.services.register import units_read_at_once
from engine.services.rmas import deployed_bundle, start_rma
from engine.services.views import page_bounds
from engine.store.audit import audit
from engine.store.model import Batch, CatalogueModel, Centre, Organisation, Rma, utcnow

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

MAX_UNITS = 500  # units in one batch: more is refused before any is looked at (a 200-unit batch opens in seconds)
OPENING_ROLES = ("partner", "reception", "manager")
READING_ROLES = ("partner", "reception", "technician", "qa", "manager")
# field -> (longest, required)
UNIT_FIELDS = {
    "model": (200, True),
    "serial_number": (120, True),
    "fault_description": (5000, True),
    "purchase_date": (10, False),
    "site": (200, False),
    "customer_reference": (120, False),
}
REFERENCE_MAX = 120


class BatchNotFound(NotFound):
    code = "batch_not_found"


def open_batch(orc: Orchestrator, actor: Actor, payload: dict, idempotency_key: str | None = None) -> dict:
    """Open a batch and one RMA per unit, all or nothing; a repeated Idempotency-Key answers the first batch."""
    if actor.role not in OPENING_ROLES:
        raise NotAllowed("only a partner, reception or a manager may open a batch")
    units = payload.get("units")
    if not isinstance(units, list) or not units:
        raise InvalidInput("a batch needs units", {"units": ["At least one unit."]})
    if len(units) > MAX_UNITS:  # before anything else is read
        raise InvalidInput(
            f"more than {MAX_UNITS} units in one batch", {"units": [f"At most {MAX_UNITS} units in one batch."]}
        )
    idem = idempotency.checked(idempotency_key, f"batch:{actor.username}", payload)
    return idempotency.once(
        orc, idem, lambda: _open(orc, actor, payload, idem), lambda rma_id: _batch_of_unit(orc, actor, rma_id)
    )


def open_batch_from_csv(
    orc: Orchestrator,
    actor: Actor,
    centre: str,
    data: bytes,
    reference: str = "",
    organisation: int | None = None,
    idempotency_key: str | None = None,
) -> dict:
    """Open a batch from a CSV file; every problem is a BatchFileError {line, column, message}, nothing opened."""
    if actor.role not in OPENING_ROLES:
        raise NotAllowed("only a partner, reception or a manager may open a batch")
    rows, problems = parse_units_csv(data, MAX_UNITS)
    payload: dict = {"centre": centre, "reference": reference, "units": [unit for _, unit in rows]}
    if organisation is not None:
        payload["organisation"] = organisation
    lines = [line for line, _ in rows]
    if problems:  # the rows that could be read are checked too, so the file's every problem is listed at once
        with orc.reading() as s:
            problems += _file_problems(lines, _unit_errors(s, payload["units"], utcnow().date()))
        raise BatchFileError(f"{len(problems)} problem(s) in the file; nothing was opened", _by_line(problems))
    try:
        return open_batch(orc, actor, payload, idempotency_key)
    except InvalidInput as exc:
        unit_errors = exc.errors.get("units") if isinstance(exc.errors, dict) else None
        if not isinstance(unit_errors, dict):
            raise
        listed = _file_problems(lines, unit_errors)
        raise BatchFileError(f"{len(listed)} problem(s) in the file; nothing was opened", listed) from None


def _file_problems(lines: list[int], unit_errors: dict[int, dict[str, list[str]]]) -> list[dict]:
    return _by_line(
        [
            problem(lines[index], field, message)
            for index, fields in unit_errors.items()
            for field, messages in fields.items()
            for message in messages
        ]
    )


def _by_line(problems: list[dict]) -> list[dict]:
    return sorted(problems, key=lambda p: (p["line"], p["column"] or ""))


def _open(orc: Orchestrator, actor: Actor, payload: dict, idem: idempotency.Idempotency | None) -> dict:
    centre_code, reference = _header(payload)
    with orc.uow() as uow:
        s = uow.session
        org = _organisation(s, actor, payload, centre_code)
        centre = s.get(Centre, centre_code)
        if centre is None:
            raise InvalidInput(f"unknown centre {centre_code}", {"centre": [f"Unknown centre '{centre_code}'."]})
        now = utcnow()
        units = _checked_units(s, payload["units"], now.date())
        bundle = deployed_bundle(s, centre_code)
        batch = Batch(
            centre_code=centre_code,
            organisation_id=org.id,
            reference=reference,
            unit_count=len(units),
            created_by=actor.username,
            created_at=now,
        )
        s.add(batch)
        uow.flush()
        batch.number = f"B-{centre_code}-{batch.id:06d}"
        opened: list[Rma] = []
        # the register of units sold read once for every unit's warranty date (start_rma's start_inputs)
        with units_read_at_once(s, (u["serial_number"] for u in units)):
            for unit in units:
                rma = Rma(
                    centre_code=centre_code,
                    status="received",
                    customer_name=org.name,
                    customer_email=org.contact_email,
                    customer_phone=org.contact_phone,
                    customer_language=org.language,
                    product_model=unit["model"],
                    serial_number=unit["serial_number"],
                    purchase_date=unit.get("purchase_date") or now.date(),
                    fault_description=unit["fault_description"],
                    site=unit.get("site"),
                    customer_reference=unit.get("customer_reference"),
                    organisation_id=org.id,
                    batch_id=batch.id,
                    currency=centre.currency,
                    tracking_token=secrets.token_urlsafe(24),
                    created_by=actor.username,
                    created_at=now,
                    updated_at=now,
                )
                record = None
                if idem is not None and not opened:
                    record = lambda rma=rma: idempotency.record(s, idem, rma.id)  # noqa: E731  (the first unit holds the key)
                start_rma(
                    orc,
                    uow,
                    actor,
                    centre,
                    bundle,
                    rma,
                    now,
                    before_start=record,
                    opened_data={"batch": batch.number, "purchase_date_declared": "purchase_date" in unit},
                )
                opened.append(rma)
        audit(
            s,
            None,
            actor,
            "batch_opened",
            f"{batch.number} opened for {org.name} with {len(units)} unit(s)",
            data={"batch": batch.number, "organisation": org.id, "units": [r.number for r in opened][:500]},
        )
        view = {
            "id": batch.id,
            "number": batch.number,
            "centre": centre_code,
            "organisation": {"id": org.id, "name": org.name},
            "reference": reference,
            "created_at": now,
            "units": [{"rma_id": r.id, "number": r.number, "status": r.status} for r in opened],
        }
        uow.commit()
    return view


def _header(payload: dict) -> tuple[str, str]:
    centre, reference = payload.get("centre"), payload.get("reference") or ""
    errors: dict[str, list[str]] = {}
    if not isinstance(centre, str) or not centre or len(centre) > 16 or text_refusal(centre):
        errors["centre"] = ["Required: the centre's code."]
    if not isinstance(reference, str):
        errors["reference"] = ["Must be text."]
    elif (why := text_refusal(reference)) is not None:
        errors["reference"] = [why]
    elif len(reference) > REFERENCE_MAX:
        errors["reference"] = [f"At most {REFERENCE_MAX} characters."]
    if errors:
        raise InvalidInput("the batch has invalid fields", errors)
    return str(centre), str(reference).strip()


def _organisation(s: Session, actor: Actor, payload: dict, centre: str) -> Organisation:
    """A partner's own organisation (served by `centre`); staff name one of their centre's organisations."""
    if actor.is_partner:
        org = s.get(Organisation, actor.organisation) if actor.organisation is not None else None
        if org is None or not org.active:
            raise NotAllowed("your account belongs to no active organisation")
        if org.centre_code != centre:
            raise NotAllowed(f"your organisation is served by centre {org.centre_code}")
        return org
    if not actor.may_see_centre(centre):
        raise NotAllowed(f"you may open batches only for centre {actor.centre}")
    org_id = payload.get("organisation")
    if not isinstance(org_id, int) or isinstance(org_id, bool):
        raise InvalidInput("name the partner organisation", {"organisation": ["Required: the organisation's id."]})
    try:
        org = visible_organisation(s, actor, org_id)
    except NotFound:
        raise InvalidInput("unknown organisation", {"organisation": ["Unknown organisation."]}) from None
    if org.centre_code != centre or not org.active:
        raise InvalidInput("the organisation is not served here", {"organisation": [f"Not served by {centre}."]})
    return org


def _checked_units(s: Session, units: list, today: date) -> list[dict]:
    """The units cleaned (model as the catalogue names it, dates parsed), or InvalidInput with every problem:
    {"units": {index: {field: [messages]}}}."""
    clean: list[dict] = []
    errors = _unit_errors(s, units, today, clean)
    if errors:
        count = sum(len(m) for e in errors.values() for m in e.values())
        raise InvalidInput(f"{count} problem(s) in the units; nothing was opened", {"units": errors})
    return clean


def _unit_errors(
    s: Session, units: list, today: date, clean: list[dict] | None = None
) -> dict[int, dict[str, list[str]]]:
    """Every unit's problems by index and field; `clean` receives the units cleaned."""
    clean = clean if clean is not None else []
    errors: dict[int, dict[str, list[str]]] = {}
    for index, unit in enumerate(units):
        fields, unit_errors = _unit(unit, today)
        clean.append(fields)
        if unit_errors:
            errors[index] = unit_errors
    keys = {model_key(u["model"]) for u in clean if u.get("model")}
    found = s.execute(select(CatalogueModel.model_key, CatalogueModel.model).where(CatalogueModel.model_key.in_(keys)))
    known: dict[str, str] = {key: name for key, name in found}
    seen: dict[str, int] = {}
    for index, unit in enumerate(clean):
        if unit.get("model"):
            name = known.get(model_key(unit["model"]))
            if name is None:
                errors.setdefault(index, {}).setdefault("model", []).append(
                    f"Unknown model '{unit['model']}': not in the catalogue."
                )
            else:
                unit["model"] = name
        serial = unit.get("serial_number")
        if serial:
            folded = serial.casefold()
            if folded in seen:
                errors.setdefault(index, {}).setdefault("serial_number", []).append(
                    f"Serial '{serial}' is already unit {seen[folded] + 1} of this batch."
                )
            seen.setdefault(folded, index)
    return errors


def _unit(unit: object, today: date) -> tuple[dict, dict[str, list[str]]]:
    if not isinstance(unit, dict):
        return {}, {"unit": ["Must be an object."]}
    fields: dict = {}
    errors: dict[str, list[str]] = {}
    for name in unit:
        if name not in UNIT_FIELDS:
            errors.setdefault(str(name)[:40], []).append("Unknown field.")
    for name, (longest, required) in UNIT_FIELDS.items():
        value = unit.get(name)
        if isinstance(value, date):  # parsed already (the API's schema)
            value = value.isoformat()
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                errors[name] = ["Required."]
            continue
        if not isinstance(value, str):
            errors[name] = ["Must be text."]
        elif (why := text_refusal(value)) is not None:
            errors[name] = [why]
        elif len(value) > longest:
            errors[name] = [f"At most {longest} characters."]
        else:
            fields[name] = " ".join(value.split()) if name != "fault_description" else value.strip()
    if "purchase_date" in fields:
        try:
            bought = date.fromisoformat(fields["purchase_date"])
        except ValueError:
            errors["purchase_date"] = [f"'{fields.pop('purchase_date')}' is not a date (YYYY-MM-DD)."]
        else:
            if bought > today:
                errors["purchase_date"] = ["Must not be in the future."]
            fields["purchase_date"] = bought
    return fields, errors


def _batch_of_unit(orc: Orchestrator, actor: Actor, rma_id: int) -> dict:
    """The batch an earlier request with the same Idempotency-Key opened (its first unit holds the key)."""
    with orc.reading() as s:
        batch_id = s.scalar(select(Rma.batch_id).where(Rma.id == rma_id))
    if batch_id is None:
        message = f"this {idempotency.HEADER} was used for an RMA, not a batch"
        raise InvalidInput(message, {idempotency.HEADER: [message]})
    return get_batch(orc, actor, batch_id)


def _visible_batch(s: Session, actor: Actor, batch_id: int) -> Batch:
    batch = s.get(Batch, batch_id)
    if batch is None or actor.role not in READING_ROLES:
        raise BatchNotFound(f"batch {batch_id} not found")
    if actor.is_partner:
        if batch.organisation_id != actor.organisation:
            raise BatchNotFound(f"batch {batch_id} not found")
    elif not actor.may_see_centre(batch.centre_code):
        raise BatchNotFound(f"batch {batch_id} not found")
    return batch


def get_batch(orc: Orchestrator, actor: Actor, batch_id: int) -> dict:
    """The batch with its units (status, stage, estimate, quote), how many are at each status, and the rolled-up
    estimate: the latest of its open units' estimates, when the last unit should be back."""
    with orc.reading() as s:
        batch = _visible_batch(s, actor, batch_id)
        org = s.get(Organisation, batch.organisation_id)
        rmas = s.scalars(select(Rma).where(Rma.batch_id == batch.id).order_by(Rma.id)).all()
        units = unit_views(s, rmas)
    by_status: dict[str, int] = {}
    for u in units:
        by_status[u["status"]] = by_status.get(u["status"], 0) + 1
    open_units = [u for u in units if u["closed_at"] is None]
    estimated = [u["estimate"] for u in open_units if u["estimate"]]
    return {
        **_batch_view(batch, org),
        "by_status": by_status,
        "open_units": len(open_units),
        "estimate": (
            {
                "earliest": max(e["earliest"] for e in estimated),
                "latest": max(e["latest"] for e in estimated),
                "units_without_estimate": len(open_units) - len(estimated),
            }
            if estimated
            else None
        ),
        "units": units,
    }


def _batch_view(batch: Batch, org: Organisation | None) -> dict:
    return {
        "id": batch.id,
        "number": batch.number,
        "centre": batch.centre_code,
        "organisation": {"id": org.id, "name": org.name} if org is not None else None,
        "reference": batch.reference,
        "unit_count": batch.unit_count,
        "created_by": batch.created_by,
        "created_at": batch.created_at,
    }


def list_batches(orc: Orchestrator, actor: Actor, page: int = 1, per_page: int = 25) -> dict:
    """The batches the actor may see, newest first: a partner's own; staff, their centre's."""
    if actor.role not in READING_ROLES:
        raise NotAllowed("your role may not read batches")
    page, per_page = page_bounds(page, per_page)
    query = select(Batch)
    if actor.is_partner:
        query = query.where(Batch.organisation_id == actor.organisation)
    elif not actor.is_global:
        query = query.where(Batch.centre_code == actor.centre)
    with orc.reading() as s:
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        batches = s.scalars(query.order_by(Batch.id.desc()).limit(per_page).offset((page - 1) * per_page)).all()
        ids = [b.id for b in batches]
        org_ids = {b.organisation_id for b in batches}
        orgs = {o.id: o for o in s.scalars(select(Organisation).where(Organisation.id.in_(org_ids)))}
        counts: dict[int | None, dict[str, int]] = {}
        for batch_id, status, n in s.execute(
            select(Rma.batch_id, Rma.status, func.count())
            .where(Rma.batch_id.in_(ids))
            .group_by(Rma.batch_id, Rma.status)
        ):
            counts.setdefault(batch_id, {})[status] = n
    items = [{**_batch_view(b, orgs.get(b.organisation_id)), "by_status": counts.get(b.id, {})} for b in batches]
    return {"items": items, "total": total, "page": page, "per_page": per_page}
