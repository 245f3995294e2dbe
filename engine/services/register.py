"""The register of units sold, the date a unit's warranty counts from, and the serial flags on an RMA.

The warranty check (processes/stages/rma_warranty.bpmn and decisions/warranty.dmn) stays the one step that
decides; this module only prepares its input, `warranty_start_date` and `warranty_date_basis`, in a fixed order:
the registered installation date, then the proof of purchase date, then the maker's ship date plus the model's
grace period (catalogue_models.ship_grace_days). The RMA keeps which date it was (rmas.warranty_date and
rmas.warranty_basis) so staff and the customer are told.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.errors import Conflict, NotAllowed, NotFound, text_refusal
from engine.services.register_rows import RegisterImportError, clean_units, err, parse_csv
from engine.services.views import page_bounds
from engine.store.audit import audit
from engine.store.model import CatalogueModel, Organisation, RegisteredUnit, Rma, utcnow

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

BASES = ("installation", "purchase", "ship")  # the order: the first the RMA has wins
DEFAULT_GRACE_DAYS = 90
EDITOR_ROLES = ("manager",)
READER_ROLES = ("reception", "technician", "qa", "manager")

__all__ = [
    "RegisterImportError",
    "import_csv",
    "import_units",
    "get_unit",
    "warranty_start",
    "serial_flags",
    "serial_flags_of",
]


def serial_key(serial: str | None) -> str:
    """Serials are compared without surrounding or doubled spaces and without case."""
    return " ".join((serial or "").split()).casefold()


_KNOWN = "register_units_read"  # session.info: serial key -> unit (or None), read at once for a batch's units


def find(session: Session, serial: str | None) -> RegisteredUnit | None:
    key = serial_key(serial)
    if not _stored_like(key):  # no stored serial is like it: not queried
        return None
    known = session.info.get(_KNOWN)
    if known is not None and key in known:
        return known[key]
    return session.scalar(select(RegisteredUnit).where(RegisteredUnit.serial_key == key))


def _stored_like(key: str) -> bool:
    return bool(key) and len(key) <= 120 and text_refusal(key) is None


@contextmanager
def units_read_at_once(session: Session, serials: Iterable[str | None]) -> Iterator[None]:
    """Inside it, `find` answers these serials from one query made here (a batch's units open in one transaction
    that writes no registered unit), not one query each."""
    keys = [k for k in {serial_key(s) for s in serials} if _stored_like(k)]
    known: dict[str, RegisteredUnit | None] = dict.fromkeys(keys)
    for chunk in range(0, len(keys), 500):
        for unit in session.scalars(
            select(RegisteredUnit).where(RegisteredUnit.serial_key.in_(keys[chunk : chunk + 500]))
        ):
            known[unit.serial_key] = unit
    outer = session.info.get(_KNOWN)  # nested: an outer read's serials stay known, and come back after
    session.info[_KNOWN] = known if outer is None else {**outer, **known}
    try:
        yield
    finally:
        if outer is None:
            session.info.pop(_KNOWN, None)
        else:
            session.info[_KNOWN] = outer


def grace_days(session: Session, model: str | None) -> int:
    row = session.scalar(select(CatalogueModel).where(CatalogueModel.model_key == (model or "").strip().casefold()))
    return row.ship_grace_days if row is not None else DEFAULT_GRACE_DAYS


def warranty_start(
    session: Session, serial: str | None, model: str | None, purchase_date: date | None
) -> tuple[date | None, str | None]:
    """(date, basis) the warranty counts from: installation, else purchase, else ship + grace; (None, None)."""
    unit = find(session, serial)
    if unit is not None and unit.installed_on is not None:
        return unit.installed_on, "installation"
    if purchase_date is not None:
        return purchase_date, "purchase"
    if unit is not None:
        return unit.shipped_on + timedelta(days=grace_days(session, unit.model or model)), "ship"
    return None, None


def start_inputs(session: Session, rma: Rma, purchase_declared: bool = True) -> dict:
    """Set the RMA's warranty date and basis; the warranty check's inputs for its start data."""
    bought = rma.purchase_date if purchase_declared else None
    when, basis = warranty_start(session, rma.serial_number, rma.product_model, bought)
    rma.warranty_date, rma.warranty_basis = when, basis
    return {"warranty_start_date": when.isoformat() if when else None, "warranty_date_basis": basis or "none"}


def serial_flags(session: Session, rma: Rma) -> list[dict]:
    """What staff should look at about the unit's serial: in two open RMAs, not the one declared, not registered."""
    return serial_flags_of(session, [rma])[rma.id]


