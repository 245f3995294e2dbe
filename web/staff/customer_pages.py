"""Staff pages for the customer's side of an RMA: photos, receipt, loan units."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, send_file, url_for

from engine.errors import EngineError
from engine.services import loans as loan_service
from engine.services import photos as photo_service
from engine.services import receipts

from ..auth import orchestrator, roles_required, staff_actor
from . import bp


@bp.get("/rmas/<int:rma_id>/photos/<sha256>")
@roles_required()
def rma_photo(rma_id: int, sha256: str):
    path, content_type = photo_service.photo_file(orchestrator(), staff_actor(), rma_id, sha256)
    response = send_file(path, mimetype=content_type, max_age=86400, etag=sha256)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/rmas/<int:rma_id>/photos/<sha256>/thumbnail")
@roles_required()
def rma_photo_thumbnail(rma_id: int, sha256: str):
    path, content_type = photo_service.photo_file(orchestrator(), staff_actor(), rma_id, sha256, thumb=True)
    response = send_file(path, mimetype=content_type, max_age=86400, etag=f"{sha256}-thumbnail")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/rmas/<int:rma_id>/receipt")
@roles_required()
def receipt(rma_id: int):
    from engine.customer import customer_text

    data = receipts.for_staff(orchestrator(), staff_actor(), rma_id)
    lang = data["lang"]
    return render_template(
        "staff/receipt.html",
        r=data,
        _=lambda key, **kw: customer_text.t(lang, key, **kw),
        day=lambda value: customer_text.day(lang, value),
    )


@bp.get("/rmas/<int:rma_id>/receipt.pdf")
@roles_required()
def receipt_pdf(rma_id: int):
    orc = orchestrator()
    data = receipts.for_staff(orc, staff_actor(), rma_id)
    return Response(
        receipts.pdf(data, orc.settings.upload_dir),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{data["number"]}-receipt.pdf"'},
    )


@bp.post("/rmas/<int:rma_id>/loans")
@roles_required(*loan_service.LENDING_ROLES)
def issue_loan(rma_id: int):
    try:
        loan = loan_service.issue(
            orchestrator(), staff_actor(), rma_id, int(request.form.get("unit_id") or 0), request.form.get("note", "")
        )
    except EngineError as exc:
        flash(f"No loan unit was lent: {exc.message}.", "error")
    else:
        flash(f"Loan unit {loan['unit']['code']} lent to the customer.", "success")
    return redirect(url_for("staff.rma", rma_id=rma_id) + "#loans")


@bp.post("/rmas/<int:rma_id>/loans/return")
@roles_required(*loan_service.LENDING_ROLES)
def return_loan(rma_id: int):
    try:
        loan = loan_service.return_unit(orchestrator(), staff_actor(), rma_id)
    except EngineError as exc:
        flash(f"Nothing was recorded: {exc.message}.", "error")
    else:
        flash(f"Loan unit {loan['unit']['code']} is back.", "success")
    return redirect(url_for("staff.rma", rma_id=rma_id) + "#loans")


@bp.route("/loan-units", methods=["GET", "POST"])
@roles_required(*loan_service.LENDING_ROLES)
def loan_units():
    actor = staff_actor()
    centre = request.values.get("centre") or actor.centre or ""
    errors = {}
    if request.method == "POST":
        try:
            unit = loan_service.add_unit(
                orchestrator(),
                actor,
                centre,
                request.form.get("code", ""),
                request.form.get("model", ""),
                request.form.get("serial_number", ""),
            )
        except EngineError as exc:
            errors = exc.errors if isinstance(exc.errors, dict) else {"_form": [exc.message]}
            flash("Please correct the highlighted fields.", "error")
        else:
            flash(f"Loan unit {unit['code']} added to {centre}'s pool.", "success")
            return redirect(url_for("staff.loan_units", centre=centre))
    units = loan_service.pool(orchestrator(), actor, centre) if centre else []
    return render_template(
        "staff/loan_units.html",
        units=units,
        centre=centre,
        errors=errors,
        values=request.form if request.method == "POST" else {},
    ), (422 if errors else 200)
