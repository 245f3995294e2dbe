"""RMA search, the reception form that opens one, and the RMA page with its diagram and history."""

from __future__ import annotations

import secrets

from flask import flash, jsonify, redirect, render_template, request, url_for

from engine.errors import InvalidInput
from engine.services import catalogue, diagrams, idempotency, intake, process_messages, service_record
from engine.services import customers as customer_service
from engine.services import rmas as rma_service
from engine.services import tasks as task_service
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


def _render_new(values: dict, errors: dict, status: int = 200, open_of_serial: list | None = None, found=None):
    actor = staff_actor()
    orc = orchestrator()
    centres = user_service.list_centres(orc)
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
        models=[m["model"] for m in catalogue.list_models(orc)],
        open_of_serial=open_of_serial or [],
        lookup=found,
        # one key per filled-in form: sending it twice (the back button, a double click) opens one RMA
        intake_key=values.get("intake_key") or secrets.token_urlsafe(16),
    ), status


@bp.get("/rmas/new")
@roles_required(*OPENING_ROLES)
def new_rma():
    values = {"centre": staff_actor().centre or "", "customer_language": "en"}
    wanted = (request.args.get("lookup") or "").strip()
    found = intake.find_customer(orchestrator(), staff_actor(), wanted) if wanted else None
    if found:
        values |= {k: v for k, v in found.items() if k.startswith("customer_")}
    elif wanted:
        flash(f"No earlier customer with “{wanted}”: enter their details.", "info")
    return _render_new(values | {"lookup": wanted}, {}, found=found)


@bp.post("/rmas/new")
@roles_required(*OPENING_ROLES)
def create_rma():
    values, errors = rma_form.read(request.form)
    values["intake_key"] = (request.form.get("intake_key") or "")[:64]
    actor, orc = staff_actor(), orchestrator()
    open_of_serial = [] if errors else intake.open_rmas_of_serial(orc, actor, values["serial_number"])
    if (
        open_of_serial
        and request.form.get("confirm_serial") != "1"
        and not intake.opened_by_form(orc, actor, values["intake_key"], rma_form.payload(values))
    ):
        flash("This serial number already has an open RMA: check it before opening another.", "warning")
        return _render_new(values, errors, 409, open_of_serial)
    if not errors:
        try:
            rma = rma_service.open_rma(orc, actor, rma_form.payload(values), values["intake_key"] or None)
        except InvalidInput as exc:
            if idempotency.HEADER in (exc.errors or {}):  # the key came back with other values: a new form
                flash("This form had already opened an RMA. Check the values and open the new one.", "warning")
                return _render_new(values | {"intake_key": ""}, {}, 409)
            errors = rma_form.engine_errors(exc.errors) or {"_form": [exc.message]}
        else:
            return redirect(_after_opening(actor, rma))
    flash("Please correct the highlighted fields.", "error")
    return _render_new(values, errors, 422)


def _after_opening(actor, rma: dict) -> str:
    """Post/redirect/get: to the intake task when the opener works it (reception), else to the RMA page."""
    if rma["status"] != "received":  # a repeated form: the RMA it opened has moved on
        flash(f"{rma['number']} was already opened from this form.", "info")
        return url_for("staff.rma", rma_id=rma["id"])
    for task in task_service.list_tasks(orchestrator(), actor, rma_id=rma["id"])["items"]:
        if may_work(actor, task) and task["assignee"] in (None, actor.username):
            flash(f"{rma['number']} opened. Record the unit's condition next.", "success")
            return url_for("staff.task", task_id=task["id"])
    flash(f"{rma['number']} opened.", "success")
    return url_for("staff.rma", rma_id=rma["id"])


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
        awaited=process_messages.awaited(orchestrator(), actor, rma_id),
    )


@bp.get("/rmas/<int:rma_id>/diagram.json")
@roles_required()
def rma_diagram(rma_id: int):
    return jsonify(diagrams.rma_diagram(orchestrator(), staff_actor(), rma_id))