def serial_flags_of(session: Session, rmas: Sequence[Rma]) -> dict[int, list[dict]]:
    """serial_flags of each RMA by id, in two queries whatever their number (a batch's parcels view)."""
    others = _open_with_serials(session, rmas)
    flags: dict[int, list[dict]] = {}
    with units_read_at_once(session, (r.received_serial or r.serial_number for r in rmas)):
        for rma in rmas:
            mine = [(n, c) for i, n, c in others.get(rma.serial_number, []) if i != rma.id][:_OTHERS_NAMED]
            flags[rma.id] = _flags(rma, mine, find(session, rma.received_serial or rma.serial_number) is not None)
    return flags


_OTHERS_NAMED = 5  # other open RMAs with the serial looked at per RMA


def _open_with_serials(session: Session, rmas: Sequence[Rma]) -> dict[str, list[tuple[int, str | None, str]]]:
    """The open RMAs with the serials of `rmas`, by serial, oldest first: enough per serial that each RMA of `rmas`
    has its first _OTHERS_NAMED others (one window query, not one per RMA)."""
    serials = [r.serial_number for r in rmas if r.serial_number is not None]
    if not serials:
        return {}
    per_serial = _OTHERS_NAMED + max(serials.count(x) for x in set(serials))
    rank = func.row_number().over(partition_by=Rma.serial_number, order_by=Rma.id).label("rank")
    ranked = (
        select(Rma.id, Rma.number, Rma.centre_code, Rma.serial_number, rank)
        .where(Rma.serial_number.in_(set(serials)), Rma.status != "closed")
        .subquery()
    )
    found: dict[str, list[tuple[int, str | None, str]]] = {}
    for rma_id, number, centre, serial in session.execute(
        select(ranked.c.id, ranked.c.number, ranked.c.centre_code, ranked.c.serial_number)
        .where(ranked.c.rank <= per_serial)
        .order_by(ranked.c.id)
    ):
        found.setdefault(serial, []).append((rma_id, number, centre))
    return found


def _flags(rma: Rma, others: list[tuple[str | None, str]], registered: bool) -> list[dict]:
    flags: list[dict] = []
    if others and rma.status != "closed":
        # another centre's RMA is not named: its staff see this page, not that RMA (centres are kept apart)
        named = [number or "" for number, centre in others if centre == rma.centre_code]
        elsewhere = len(others) - len(named)
        parts = [f"open RMA {', '.join(named)}"] if named else []
        if elsewhere:
            parts.append(f"{elsewhere} open RMA(s) at another centre")
        flags.append(
            {
                "code": "serial_in_open_rmas",
                "message": f"Serial {rma.serial_number} is also in {' and in '.join(parts)}.",
                "rmas": named,
            }
        )
    if rma.received_serial and serial_key(rma.received_serial) != serial_key(rma.serial_number):
        flags.append(
            {
                "code": "serial_differs",
                "message": f"The unit received has serial {rma.received_serial}, not the declared {rma.serial_number}.",
            }
        )
    if not registered:
        flags.append(
            {
                "code": "serial_not_registered",
                "message": f"Serial {rma.received_serial or rma.serial_number} is not in the register of units sold.",
            }
        )
    return flags


def warranty_view(rma: Rma) -> dict:
    return {"date": rma.warranty_date, "basis": rma.warranty_basis}


def unit_view(unit: RegisteredUnit, organisation: str | None = None) -> dict:
    return {
        "serial_number": unit.serial_number,
        "model": unit.model,
        "ship_date": unit.shipped_on,
        "organisation_id": unit.organisation_id,
        "organisation": organisation,
        "installation_date": unit.installed_on,
        "updated_at": unit.updated_at,
    }


def _require(actor: Actor, roles: tuple[str, ...]) -> None:
    if actor.role not in roles:
        raise NotAllowed("only a manager may change the register of units sold")


def import_csv(orc: Orchestrator, actor: Actor, data: bytes) -> dict:
    """Import a CSV of units sold in one transaction; every problem is listed by line and column first."""
    _require(actor, EDITOR_ROLES)
    return _store(orc, actor, parse_csv(data))


