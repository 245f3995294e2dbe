"""Goodwill on the staff side: propose a discount or fee waiver on a pending quote; managers see the sums.

A manager approves or rejects a proposal as the `approve_goodwill` task in the inbox (lane Manager).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from engine.errors import Conflict, InvalidInput
from engine.services import goodwill

from ..auth import orchestrator, roles_required, staff_actor
from . import bp


@bp.route("/rmas/<int:rma_id>/goodwill", methods=["GET", "POST"])
@roles_required(*goodwill.PROPOSING_ROLES)
def goodwill_page(rma_id: int):
    errors, values, status = {}, {}, 200
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in ("kind", "amount", "reason")}
        try:
            goodwill.propose_goodwill(
                orchestrator(), staff_actor(), rma_id, values["kind"], values["reason"], values["amount"] or None
            )
        except InvalidInput as exc:
            errors, status = {k: v if isinstance(v, list) else [str(v)] for k, v in (exc.errors or {}).items()}, 422
            errors = errors or {"_form": [exc.message]}
        except Conflict as exc:
            flash(f"Not proposed: {exc.message}.", "error")
            status = 409
        else:
            flash("Goodwill proposed: a manager decides it from the inbox before the quote changes.", "success")
            return redirect(url_for("staff.goodwill_page", rma_id=rma_id))
    proposals = goodwill.proposals_for(orchestrator(), staff_actor(), rma_id)
    return render_template(
        "staff/goodwill.html", rma_id=rma_id, proposals=proposals, values=values, errors=errors, kinds=goodwill.KINDS
    ), status


@bp.get("/manager/goodwill")
@roles_required("manager")
def goodwill_summary():
    return render_template("staff/goodwill_summary.html", rows=goodwill.goodwill_summary(orchestrator(), staff_actor()))
