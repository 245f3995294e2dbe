"""The intake receipt: what was handed over, in the customer's language, as data and as a PDF (fpdf2)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.adapters import uploads
from engine.customer import customer_text
from engine.errors import InvalidInput, RmaNotFound
from engine.services.customers import photo_view, tracking_url
from engine.services.rmas import without_tracking
from engine.store.model import AuditEvent, Centre, Rma, RmaPhoto

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

INTAKE_TASK = "record_condition"


def _intake(session: Session, rma_id: int) -> dict | None:
    event = session.scalar(
        select(AuditEvent)
        .where(AuditEvent.rma_id == rma_id, AuditEvent.kind == "task_completed", AuditEvent.task_name == INTAKE_TASK)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    return (event.data or {}) | {"_at": event.at} if event is not None else None


def receipt_data(orc: Orchestrator, session: Session, rma: Rma) -> dict:
    # Before the condition is recorded the receipt still acknowledges the registration, condition blank.
    intake = _intake(session, rma.id) or {"_at": rma.created_at}
    lang = customer_text.language(rma.customer_language)
    centre = session.get(Centre, rma.centre_code)
    cited = set(intake.get("photos") or [])
    photos = [
        p
        for p in session.scalars(select(RmaPhoto).where(RmaPhoto.rma_id == rma.id).order_by(RmaPhoto.id))
        if not cited or p.sha256 in cited
    ]
    return {
        "lang": lang,
        "number": rma.number,
        "centre": centre.name if centre else rma.centre_code,
        "received_at": intake["_at"],
        "customer": rma.customer_name,
        "product": rma.product_model,
        "serial_number": rma.serial_number,
        "fault": rma.fault_description,
        "condition_grade": intake.get("condition_grade"),
        "condition_notes": intake.get("condition_notes"),
        "accessories": intake.get("accessories") or "",
        "photos": [photo_view(p) | {"path": p.path, "content_type": p.content_type} for p in photos],
        "tracking_url": tracking_url(orc, rma),
        "rma_id": rma.id,
    }


def for_staff(orc: Orchestrator, actor: Actor, rma_id: int) -> dict:
    with orc.uow() as uow:
        rma = uow.session.get(Rma, rma_id)
        if rma is None or not actor.may_see_centre(rma.centre_code):
            raise RmaNotFound(f"RMA {rma_id} not found")
        return without_tracking(actor, receipt_data(orc, uow.session, rma))


def for_customer(orc: Orchestrator, token: str) -> dict:
    from engine.services.portal import _by_token

    with orc.uow() as uow:
        return receipt_data(orc, uow.session, _by_token(uow.session, token))


def _latin1(text: object) -> str:
    """The PDF's core fonts are Latin-1: German fits; anything else degrades to '?' rather than failing."""
    return (
        str(text or "")
        .replace("…", "...")
        .replace("–", "-")
        .replace("•", "*")
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def pdf(receipt: dict, upload_dir: Path | str) -> bytes:
    """A one-page A4 receipt with the condition record and up to six photos (their stored thumbnails)."""
    from fpdf import FPDF

    lang = receipt["lang"]
    tr = lambda key: _latin1(customer_text.t(lang, key))  # noqa: E731
    doc = FPDF(format="A4")
    doc.set_auto_page_break(True, margin=15)
    doc.add_page()
    doc.set_title(f"{customer_text.t(lang, 'receipt.title')} {receipt['number']}")
    doc.set_font("Helvetica", "B", 18)
    doc.cell(0, 10, tr("receipt.title"), new_x="LMARGIN", new_y="NEXT")
    doc.set_font("Helvetica", "", 11)
    doc.cell(0, 7, _latin1(receipt["centre"]), new_x="LMARGIN", new_y="NEXT")
    doc.ln(3)
    rows = [
        ("receipt.number", receipt["number"]),
        ("receipt.date", customer_text.day(lang, receipt["received_at"])),
        ("receipt.customer", receipt["customer"]),
        (
            "receipt.product",
            f"{receipt['product']} ({customer_text.t(lang, 'page.serial')} {receipt['serial_number']})",
        ),
        ("receipt.fault", receipt["fault"]),
        ("receipt.condition", receipt["condition_grade"]),
        ("receipt.notes", receipt["condition_notes"]),
        ("receipt.accessories", receipt["accessories"] or customer_text.t(lang, "receipt.none")),
        ("receipt.photos", str(len(receipt["photos"]))),
    ]
    for key, value in rows:
        doc.set_font("Helvetica", "B", 10)
        doc.cell(50, 7, tr(key))
        doc.set_font("Helvetica", "", 10)
        doc.multi_cell(0, 7, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    photos = receipt["photos"][:6]
    if photos:
        doc.ln(2)
        x0, y0, size = doc.l_margin, doc.get_y(), 58
        for i, photo in enumerate(photos):
            try:
                path = uploads.open_thumbnail(upload_dir, photo["path"], photo["sha256"], photo["content_type"])
                doc.image(
                    str(path),
                    x=x0 + (i % 3) * (size + 3),
                    y=y0 + (i // 3) * (size + 3),
                    w=size,
                    h=size,
                    keep_aspect_ratio=True,
                )
            except (FileNotFoundError, OSError, RuntimeError, ValueError, InvalidInput):
                continue  # a missing or unreadable file must not cost the customer the receipt
        doc.set_y(y0 + ((len(photos) + 2) // 3) * (size + 3))
    doc.ln(4)
    if receipt.get("tracking_url"):
        doc.set_font("Helvetica", "B", 10)
        doc.cell(50, 7, tr("receipt.track"))
        doc.set_font("Helvetica", "", 10)
        doc.multi_cell(0, 7, _latin1(receipt["tracking_url"]), new_x="LMARGIN", new_y="NEXT")
    doc.ln(14)
    doc.cell(80, 7, "_" * 40, new_x="LMARGIN", new_y="NEXT")
    doc.cell(80, 6, tr("receipt.sign"))
    return bytes(doc.output())
