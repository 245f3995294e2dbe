"""The task inbox: tasks the user may work (managers: see), with claim and release."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from engine.errors import Conflict
from engine.services import tasks as task_service

from ..auth import orchestrator, roles_required, safe_next, staff_actor
from . import bp


def may_work(actor, task: dict) -> bool:
    """Mirrors the engine's rule so pages show buttons only where the engine will accept them."""
    return actor.role == task["role"] and actor.may_see_centre(task["centre"])


def page_arg() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


@bp.get("/")
@roles_required()
def home():
    return redirect(url_for("staff.inbox"))


@bp.get("/inbox")
@roles_required()
def inbox():
    actor = staff_actor()
    mine = request.args.get("mine") == "1"
    result = task_service.list_tasks(orchestrator(), actor, mine=mine, page=page_arg(), per_page=50)
    return render_template("staff/inbox.html", result=result, mine=mine, actor=actor, may_work=may_work)


def _back_to(default: str) -> str:
    return safe_next(request.form.get("next"), default)


@bp.post("/tasks/<task_id>/claim")
@roles_required()
def claim(task_id: str):
    try:
        task = task_service.claim_task(orchestrator(), staff_actor(), task_id)
    except Conflict as exc:
        flash(f"Could not claim the task: {exc.message}.", "error")
        return redirect(url_for("staff.inbox"))
    flash(f"You claimed “{task['title']}”.", "success")
    return redirect(_back_to(url_for("staff.inbox")))


@bp.post("/tasks/<task_id>/unclaim")
@roles_required()
def unclaim(task_id: str):
    try:
        task = task_service.unclaim_task(orchestrator(), staff_actor(), task_id)
    except Conflict as exc:
        flash(f"Could not release the task: {exc.message}.", "error")
        return redirect(url_for("staff.inbox"))
    flash(f"You released “{task['title']}”.", "success")
    return redirect(_back_to(url_for("staff.inbox")))
