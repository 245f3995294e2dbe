"""RMA search, the reception form that opens one, and the RMA page with its diagram and history."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for

from engine.errors import InvalidInput
from engine.services import customers as customer_service
from engine.services import diagrams, service_record
from engine.services import rmas as rma_service
from engine.services import users as user_service
from engine.services.portal import STATUS_WORDS

from ..auth import orchestrator, roles_required, staff_actor
from . import bp, rma_form
from .inbox import may_work, page_arg
from .task_forms import entries

OPENING_ROLES = ("reception", "manager")


@bp.get("/rmas")
@roles_required()
def rmas():
    actor = staff_actor()
    filters = {key: (request.args.get(key) or "").strip() for key in ("q", "status", "centre")}
    result = rma_service.list_rmas(
        orchestrator(),
        actor,
        status=filters["status"] or None,
        centre=filters["centre"] or None,
        q=filters["q"] or None,
        page=page_arg(),
        per_page=25,
    )
    return render_template("staff/rmas.html", result=result, filters=filters, statuses=list(STATUS_WORDS), actor=actor)


def _render_new(values: dict, errors: dict, status: int = 200):
    actor = staff_actor()
    centres = user_service.list_centres(orchestrator())
    if not actor.is_global:
        centres = [c for c in centres if c["code"] == actor.centre]
    return render_template(
        "staff/rma_new.html",
        values=values,
        errors=errors,
        centres=centres,
        languages=rma_form.LANGUAGES,
        categories=rma_form.CATEGORIES,
        labels={name: label for name, label, *_ in rma_form.FIELDS},
        required={name for name, _l, req, _m in rma_form.FIELDS if req},
    ), status


@bp.get("/rmas/new")
@roles_required(*OPENING_ROLES)
def new_rma():
    return _render_new({"centre": staff_actor().centre or "", "customer_language": "en"}, {})


@bp.post("/rmas/new")
@roles_required(*OPENING_ROLES)
def create_rma():
    values, errors = rma_form.read(request.form)
    if not errors:
        try:
            rma = rma_service.open_rma(orchestrator(), staff_actor(), rma_form.payload(values))
        except InvalidInput as exc:
            errors = rma_form.engine_errors(exc.errors) or {"_form": [exc.message]}
        else:
            flash(f"{rma['number']} opened. Record the unit's condition next.", "success")
            return redirect(url_for("staff.rma", rma_id=rma["id"]))
    flash("Please correct the highlighted fields.", "error")
    return _render_new(values, errors, 422)


@bp.get("/rmas/<int:rma_id>")
@roles_required()
def rma(rma_id: int):
    actor = staff_actor()
    found = rma_service.get_rma(orchestrator(), actor, rma_id)
    base_url = orchestrator().settings.base_url
    token = found.get("tracking_token")  # absent for roles that never send the link (technicians, QA)
    tracking_url = base_url + url_for("portal.track", token=token) if token else None
    side = customer_service.customer_side(orchestrator(), actor, rma_id)
    return render_template(
        "staff/rma.html",
        rma=found,
        actor=actor,
        may_work=may_work,
        tracking_url=tracking_url,
        status_words=STATUS_WORDS,
        side=side,
        record=service_record.service_record(orchestrator(), actor, rma_id),
        entries=entries,
    )


@bp.get("/rmas/<int:rma_id>/diagram.json")
@roles_required()
def rma_diagram(rma_id: int):
    return jsonify(diagrams.rma_diagram(orchestrator(), staff_actor(), rma_id))
