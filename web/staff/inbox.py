"""The task inbox: tasks the user may work (managers: see), with claim and release."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import flash, redirect, render_template, request, url_for

from engine.errors import Conflict
from engine.services import receipts
from engine.services import tasks as task_service

from ..auth import landing_url, orchestrator, roles_required, safe_next, staff_actor
from . import bp
from .filters import label


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
    return redirect(landing_url(staff_actor()))


def inbox_filters() -> dict:
    """The inbox's sort, stage and search, from the query string (sort by due time unless asked for age)."""
    args = request.args
    return {
        "sort": "age" if args.get("sort") == "age" else "due",
        "stage": (args.get("stage") or "").strip()[:64],
        "q": (args.get("q") or "").strip()[:200],
    }


@bp.get("/inbox")
@roles_required()
def inbox():
    actor = staff_actor()
    mine = request.args.get("mine") == "1"
    filters = inbox_filters()
    orc = orchestrator()
    result = task_service.list_tasks(
        orc,
        actor,
        mine=mine,
        page=page_arg(),
        per_page=50,
        sort=filters["sort"],
        stage=filters["stage"] or None,
        q=filters["q"] or None,
    )
    args = {key: value for key, value in filters.items() if value and (key, value) != ("sort", "due")}
    return render_template(
        "staff/inbox.html",
        result=result,
        mine=mine,
        actor=actor,
        may_work=may_work,
        filters=filters,
        pager_args=args | ({"mine": 1} if mine else {}),
        stages=task_service.inbox_stages(orc, actor),
        now=datetime.now(UTC),
    )


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


@bp.post("/tasks/<task_id>/start")
@roles_required()
def start(task_id: str):
    """Start work: claim the task (if not yet yours) and open it, in one click."""
    try:
        task_service.claim_task(orchestrator(), staff_actor(), task_id)
    except Conflict as exc:
        flash(f"Could not start the task: {exc.message}.", "error")
        return redirect(url_for("staff.inbox"))
    return redirect(url_for("staff.task", task_id=task_id))


def after_completion(result: dict):
    """Where a worker lands after completing a task: reception's intake ends on the receipt (Print is its next
    action); other work goes on with the worker's next task (or the inbox), with a message saying what happened."""
    rma = result["rma"]
    if result["task"]["name"] == receipts.INTAKE_TASK:
        return redirect(url_for("staff.receipt", rma_id=rma["id"]))
    done = f"“{result['task']['title']}” completed. {rma['number']} is now {label(rma['status']).lower()}."
    following = task_service.next_task(orchestrator(), staff_actor())
    if following is None:
        flash(f"{done} Nothing else is waiting for you.", "success")
        return redirect(url_for("staff.inbox"))
    flash(f"{done} Next: “{following['title']}” of {following['rma_number']}.", "success")
    return redirect(url_for("staff.task", task_id=following["id"]))
