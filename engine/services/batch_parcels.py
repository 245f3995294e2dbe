"""A batch's parcels (issue 17, point 3): one packing slip and one parcel in, grouped parcels out.

Book-in: reception scans (RMA numbers or serials) or ticks the units that arrived; each arrived unit's RMA moves on
through its own inbound step exactly as a single RMA's parcel does (engine.services.parcels.receive_parcel, one
command per unit under its own lock); a declared unit not in the parcel is missing and waits, a scanned serial no
unit declared is unexpected; both are kept on the arrival (batch_arrivals). Ship-back: reception picks ready units
for one parcel; each unit's return is recorded by completing its own `ship_return` task (engine.services.tasks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.errors import Conflict, EngineError, InvalidInput, NotAllowed, text_refusal
from engine.services import parcels, tasks
from engine.services.batches import BatchNotFound, _visible_batch
from engine.services.register import serial_flags_of, serial_key
from engine.store.model import Batch, BatchArrival, Centre, HumanTask, Organisation, Rma, Shipment, utcnow

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

RECEIVING_ROLES = ("reception", "manager")
RETURN_TASK = "ship_return"
MAX_SCANS = 1000
TEXT_MAX = {"scan": 120, "serial": 120, "carrier": 80, "tracking_number": 120}


def _staff_batch(s: Session, actor: Actor, batch_id: int) -> Batch:
    if actor.role not in RECEIVING_ROLES:
        raise NotAllowed("only reception or a manager may book in or ship a batch's parcels")
    return _visible_batch(s, actor, batch_id)


def _text(value: object, field: str, errors: dict) -> str:
    if not isinstance(value, str):
        errors.setdefault(field, []).append("Must be text.")
        return ""
    if (why := text_refusal(value)) is not None:
        errors.setdefault(field, []).append(why)
        return ""
    clean = " ".join(value.split())
    if len(clean) > TEXT_MAX[field]:
        errors.setdefault(field, []).append(f"At most {TEXT_MAX[field]} characters.")
        return ""
    return clean


def packing_slip(orc: Orchestrator, actor: Actor, batch_id: int) -> dict:
    """The batch's one packing slip: where to send it, and every unit with its RMA number (the barcode)."""
    with orc.reading() as s:
        batch = _visible_batch(s, actor, batch_id)
        centre = s.get(Centre, batch.centre_code)
        org = s.get(Organisation, batch.organisation_id)
        rmas = s.scalars(select(Rma).where(Rma.batch_id == batch.id).order_by(Rma.id)).all()
        return {
            "number": batch.number,
            "reference": batch.reference,
            "organisation": org.name if org is not None else "",
            "language": org.language if org is not None else "en",
            "centre": {"code": batch.centre_code, "name": centre.name if centre else batch.centre_code},
            "units": [
                {"number": r.number, "model": r.product_model, "serial_number": r.serial_number, "site": r.site}
                for r in rmas
            ],
        }


def book_in(
    orc: Orchestrator, actor: Actor, batch_id: int, scans: list | None = None, units: list | None = None
) -> dict:
    """Book in one parcel of a batch: `scans` are what the scanner typed (RMA numbers or serials), `units` the
    ticked ones ({"rma_id", "serial"?: what the unit's label reads}). Every arrived unit moves on through its
    inbound step; the missing (declared, not here) and the unexpected (here, not declared) are recorded."""
    scans, units = scans or [], units or []
    if not isinstance(scans, list) or not isinstance(units, list) or len(scans) + len(units) > MAX_SCANS:
        raise InvalidInput("scans and units are lists", {"scans": [f"At most {MAX_SCANS} scans and units."]})
    errors: dict[str, list[str]] = {}
    scanned = [s for s in (_text(v, "scan", errors) for v in scans) if s]
    ticked: list[tuple[int, str]] = []
    for unit in units:
        rma_id = unit.get("rma_id") if isinstance(unit, dict) else None
        if isinstance(rma_id, bool) or not isinstance(rma_id, int):
            errors.setdefault("units", []).append("Each unit names its rma_id.")
            continue
        seen = unit.get("serial") or ""
        ticked.append((rma_id, _text(seen, "serial", errors) if seen else ""))
    if errors:
        raise InvalidInput("the book-in has invalid fields", errors)
    if not scanned and not ticked:
        raise InvalidInput("nothing was scanned or ticked", {"scans": ["Scan or tick at least one unit."]})
    with orc.reading() as s:
        batch = _staff_batch(s, actor, batch_id)
        rmas = s.scalars(select(Rma).where(Rma.batch_id == batch.id).order_by(Rma.id)).all()
    by_id = {r.id: r for r in rmas}
    by_number = {(r.number or "").upper(): r for r in rmas}
    by_serial = {serial_key(r.serial_number): r for r in rmas}
    here: dict[int, str] = {}
    unexpected: list[str] = []
    for text in scanned:
        number = parcels.normalise_number(text)
        rma = by_number.get(number) if number else None
        rma = rma or by_serial.get(serial_key(text))
        if rma is None:
            unexpected.append(text)
        else:
            here.setdefault(rma.id, "")
    for rma_id, seen in ticked:
        if rma_id not in by_id:
            raise InvalidInput("a ticked unit is not in this batch", {"units": [f"RMA {rma_id} is not in the batch."]})
        here[rma_id] = seen or here.get(rma_id, "")
    arrived, already = [], []
    for rma_id in sorted(here):  # one command per unit, each under its own lock, in id order
        rma = by_id[rma_id]
        try:
            parcels.receive_parcel(orc, actor, rma.number or "", received_serial=here[rma_id] or None)
            arrived.append(rma.number)
        except Conflict:
            already.append(rma.number)
    with orc.uow() as uow:
        s = uow.session
        waiting = s.scalars(
            select(Rma.serial_number).where(Rma.batch_id == batch_id, Rma.status == "awaiting_unit").order_by(Rma.id)
        ).all()
        arrival = BatchArrival(
            batch_id=batch_id,
            arrived=arrived,
            missing=list(waiting),
            unexpected=unexpected,
            received_by=actor.username,
            received_at=utcnow(),
        )
        if arrived or unexpected:  # a repeat of a parcel already booked in (another counter) records nothing new
            s.add(arrival)
            uow.commit()
        return {**arrival_view(arrival), "already_arrived": already}


