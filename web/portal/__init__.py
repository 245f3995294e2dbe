"""The customer's tracking page and quote decision, by unguessable token, no login."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from engine.errors import Conflict
from engine.services import portal as portal_service

from ..auth import orchestrator
from ..staff.filters import register as register_filters

bp = Blueprint("portal", __name__, template_folder="templates")
register_filters(bp)

# The customer's path through a repair, in order; statuses map onto these steps.
STEPS = [("received", "Received"), ("diagnosing", "Diagnosis"), ("awaiting_approval", "Your approval"),
         ("repairing", "Repair"), ("quality_check", "Quality check"), ("returning", "On its way back"),
         ("closed", "Completed")]
_STEP_INDEX = {"requested": 0, **{key: i for i, (key, _) in enumerate(STEPS)}}


def _steps(view: dict) -> list[dict]:
    """Each step with its state (done / current / todo) and the date it was reached, from the history."""
    current = _STEP_INDEX.get(view["status"], 0)
    reached = {}
    for event in view["history"]:
        if event["kind"] == "rma_opened":
            reached.setdefault("received", event["at"])
        elif event["kind"] == "status_changed":
            for key, _ in STEPS:
                if portal_service.STATUS_WORDS.get(key) == event["detail"]:
                    reached[key] = event["at"]
        elif event["kind"] == "rma_closed":
            reached["closed"] = event["at"]
    quote = view["quote"]
    no_approval = (quote is not None and quote["in_warranty"]) or (quote is None and current > _STEP_INDEX["diagnosing"])
    steps = []
    for i, (key, title) in enumerate(STEPS):
        if key == "awaiting_approval" and no_approval:
            continue  # covered by warranty (or nothing to repair): the customer is never asked
        state = "done" if i < current or view["status"] == "closed" else "current" if i == current else "todo"
        steps.append({"key": key, "title": title, "state": state, "at": reached.get(key) if state != "todo" else None})
    return steps


@bp.get("/track/<token>")
def track(token: str):
    view = portal_service.portal_view(orchestrator(), token)
    return render_template("portal/track.html", rma=view, token=token, steps=_steps(view))


@bp.post("/track/<token>/decision")
def decision(token: str):
    answer = request.form.get("approve", "")
    approve = {"true": True, "false": False}.get(answer, answer)
    try:
        portal_service.record_customer_decision(orchestrator(), token, approve, ip=request.remote_addr)
    except Conflict as exc:
        flash(f"Your answer was not recorded: {exc.message}.", "error")
        return redirect(url_for("portal.track", token=token))
    flash("Thank you: you approved the quote. We will repair your unit now." if approve is True else
          "Thank you: you declined the quote. We will send your unit back unrepaired.", "success")
    return redirect(url_for("portal.track", token=token))
