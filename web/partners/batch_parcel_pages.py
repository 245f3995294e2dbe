"""On the batch page (issue 17, points 3 and 4): the batch's one packing slip, and the partner's quote decisions,
one unit at a time or all at once (each unit's own customer decision, engine.services.batch_quotes)."""

from __future__ import annotations

import io

import barcode
from barcode.writer import SVGWriter
from flask import Response, flash, redirect, render_template, request, url_for
from fpdf import FPDF
from markupsafe import Markup

from engine.errors import Conflict, InvalidInput
from engine.services import batch_parcels, batch_quotes, batches

from ..auth import orchestrator, roles_required, staff_actor
from . import bp

SVG_OPTIONS = {"write_text": False, "module_width": 0.33, "module_height": 14.0, "quiet_zone": 4.0}


def barcode_svg(number: str) -> Markup:
    """A unit's RMA number as an inline Code 128 <svg> (as on a single RMA's slip, web.requests.slip)."""
    out = io.BytesIO()
    barcode.get("code128", number, writer=SVGWriter()).write(out, options=SVG_OPTIONS)
    svg = out.getvalue().decode("utf-8")
    svg = svg[svg.index("<svg") :].replace("<svg ", f'<svg role="img" aria-label="Barcode {number}" ', 1)
    return Markup(svg)  # the library's own markup; `number` is an RMA number (A-Z, 0-9, dashes)


@bp.get("/batches/<int:batch_id>/slip")
@roles_required(*batches.READING_ROLES)
def batch_slip(batch_id: int):
    """The batch's one packing slip: every unit with its RMA number as a barcode reception scans."""
    slip = batch_parcels.packing_slip(orchestrator(), staff_actor(), batch_id)
    codes = {u["number"]: barcode_svg(u["number"]) for u in slip["units"]}
    return render_template("partner/batch_slip.html", slip=slip, barcodes=codes)


def _latin1(text: object) -> str:
    return str(text or "").encode("latin-1", "replace").decode("latin-1")


def slip_pdf(slip: dict) -> bytes:
    """The batch's slip as A4 pages: per unit its RMA number as a Code 128 barcode, model, serial and site."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_title(f"Packing slip {slip['number']}")
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _latin1(f"Packing slip {slip['number']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    line = f"Send to {slip['centre']['name']} - from {slip['organisation']}"
    pdf.cell(0, 6, _latin1(line + (f" - your reference {slip['reference']}" if slip["reference"] else "")))
    pdf.ln(10)
    for unit in slip["units"]:
        if pdf.get_y() > 260:
            pdf.add_page()
        y, module, run = pdf.get_y(), 0.33, 0
        for i, bit in enumerate(barcode.get("code128", unit["number"]).build()[0] + "0"):
            if bit == "1":
                run += 1
            elif run:
                pdf.rect(15 + (i - run) * module, y, run * module, 12, style="F")
                run = 0
        pdf.set_xy(95, y)
        pdf.set_font("Courier", "B", 12)
        pdf.cell(0, 6, _latin1(unit["number"]), new_x="LMARGIN", new_y="NEXT")
        pdf.set_x(95)
        pdf.set_font("Helvetica", "", 10)
        detail = f"{unit['model']} - serial {unit['serial_number']}" + (f" - {unit['site']}" if unit["site"] else "")
        pdf.cell(0, 6, _latin1(detail), new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(y + 17)
    return bytes(pdf.output())


@bp.get("/batches/<int:batch_id>/slip.pdf")
@roles_required(*batches.READING_ROLES)
def batch_slip_pdf(batch_id: int):
    slip = batch_parcels.packing_slip(orchestrator(), staff_actor(), batch_id)
    response = Response(slip_pdf(slip), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{slip["number"]}-packing-slip.pdf"'
    return response


@bp.post("/batches/<int:batch_id>/quotes")
@roles_required("partner")
def batch_quotes_decide(batch_id: int):
    """`all` = approve|decline answers every waiting quote; `unit` = <rma id> with `answer` answers one."""
    answer, unit = request.form.get("answer", ""), request.form.get("unit", "")
    every = request.form.get("all", "")
    try:
        if every in ("approve", "decline"):
            result = batch_quotes.decide_quotes(orchestrator(), staff_actor(), batch_id, approve_all=every == "approve")
        elif unit.isdigit() and len(unit) < 20 and answer in ("approve", "decline"):
            decisions = [{"rma_id": int(unit), "approve": answer == "approve"}]
            result = batch_quotes.decide_quotes(orchestrator(), staff_actor(), batch_id, decisions=decisions)
        else:
            raise InvalidInput("choose approve or decline")
    except (InvalidInput, Conflict) as exc:
        flash(f"Nothing decided: {exc.message}.", "error")
        return redirect(url_for("partner.batch", batch_id=batch_id) + "#quotes")
    approved = sum(1 for d in result["decided"] if d["approve"])
    declined = len(result["decided"]) - approved
    flash(
        f"{approved} quote(s) approved, {declined} declined"
        + (f"; {len(result['skipped'])} no longer waiting" if result["skipped"] else "")
        + ".",
        "success",
    )
    return redirect(url_for("partner.batch", batch_id=batch_id) + "#quotes")