def import_units(orc: Orchestrator, actor: Actor, units: list[dict]) -> dict:
    """Register or update units from JSON (`POST /api/register/units`); problems are listed by line = index + 1."""
    _require(actor, EDITOR_ROLES)
    rows, errors = clean_units([(n + 1, u) for n, u in enumerate(units or [])])
    if errors:
        raise RegisterImportError(f"{len(errors)} problem(s); nothing was registered", errors)
    if not rows:
        raise RegisterImportError("no units", [err(1, None, "No units to register.")])
    return _store(orc, actor, rows)


def _store(orc: Orchestrator, actor: Actor, rows: list[tuple[int, dict]]) -> dict:
    with orc.uow() as uow:
        s = uow.session
        names = {r["organisation"].casefold() for _, r in rows if r.get("organisation")}
        by_name = {
            o.name.casefold(): o.id
            for o in s.scalars(select(Organisation).where(func.lower(Organisation.name).in_(names)))
        }
        ids = {r["organisation_id"] for _, r in rows if r.get("organisation_id") is not None}
        known_ids = set(s.scalars(select(Organisation.id).where(Organisation.id.in_(ids)))) if ids else set()
        errors = []
        for line, row in rows:
            name = row.get("organisation")
            if name and name.casefold() not in by_name:
                errors.append(err(line, "organisation", f"No partner organisation is named '{name}'."))
            if row.get("organisation_id") is not None and row["organisation_id"] not in known_ids:
                errors.append(err(line, "organisation_id", f"No partner organisation {row['organisation_id']}."))
        if errors:
            raise RegisterImportError(f"{len(errors)} problem(s); nothing was registered", errors)
        keys = [serial_key(r["serial_number"]) for _, r in rows]
        existing = {
            u.serial_key: u for u in s.scalars(select(RegisteredUnit).where(RegisteredUnit.serial_key.in_(keys)))
        }
        now, created = utcnow(), 0
        for (_, row), key in zip(rows, keys, strict=True):
            unit = existing.get(key)
            if unit is None:
                unit = RegisteredUnit(serial_key=key)
                s.add(unit)
                created += 1
            org = by_name.get(row["organisation"].casefold()) if row.get("organisation") else row.get("organisation_id")
            unit.serial_number, unit.model, unit.shipped_on = row["serial_number"], row["model"], row["ship_date"]
            unit.organisation_id = org
            if row.get("installation_date") is not None:  # a row without one keeps a registration made before
                unit.installed_on = row["installation_date"]
            unit.updated_by, unit.updated_at = actor.username, now
        try:
            uow.flush()
        except IntegrityError:  # an import at the same moment registered one of these serials first
            raise Conflict(
                "another import registered some of these serials at the same moment; send it again"
            ) from None
        audit(
            s,
            None,
            actor,
            "register_imported",
            f"{len(rows)} unit(s) registered ({created} new)",
            data={"serials": [r["serial_number"] for _, r in rows][:200]},
        )
        uow.commit()
    return {"imported": len(rows), "created": created, "updated": len(rows) - created}


def get_unit(orc: Orchestrator, actor: Actor, serial: str) -> dict:
    """One registered unit by serial (case and spaces ignored); 404 when the register does not know it."""
    _require_reader(actor)
    with orc.reading() as s:
        unit = find(s, serial)
        if unit is None:
            raise NotFound("this serial is not in the register of units sold")
        org = s.get(Organisation, unit.organisation_id) if unit.organisation_id is not None else None
        return unit_view(unit, org.name if org is not None else None)


def list_units(orc: Orchestrator, actor: Actor, page: int = 1, per_page: int = 50) -> dict:
    _require_reader(actor)
    page, per_page = page_bounds(page, per_page)
    with orc.reading() as s:
        total = s.scalar(select(func.count()).select_from(RegisteredUnit)) or 0
        units = s.scalars(
            select(RegisteredUnit).order_by(RegisteredUnit.id.desc()).offset((page - 1) * per_page).limit(per_page)
        ).all()
        return {"items": [unit_view(u) for u in units], "total": total, "page": page, "per_page": per_page}


def _require_reader(actor: Actor) -> None:
    if actor.role not in READER_ROLES:
        raise NotAllowed("only staff may read the register of units sold")