def arrival_view(a: BatchArrival) -> dict:
    return {
        "id": a.id,
        "arrived": list(a.arrived or []),
        "missing": list(a.missing or []),
        "unexpected": list(a.unexpected or []),
        "received_by": a.received_by,
        "received_at": a.received_at,
    }


def ship_back(
    orc: Orchestrator, actor: Actor, batch_id: int, rma_ids: list, carrier: object, tracking_number: object
) -> dict:
    """Send ready units of a batch back in one parcel: each unit's `ship_return` task is completed (its own
    command and lock); the shipment lists the units whose return was recorded (409 when none was)."""
    errors: dict[str, list[str]] = {}
    clean_carrier = _text(carrier, "carrier", errors)
    clean_tracking = _text(tracking_number, "tracking_number", errors)
    if not clean_carrier and "carrier" not in errors:
        errors["carrier"] = ["Required."]
    if not clean_tracking and "tracking_number" not in errors:
        errors["tracking_number"] = ["Required."]
    ids = rma_ids if isinstance(rma_ids, list) else []
    if not ids or any(isinstance(i, bool) or not isinstance(i, int) for i in ids) or len(ids) > MAX_SCANS:
        errors["rma_ids"] = ["Choose at least one unit."]
    if errors:
        raise InvalidInput("the shipment has invalid fields", errors)
    with orc.reading() as s:
        batch = _staff_batch(s, actor, batch_id)
        rows = s.execute(
            select(Rma.id, Rma.number, HumanTask.id)
            .outerjoin(
                HumanTask,
                (HumanTask.rma_id == Rma.id) & (HumanTask.name == RETURN_TASK) & (HumanTask.status == "open"),
            )
            .where(Rma.batch_id == batch.id, Rma.id.in_(set(ids)))
        ).all()
    found = {r[0]: r for r in rows}
    missing = sorted(set(ids) - set(found))
    if missing:
        raise InvalidInput(
            "a unit is not in this batch", {"rma_ids": [f"RMA {i} is not in the batch." for i in missing]}
        )
    not_ready = [found[i][1] for i in sorted(found) if found[i][2] is None]
    if not_ready:
        raise Conflict(f"not ready to go back: {', '.join(n or '' for n in not_ready)}")
    form = {"carrier": clean_carrier, "tracking_number": clean_tracking}
    sent: list[int] = []
    for rma_id in sorted(found):  # each unit's own return step, under its own lock
        try:
            tasks.complete_task(orc, actor, found[rma_id][2], form)
            sent.append(rma_id)
        except EngineError as exc:
            if exc.status not in (404, 409):
                raise
    if not sent:
        raise Conflict("none of these units was waiting to go back (already shipped?)")
    with orc.uow() as uow:
        s = uow.session
        shipment = Shipment(
            batch_id=batch_id,
            carrier=clean_carrier,
            tracking_number=clean_tracking,
            unit_count=len(sent),
            created_by=actor.username,
            created_at=utcnow(),
        )
        s.add(shipment)
        uow.flush()
        for rma in s.scalars(select(Rma).where(Rma.id.in_(sent))):
            rma.return_shipment_id = shipment.id
        numbers = [found[i][1] for i in sent]
        uow.commit()
        return {**shipment_view(shipment, numbers)}


def shipment_view(sh: Shipment, numbers: list) -> dict:
    return {
        "id": sh.id,
        "carrier": sh.carrier,
        "tracking_number": sh.tracking_number,
        "units": numbers,
        "created_by": sh.created_by,
        "created_at": sh.created_at,
    }


def parcels_of(orc: Orchestrator, actor: Actor, batch_id: int) -> dict:
    """The batch's arrivals and shipments, which units are ready to go back, and each unit's serial flags."""
    with orc.reading() as s:
        batch = _visible_batch(s, actor, batch_id)
        arrivals = s.scalars(select(BatchArrival).where(BatchArrival.batch_id == batch.id).order_by(BatchArrival.id))
        shipments = s.scalars(select(Shipment).where(Shipment.batch_id == batch.id).order_by(Shipment.id)).all()
        rmas = s.scalars(select(Rma).where(Rma.batch_id == batch.id).order_by(Rma.id)).all()
        numbers = {r.id: r.number for r in rmas}
        ready = set(
            s.scalars(
                select(HumanTask.rma_id).where(
                    HumanTask.rma_id.in_(list(numbers)), HumanTask.name == RETURN_TASK, HumanTask.status == "open"
                )
            )
        )
        staff = not actor.is_partner
        return {
            "arrivals": [arrival_view(a) for a in arrivals],
            "shipments": [
                shipment_view(sh, [numbers[r.id] for r in rmas if r.return_shipment_id == sh.id]) for sh in shipments
            ],
            "awaiting": [r.id for r in rmas if r.status == "awaiting_unit"],
            "ready_to_ship": sorted(ready),
            "flags": serial_flags_of(s, rmas) if staff else {},
        }


__all__ = ["BatchNotFound", "book_in", "ship_back", "packing_slip", "parcels_of"]
