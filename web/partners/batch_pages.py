"""Batch pages: open a batch from a table or a CSV file, list batches, one batch with its units per status."""

from __future__ import annotations

import uuid

from flask import flash, redirect, render_template, request, url_for

from engine.errors import InvalidInput, NotAllowed
from engine.services import batches, catalogue, partners
from engine.services.batch_csv import BatchFileError

from ..auth import orchestrator, roles_required, staff_actor
from . import bp

OPENING = ("partner", "reception", "manager")
UNIT_COLUMNS = ("model", "serial_number", "fault_description", "purchase_date", "site", "customer_reference")
TABLE_ROWS, TABLE_ROWS_MAX = 8, batches.MAX_UNITS
UPLOAD_MAX = 2 * 1024 * 1024


@bp.get("/batches")
@roles_required(*batches.READING_ROLES)
def batch_list():
    page = request.args.get("page", "1")
    result = batches.list_batches(
        orchestrator(), staff_actor(), page=int(page) if page.isdigit() and len(page) < 8 else 1
    )
    return render_template("partner/batches.html", result=result)


@bp.get("/batches/<int:batch_id>")
@roles_required(*batches.READING_ROLES)
def batch(batch_id: int):
    return render_template("partner/batch.html", batch=batches.get_batch(orchestrator(), staff_actor(), batch_id))


def _organisation_arg() -> int | None:
    value = request.values.get("organisation", "")
    return int(value) if value.isdigit() and len(value) < 12 else None


def _context(actor) -> dict:
    """The centre and organisation a batch opened here is for: a partner's own; staff choose the organisation."""
    orc = orchestrator()
    if actor.is_partner:
        org = partners.get_organisation(orc, actor, actor.organisation or 0)
        return {"organisation": org, "choices": []}
    org_id = _organisation_arg()
    chosen = partners.get_organisation(orc, actor, org_id) if org_id is not None else None
    return {"organisation": chosen, "choices": partners.list_organisations(orc, actor)}


def _table_units() -> list[dict]:
    count = request.form.get("rows", "0")
    rows = min(int(count), TABLE_ROWS_MAX) if count.isdigit() and len(count) < 6 else 0
    units = []
    for i in range(rows):
        cells = {c: request.form.get(f"{c}-{i}", "").strip() for c in UNIT_COLUMNS}
        if any(cells.values()):
            units.append({"row": i, **{k: v for k, v in cells.items() if v or k in UNIT_COLUMNS[:3]}})
    return units


@bp.route("/batches/new", methods=["GET", "POST"])
@roles_required(*OPENING)
def new_batch():
    actor, orc = staff_actor(), orchestrator()
    context = _context(actor)
    values: dict = {"reference": "", "rows": [{} for _ in range(TABLE_ROWS)]}
    errors: dict = {}
    file_errors: list = []
    status = 200
    if request.method == "POST" and context["organisation"] is not None:
        org = context["organisation"]
        reference = request.form.get("reference", "").strip()
        key = request.form.get("form_key") or None
        try:
            if request.form.get("source") == "file":
                upload = request.files.get("file")
                data = upload.stream.read(UPLOAD_MAX + 1) if upload is not None else b""
                opened = batches.open_batch_from_csv(
                    orc, actor, org["centre"], data, reference, None if actor.is_partner else org["id"], key
                )
            else:
                units = _table_units()
                rows = [u.pop("row") for u in units]
                payload: dict = {"centre": org["centre"], "reference": reference, "units": units}
                if not actor.is_partner:
                    payload["organisation"] = org["id"]
                values = {"reference": reference, "rows": _rows_for_form(units, rows)}
                try:
                    opened = batches.open_batch(orc, actor, payload, key)
                except InvalidInput as exc:
                    errors = _table_errors(exc, rows)
                    raise
        except BatchFileError as exc:
            file_errors, status = list(exc.errors or []), 422
            values["reference"] = reference
        except InvalidInput as exc:
            status = 422
            if not errors:
                errors = {"_form": [exc.message]}
        except NotAllowed as exc:
            flash(exc.message, "error")
            status = 403
        else:
            flash(f"Batch {opened['number']} opened with {len(opened['units'])} unit(s).", "success")
            return redirect(url_for("partner.batch", batch_id=opened["id"]))
    return render_template(
        "partner/batch_new.html",
        **context,
        values=values,
        errors=errors,
        file_errors=file_errors,
        columns=UNIT_COLUMNS,
        max_units=batches.MAX_UNITS,
        models=[m["model"] for m in catalogue.list_models(orc)],
        form_key=uuid.uuid4().hex,
    ), status


def _rows_for_form(units: list[dict], rows: list[int]) -> list[dict]:
    """The table as it was sent (blank rows dropped), with a few blank rows after it."""
    return [dict(u) for u in units] + [{} for _ in range(max(2, TABLE_ROWS - len(units)))]


def _table_errors(exc: InvalidInput, rows: list[int]) -> dict:
    """{"_form": [...], "rows": {position in the redrawn table: {field: [...]}}, field: [...]} from the service."""
    detail = exc.errors if isinstance(exc.errors, dict) else {}
    errors: dict = {"_form": [exc.message]}
    for field, messages in detail.items():
        if field == "units" and isinstance(messages, dict):
            errors["rows"] = {int(i): e for i, e in messages.items()}
        else:
            errors[field] = messages
    return errors
