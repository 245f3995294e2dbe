"""One task: its RMA summary and its form; submitting completes it."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from engine.adapters.uploads import read_upload
from engine.errors import Conflict, InvalidFormData, InvalidInput  # noqa: F401
from engine.services import photos as photo_service
from engine.services import service_record
from engine.services import tasks as task_service

from ..auth import orchestrator, roles_required, staff_actor
from . import bp
from .inbox import after_completion, may_work
from .task_forms import entries, fields, initial_values, read_submission


def _render(task: dict, values: dict, errors: dict | None = None, status: int = 200):
    actor = staff_actor()
    currency = task["context"]["currency"]
    return render_template(
        "staff/task.html",
        task=task,
        ctx=task["context"],
        fields=fields(task.get("form"), currency),
        submitted=entries(task.get("form"), task.get("data"), currency),
        entries=entries,
        values=values,
        errors=errors or {},
        actor=actor,
        workable=may_work(actor, task),
    ), status


@bp.get("/tasks/<task_id>")
@roles_required()
def task(task_id: str):
    found = service_record.task_page(orchestrator(), staff_actor(), task_id)
    return _render(found, initial_values(found.get("form")))


@bp.post("/tasks/<task_id>")
@roles_required()
def complete(task_id: str):
    # The schema is needed to read the strings back; the form the engine validates against is its own copy.
    found = service_record.task_page(orchestrator(), staff_actor(), task_id)
    data = read_submission(found.get("form"), request.form)
    values = request.form.to_dict()
    try:
        values["photos_uploaded"] = _take_photos(found, data)
        result = task_service.complete_task(orchestrator(), staff_actor(), task_id, data)
    except InvalidInput as exc:  # InvalidFormData included
        flash("Please correct the highlighted fields.", "error")
        return _render(found, values, exc.errors if isinstance(exc.errors, dict) else {"_form": [exc.message]}, 422)
    except Conflict as exc:
        if exc.code == "loan_outstanding":  # closing waits for the loan unit: say so where it can be fixed
            flash(f"{exc.message}.", "error")
            return redirect(url_for("staff.rma", rma_id=found["rma_id"]) + "#loans")
        flash(f"This task can no longer be completed by you: {exc.message}.", "error")
        return redirect(url_for("staff.inbox"))
    return after_completion(result)


def _take_photos(task: dict, data: dict) -> list[str]:
    """Store the uploaded photo files and cite them (with ones kept from an earlier try) in the form data."""
    names = [f["name"] for f in fields(task.get("form")) if f["widget"] == "photos"]
    cited: list[str] = []
    for name in names:
        hashes = [h for h in request.form.getlist("photos_uploaded") if h]
        files = [read_upload(f) for f in request.files.getlist(name) if f.filename]
        if files:
            added = photo_service.add_photos(orchestrator(), staff_actor(), task["rma_id"], files)
            hashes += [p["sha256"] for p in added]
        hashes = list(dict.fromkeys(hashes))
        if hashes:
            data[name] = hashes
        cited += hashes
    return cited
