"""The packing slip's barcode (Code 128 by python-barcode) as inline SVG, and the slip as PDF (fpdf2)."""

from __future__ import annotations

import io

import barcode
from barcode.writer import SVGWriter
from fpdf import FPDF
from markupsafe import Markup

from engine.customer import customer_text

SVG_OPTIONS = {"write_text": False, "module_width": 0.33, "module_height": 18.0, "quiet_zone": 4.0}


def barcode_svg(number: str) -> Markup:
    """An inline <svg> of `number` as Code 128 (scanners type back exactly the RMA number)."""
    out = io.BytesIO()
    barcode.get("code128", number, writer=SVGWriter()).write(out, options=SVG_OPTIONS)
    svg = out.getvalue().decode("utf-8")
    svg = svg[svg.index("<svg") :]  # drop the XML prolog and DOCTYPE: it is embedded in HTML
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="Barcode {number}" data-testid="barcode" ', 1)
    return Markup(svg)  # built from the library's own markup; `number` is an RMA number (A-Z, 0-9, dashes)


def modules(number: str) -> str:
    """The bar pattern, one character per module: '1' bar, '0' space."""
    return barcode.get("code128", number).build()[0]


def _latin1(text) -> str:
    return str(text or "").encode("latin-1", "replace").decode("latin-1")


def packing_slip_pdf(view: dict, lang: str = customer_text.DEFAULT) -> bytes:
    """An A4 slip in the customer's language: ship-to address, the RMA number as a barcode and in large type,
    the unit, what to pack."""

    def _(key: str, **values) -> str:
        return _latin1(customer_text.t(lang, key, **values))

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_lang(customer_text.language(lang))
    pdf.set_title(f"{_('slip.title')} {view['number']}")
    pdf.set_font("Helvetica", "B", 20)
    pdf.cell(0, 12, _("slip.title"), new_x="LMARGIN", new_y="NEXT")
    pattern, x, module = modules(view["number"]), 20.0, 0.5
    y = pdf.get_y() + 4
    run = 0
    for i, bit in enumerate(pattern + "0"):
        if bit == "1":
            run += 1
        elif run:
            pdf.rect(x + (i - run) * module, y, run * module, 22, style="F")
            run = 0
    pdf.set_xy(20, y + 24)
    pdf.set_font("Courier", "B", 22)
    pdf.cell(0, 10, view["number"], new_x="LMARGIN", new_y="NEXT")
    centre = view["centre"]
    pdf.set_font("Helvetica", "B", 12)
    pdf.ln(6)
    pdf.cell(0, 7, _("slip.send_to"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 12)
    for line in (centre["name"], centre["address"], f"{centre['postcode']} {centre['city']}", centre["country"]):
        pdf.cell(0, 6, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 7, _("slip.unit"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 12)
    pdf.cell(
        0,
        6,
        _("slip.unit_line", model=view["product"]["model"], serial=view["product"]["serial_number"]),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.cell(0, 6, _("slip.sent_by", name=view["customer"]["name"]), new_x="LMARGIN", new_y="NEXT")
    if view.get("created_at"):
        pdf.cell(
            0,
            6,
            f"{_('page.registered')}: {_latin1(customer_text.day(lang, view['created_at']))}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.ln(6)
    pdf.multi_cell(0, 6, _("slip.pack_pdf"))
    return bytes(pdf.output())
