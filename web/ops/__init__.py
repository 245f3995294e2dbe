"""Managers' and operators' pages: the dashboard (figures, charts, heatmap, CSV), operations (incidents) and
the staff list, where a manager sets the e-mail addresses SLA escalations are sent to."""

from __future__ import annotations

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for

from engine.errors import Conflict, InvalidInput
from engine.services import dashboard as figures
from engine.services import operations, users
from engine.services.users import list_centres

from ..auth import orchestrator, roles_required, safe_next, staff_actor
from ..csv_export import csv_text
from . import charts

bp = Blueprint("ops", __name__, template_folder="templates")


def _months() -> int:
    try:
        return max(1, min(int(request.args.get("months", "6")), 36))
    except ValueError:
        return 6


def _centre() -> str | None:
    return (request.args.get("centre") or "").strip() or None


def _periods(since, months: int) -> list[str]:
    year, month = since.year, since.month
    out = []
    for _ in range(months):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


@bp.get("/manager/dashboard")
@roles_required(*figures.DASHBOARD_ROLES)
def dashboard():
    actor = staff_actor()
    result = figures.dashboard(orchestrator(), actor, months=_months(), centre=_centre())
    periods = _periods(result["since"], result["months"])
    centres = sorted({r["centre"] for r in result["by_status"]})
    statuses = sorted({r["status"] for r in result["by_status"]})
    counts = {(r["centre"], r["status"]): r["count"] for r in result["by_status"]}
    return render_template(
        "ops/dashboard.html",
        r=result,
        actor=actor,
        centres=centres,
        statuses=statuses,
        counts=counts,
        all_centres=[c["code"] for c in list_centres(orchestrator())] if actor.is_global else [],
        end_to_end=charts.lead_time_charts(result["end_to_end"], periods, None),
        stage_charts=charts.lead_time_charts(result["stages"], periods, "stage"),
    )


@bp.get("/manager/heatmap.json")
@roles_required(*figures.DASHBOARD_ROLES)
def heatmap():
    return jsonify(figures.heatmap(orchestrator(), staff_actor(), months=_months(), centre=_centre()))


CSV_HEADER = ["figure", "centre", "stage_or_status", "element", "period", "count", "p50_hours", "p90_hours", "value"]


@bp.get("/manager/dashboard.csv")
@roles_required(*figures.DASHBOARD_ROLES)
def dashboard_csv():
    result = figures.dashboard(orchestrator(), staff_actor(), months=_months(), centre=_centre())
    rows: list[list[object]] = []
    for r in result["by_status"]:
        rows.append(["rmas_by_status", r["centre"], r["status"], "", "", r["count"], "", "", ""])
    for r in result["end_to_end"]:
        rows.append(
            ["lead_time_end_to_end", r["centre"], "", "", r["period"], r["count"], r["p50_hours"], r["p90_hours"], ""]
        )
    for r in result["stages"]:
        rows.append(
            [
                "lead_time_stage",
                r["centre"],
                r["stage"],
                "",
                r["period"],
                r["count"],
                r["p50_hours"],
                r["p90_hours"],
                "",
            ]
        )
    for r in result["waiting"]:
        rows.append(
            [
                "waiting_now",
                "",
                r["stage"],
                r["element"],
                "",
                r["waiting_now"],
                "",
                "",
                r["avg_age_hours"] if r["avg_age_hours"] is not None else "",
            ]
        )
        rows.append(
            [
                "average_wait",
                "",
                r["stage"],
                r["element"],
                "",
                r["completed"],
                "",
                "",
                r["avg_wait_hours"] if r["avg_wait_hours"] is not None else "",
            ]
        )
    for r in result["breaches"]["per_month"]:
        rows.append(["sla_breaches", r["centre"], "", "", r["period"], r["count"], "", "", ""])
    for r in result["breaches"]["open"]:
        rows.append(["sla_breach_open", r["centre"], r["stage"], r["task"], "", "", "", "", r["overdue_hours"]])
    name = f"rma-dashboard-{result['centre'] or 'all'}-{result['generated_at']:%Y%m%d}.csv"
    return Response(
        csv_text(CSV_HEADER, rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/ops/incidents")
@roles_required(*operations.OPERATORS)
def incidents():
    actor = staff_actor()
    status = request.args.get("status", "open")
    if status not in ("open", "resolved", "cancelled"):
        status = "open"
    listed = operations.list_incidents(orchestrator(), actor, status=status, per_page=100)
    return render_template(
        "ops/incidents.html",
        listed=listed,
        status=status,
        actor=actor,
        undelivered=operations.list_undelivered(orchestrator(), actor),
        unsendable=operations.unsendable(orchestrator(), actor),
        may_cancel=actor.role in operations.CANCELLERS,
    )


@bp.post("/ops/incidents/<int:rma_id>/retry")
@roles_required(*operations.OPERATORS)
def retry(rma_id: int):
    try:
        result = operations.retry_incident(
            orchestrator(), staff_actor(), rma_id, on_current_version=request.form.get("on_current_version") == "1"
        )
    except Conflict as exc:
        flash(f"Could not retry: {exc.message}", "error")
    else:
        rma = result["rma"]
        if rma["status"] == "incident":
            flash(f"{rma['number']} failed again: {result['incident']['error']}", "error")
        else:
            flash(f"{rma['number']} continues: now {rma['status'].replace('_', ' ')}.", "success")
    return redirect(url_for("ops.incidents"))


@bp.post("/ops/rmas/<int:rma_id>/cancel")
@roles_required(*operations.CANCELLERS)
def cancel(rma_id: int):
    try:
        closed = operations.cancel_rma(orchestrator(), staff_actor(), rma_id, request.form.get("reason", ""))
    except (Conflict, InvalidInput) as exc:
        flash(f"Could not cancel: {exc.message}", "error")
    else:
        flash(f"{closed['number']} cancelled and closed.", "success")
    return redirect(safe_next(request.form.get("next"), url_for("ops.incidents"), within="/rmas/"))


@bp.post("/ops/outbox/<int:message_id>/requeue")
@roles_required(*operations.OPERATORS)
def requeue(message_id: int):
    try:
        operations.requeue_message(orchestrator(), staff_actor(), message_id)
    except Conflict as exc:
        flash(f"Could not requeue: {exc.message}", "error")
    else:
        flash(f"Message {message_id} will be sent again.", "success")
    return redirect(url_for("ops.incidents"))


@bp.get("/manager/staff")
@roles_required("manager")
def staff():
    return _staff_page()


@bp.post("/manager/staff/email")
@roles_required("manager")
def set_staff_email():
    """One staff member's address; a member of a centre the manager does not see is 404 (NotFound)."""
    username, email = request.form.get("username", ""), request.form.get("email", "")
    try:
        saved = users.set_staff_email(orchestrator(), staff_actor(), username, email)
    except InvalidInput as exc:
        errors = exc.errors if isinstance(exc.errors, dict) else {"email": [exc.message]}
        return _staff_page(username, email, errors), 422
    flash(
        f"E-mail of {saved['username']} {'set to ' + saved['email'] if saved['email'] else 'removed'}.",
        "success",
    )
    return redirect(url_for("ops.staff"))


def _staff_page(editing: str | None = None, value: str = "", errors: dict | None = None) -> str:
    actor = staff_actor()
    return render_template(
        "ops/staff.html",
        people=users.list_staff(orchestrator(), actor),
        actor=actor,
        editing=editing,
        value=value,
        errors=errors or {},
    )
