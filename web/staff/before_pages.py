"""Staff pages before the repair: reception books parcels in by RMA number; managers keep the catalogue."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from engine.errors import Conflict, InvalidInput, NotFound
from engine.services import catalogue, catalogue_import, parcels

from ..auth import orchestrator, roles_required, staff_actor
from . import bp

MODEL_FIELDS = ("model", "category", "warranty_months", "replacement_value", "currency", "successor_model")


@bp.route("/reception", methods=["GET", "POST"])
@roles_required(*parcels.RECEIVING_ROLES)
def reception():
    """Scan the packing slip's barcode (a scanner types the number and Enter) or type the number."""
    booked, status = None, 200
    if request.method == "POST":
        number = request.form.get("number", "")
        serial = request.form.get("serial_number", "")[:120]
        try:
            booked = parcels.receive_parcel(orchestrator(), staff_actor(), number, serial)
        except (NotFound, Conflict) as exc:
            flash(f"Not booked in: {exc.message}.", "error")
            status = 404 if isinstance(exc, NotFound) else 409
        else:
            flash(f"Parcel for {booked['number']} booked in: it is now in intake.", "success")
            if booked["received_serial"]:
                flash(
                    f"The serial on the unit ({booked['received_serial']}) is not the one declared: "
                    "it is flagged on the RMA.",
                    "warning",
                )
    return render_template("staff/reception.html", booked=booked), status


@bp.get("/catalogue")
@roles_required("manager")
def catalogue_list():
    q = request.args.get("q", "").strip()[:200]
    return render_template(
        "staff/catalogue.html",
        models=catalogue.list_models(orchestrator(), q or None),
        q=q,
        import_errors=None,
        can_edit=catalogue.may_edit(staff_actor()),
    )


def _issues_text(issues: list[dict]) -> str:
    return "\n".join(f"{i['question']} => {'; '.join(i['steps'])}" for i in issues)


@bp.route("/catalogue/edit", methods=["GET", "POST"])
@roles_required("manager")
def catalogue_edit():
    """Create a model, or edit the one named by ?model= (the name is the key)."""
    if not catalogue.may_edit(staff_actor()):
        abort(403)
    errors: dict = {}
    if request.method == "GET":
        name = request.args.get("model")
        if name:
            try:
                found = catalogue.get_model(orchestrator(), name)
            except NotFound:
                abort(404)
            values = {
                **{k: "" if found[k] is None else str(found[k]) for k in MODEL_FIELDS},
                "known_issues": _issues_text(found["known_issues"]),
            }
        else:
            values = {"warranty_months": str(catalogue.DEFAULT_WARRANTY_MONTHS)}
        return render_template("staff/catalogue_edit.html", values=values, errors=errors, editing=bool(name))
    values = {k: request.form.get(k, "").strip() for k in (*MODEL_FIELDS, "known_issues")}
    issues, issue_errors = catalogue_import.parse_known_issues(
        values["known_issues"].replace("\r", "").replace("\n", "|")
    )
    payload = {
        "model": values["model"],
        "category": values["category"],
        "currency": values["currency"].upper(),
        "successor_model": values["successor_model"] or None,
        "known_issues": issues,
        "warranty_months": int(values["warranty_months"])
        if values["warranty_months"].isdigit()
        else values["warranty_months"],
        "replacement_value": catalogue.as_decimal(values["replacement_value"]),
    }
    payload["replacement_value"] = (
        float(payload["replacement_value"]) if payload["replacement_value"] is not None else values["replacement_value"]
    )
    try:
        if issue_errors:
            raise InvalidInput("the known issues are not readable", {"known_issues": issue_errors})
        saved = catalogue.save_model(orchestrator(), staff_actor(), payload)
    except InvalidInput as exc:
        errors = {
            k: (v if isinstance(v, list) else [str(v)]) for k, v in (exc.errors or {"_form": [exc.message]}).items()
        }
        return render_template(
            "staff/catalogue_edit.html", values=values, errors=errors, editing=request.form.get("editing") == "1"
        ), 422
    flash(f"Model {saved['model']} saved.", "success")
    return redirect(url_for("staff.catalogue_list"))


@bp.post("/catalogue/import")
@roles_required("manager")
def catalogue_import_page():
    upload = request.files.get("file")
    data = upload.read(catalogue_import.MAX_BYTES + 1) if upload else b""
    try:
        result = catalogue_import.import_csv(orchestrator(), staff_actor(), data)
    except catalogue_import.CatalogueImportError as exc:
        flash(f"Nothing was imported: {exc.message}.", "error")
        return render_template(
            "staff/catalogue.html",
            models=catalogue.list_models(orchestrator()),
            q="",
            import_errors=exc.errors,
            can_edit=True,
        ), 422
    flash(f"Imported {result['imported']} model(s): {result['created']} new, {result['updated']} updated.", "success")
    return redirect(url_for("staff.catalogue_list"))


@bp.post("/catalogue/delete")
@roles_required("manager")
def catalogue_delete():
    name = request.form.get("model", "")
    catalogue.delete_model(orchestrator(), staff_actor(), name)
    flash(f"Model {name} removed.", "success")
    return redirect(url_for("staff.catalogue_list"))
