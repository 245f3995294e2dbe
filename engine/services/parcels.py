"""Inbound parcels: reception scans or types the RMA number and the waiting request moves into intake."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from engine.actors import Actor
from engine.errors import Conflict, NotAllowed, RmaNotFound
from engine.services.instances import apply, lock_instance
from engine.services.register import serial_key
from engine.store.audit import audit
from engine.store.model import Rma, RmaRequest, utcnow

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

RECEIVING_ROLES = ("reception", "manager")
NUMBER = re.compile(r"RMA-[A-Z0-9]{1,16}-\d{1,12}")


def normalise_number(text: str) -> str:
    """A scanner types what the barcode holds; people type lower case or add spaces."""
    found = NUMBER.search(re.sub(r"\s+", "", (text or "")).upper())
    return found.group(0) if found else ""


def receive_parcel(orc: Orchestrator, actor: Actor, number: str, received_serial: str | None = None) -> dict:
    """The parcel of `number` arrived: deliver the `parcel_received` message (409 when none is awaited).

    `received_serial` is the serial reception read on the unit; one that differs from the declared serial is
    kept on the RMA (rmas.received_serial) and flagged to staff."""
    if actor.role not in RECEIVING_ROLES:
        raise NotAllowed("only reception or a manager may book in parcels")
    clean = normalise_number(number)
    with orc.uow() as uow:
        s = uow.session
        rma = s.scalar(select(Rma).where(func.upper(Rma.number) == clean)) if clean else None
        if rma is None or not actor.may_see_centre(rma.centre_code):
            raise RmaNotFound(f"no RMA numbered '{(number or '').strip()[:40]}' at your centre")
        instance = lock_instance(s, rma.id)  # before any task row, in the timer sweep's order
        workflow = orc.runtime.load(
            orc.parsed_bundle(s, instance.bundle_id), instance.state, instance.serializer_version
        )
        if "parcel_received" not in orc.runtime.awaited_messages(workflow):
            raise Conflict(_why_not(rma))
        now = utcnow()
        request = s.get(RmaRequest, rma.id)
        if request is not None:
            request.parcel_received_at, request.parcel_received_by = now, actor.username
        seen = " ".join((received_serial or "").split())
        differs = bool(seen) and serial_key(seen) != serial_key(rma.serial_number)
        if differs:
            rma.received_serial = seen
        detail = f"parcel for {rma.number} booked in" + (f" (serial on the unit: {seen})" if differs else "")
        audit(s, rma.id, actor, "parcel_received", detail, data={"received_serial": seen} if differs else None)
        payload = {"received_by": actor.username, "received_at": now.isoformat()}
        apply(orc, s, rma, actor, lambda wf: orc.runtime.deliver_message(wf, "parcel_received", payload))
        uow.commit()
        return {
            "id": rma.id,
            "number": rma.number,
            "status": rma.status,
            "stage": rma.stage,
            "received_serial": seen if differs else None,
        }


def _why_not(rma: Rma) -> str:
    if rma.status == "requested":
        return (
            f"{rma.number} is still in troubleshooting: review the request in the inbox "
            "and authorise the shipment first"
        )
    if rma.status == "closed":
        return f"{rma.number} is closed ({rma.outcome or 'done'})"
    return f"{rma.number} is not waiting for a parcel: it is {rma.status.replace('_', ' ')}"
