"""Managers' pages for partner organisations: list and create them, add accounts, read their units and figures."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from engine.errors import Conflict, InvalidInput
from engine.services import partner_rmas, partners

from ..auth import orchestrator, roles_required, staff_actor
from . import bp

ORG_FIELDS = ("name", "type", "centre", "contact_name", "contact_email", "contact_phone", "language")
USER_FIELDS = ("username", "full_name", "email")


def _field_errors(exc: InvalidInput) -> dict:
    detail = exc.errors if isinstance(exc.errors, dict) else {}
    errors = {k: v if isinstance(v, list) else [str(v)] for k, v in detail.items()}
    return errors or {"_form": [exc.message]}


@bp.route("/organisations", methods=["GET", "POST"])
@roles_required("manager", "reception")
def organisations():
    actor, errors, values, status = staff_actor(), {}, {"type": "distributor", "language": "en"}, 200
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in ORG_FIELDS}
        try:
            org = partners.create_organisation(orchestrator(), actor, values)
        except InvalidInput as exc:
            errors, status = _field_errors(exc), 422
        except Conflict as exc:
            errors, status = {"name": [exc.message]}, 409
        else:
            flash(f"Organisation {org['name']} created: add its accounts below.", "success")
            return redirect(url_for("partner.organisation", org_id=org["id"]))
    rows = partners.list_organisations(orchestrator(), actor)
    return render_template(
        "partner/organisations.html",
        rows=rows,
        values=values,
        errors=errors,
        types=partners.TYPES,
        languages=partners.LANGUAGES,
    ), status


@bp.route("/organisations/<int:org_id>", methods=["GET", "POST"])
@roles_required("manager", "reception")
def organisation(org_id: int):
    actor, orc, errors, values, status = staff_actor(), orchestrator(), {}, {}, 200
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in USER_FIELDS}
        try:
            partners.add_partner_user(
                orc,
                actor,
                org_id,
                values["username"],
                request.form.get("password", ""),
                values["full_name"],
                values["email"] or None,
            )
        except InvalidInput as exc:
            errors, status = _field_errors(exc), 422
        except Conflict as exc:
            errors, status = {"username": [exc.message]}, 409
        else:
            flash(f"Account {values['username']} added: it logs in at the usual login page.", "success")
            return redirect(url_for("partner.organisation", org_id=org_id))
    page = request.args.get("page", "1")
    return render_template(
        "partner/organisation.html",
        organisation=partners.get_organisation(orc, actor, org_id),
        figures=partner_rmas.partner_figures(orc, actor, org_id),
        result=partner_rmas.list_partner_rmas(
            orc, actor, org_id, page=int(page) if page.isdigit() and len(page) < 8 else 1
        ),
        values=values,
        errors=errors,
    ), status
