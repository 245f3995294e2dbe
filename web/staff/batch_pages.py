"""A batch's parcels at reception (issue 17, point 3): book one parcel in (scan or tick), send ready units back
together, and the units' serial flags (the packing slip is on the batch page, web.partners.batch_parcel_pages)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from engine.errors import Conflict, InvalidInput
from engine.services import batch_parcels, batches

from ..auth import orchestrator, roles_required, staff_actor
from . import bp

READING = ("reception", "technician", "qa", "manager")


def _render(batch_id: int, status: int = 200, arrival: dict | None = None, errors: dict | None = None):
    actor = staff_actor()
    batch = batches.get_batch(orchestrator(), actor, batch_id)
    parcels = batch_parcels.parcels_of(orchestrator(), actor, batch_id)
    return render_template(
        "staff/batch_parcels.html",
        batch=batch,
        parcels=parcels,
        arrival=arrival,
        errors=errors or {},
        may_receive=actor.role in batch_parcels.RECEIVING_ROLES,
    ), status


@bp.get("/batches/<int:batch_id>/parcels")
@roles_required(*READING)
def batch_parcels_page(batch_id: int):
    return _render(batch_id)


@bp.post("/batches/<int:batch_id>/arrivals")
@roles_required(*batch_parcels.RECEIVING_ROLES)
def batch_book_in(batch_id: int):
    """The scanner types one number or serial per line; ticked units may name the serial on their label."""
    scans = [line for line in request.form.get("scans", "").splitlines() if line.strip()]
    units = []
    for value in request.form.getlist("unit"):
        if value.isdigit():
            serial = request.form.get(f"serial-{value}", "").strip()
            units.append({"rma_id": int(value), **({"serial": serial} if serial else {})})
    try:
        arrival = batch_parcels.book_in(orchestrator(), staff_actor(), batch_id, scans, units)
    except InvalidInput as exc:
        flash(f"Not booked in: {exc.message}.", "error")
        return _render(batch_id, 422, errors=exc.errors if isinstance(exc.errors, dict) else {})
    flash(
        f"Parcel booked in: {len(arrival['arrived'])} unit(s) arrived, {len(arrival['missing'])} still awaited, "
        f"{len(arrival['unexpected'])} unexpected.",
        "warning" if arrival["missing"] or arrival["unexpected"] else "success",
    )
    return _render(batch_id, arrival=arrival)


@bp.post("/batches/<int:batch_id>/shipments")
@roles_required(*batch_parcels.RECEIVING_ROLES)
def batch_ship_back(batch_id: int):
    ids = [int(v) for v in request.form.getlist("rma_id") if v.isdigit()]
    try:
        sent = batch_parcels.ship_back(
            orchestrator(),
            staff_actor(),
            batch_id,
            ids,
            request.form.get("carrier", ""),
            request.form.get("tracking_number", ""),
        )
    except (InvalidInput, Conflict) as exc:
        flash(f"Not shipped: {exc.message}.", "error")
        return _render(batch_id, 409 if isinstance(exc, Conflict) else 422)
    flash(
        f"{len(sent['units'])} unit(s) sent back in one parcel ({sent['carrier']} {sent['tracking_number']}).",
        "success",
    )
    return redirect(url_for("staff.batch_parcels_page", batch_id=batch_id))
