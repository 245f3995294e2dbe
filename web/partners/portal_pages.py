"""What a partner sees after logging in: its figures, its units with status, estimate and quote, one unit."""

from __future__ import annotations

from flask import render_template, request

from engine.services import partner_rmas, partners

from ..auth import orchestrator, roles_required, staff_actor
from . import bp


def _page_args() -> dict:
    status = request.args.get("status", "").strip()[:32] or None
    page = request.args.get("page", "1")
    return {"status": status, "page": int(page) if page.isdigit() and len(page) < 8 else 1}


@bp.get("/")
@roles_required("partner")
def home():
    actor = staff_actor()
    orc = orchestrator()
    args = _page_args()
    return render_template(
        "partner/home.html",
        organisation=partners.get_organisation(orc, actor, actor.organisation or 0),
        figures=partner_rmas.partner_figures(orc, actor),
        result=partner_rmas.list_partner_rmas(orc, actor, **args),
        filters={"status": args["status"] or ""},
    )


@bp.get("/rmas/<int:rma_id>")
@roles_required("partner", "manager", "reception")
def unit(rma_id: int):
    unit_view = partner_rmas.get_partner_rma(orchestrator(), staff_actor(), rma_id)
    return render_template("partner/unit.html", unit=unit_view)
