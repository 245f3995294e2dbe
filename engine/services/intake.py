"""What reception sees while opening an RMA: the serial's open RMAs, the returning customer, the online request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import or_, select

from engine.actors import Actor
from engine.errors import InvalidInput, RmaNotFound
from engine.services import catalogue, idempotency
from engine.store.model import AuditEvent, Rma, RmaRequest

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

LOOKUP_LIMIT = 5


def _seen(actor: Actor) -> list:
    return [] if actor.is_global else [Rma.centre_code == actor.centre]


def open_rmas_of_serial(orc: Orchestrator, actor: Actor, serial_number: str) -> list[dict]:
    """The open RMAs of a serial number in the centres the actor may see, newest first (a unit handed in twice)."""
    serial = (serial_number or "").strip()
    if not serial:
        return []
    query = (
        select(Rma)
        .where(Rma.serial_number == serial, Rma.closed_at.is_(None), *_seen(actor))
        .order_by(Rma.id.desc())
        .limit(LOOKUP_LIMIT)
    )
    with orc.reading() as s:
        return [
            {"id": r.id, "number": r.number, "status": r.status, "product_model": r.product_model}
            for r in s.scalars(query)
        ]


def opened_by_form(orc: Orchestrator, actor: Actor, key: str | None, payload: dict) -> int | None:
    """The RMA this intake form (its one-time key, the same values) already opened: sent again by the back button."""
    if not key:
        return None
    try:
        # the scope open_rma gives a key (engine.services.rmas.open_rma)
        idem = idempotency.checked(key, f"user:{actor.username}", payload)
        if idem is None:
            return None
        with orc.reading() as s:
            return idempotency.earlier(s, idem)
    except InvalidInput:  # a bad key or other values: not a repeat of this form
        return None


def find_customer(orc: Orchestrator, actor: Actor, email_or_phone: str) -> dict | None:
    """The customer of the newest RMA with this email (any case) or phone, in the centres the actor may see:
    name, email, phone and language to pre-fill the intake form; None when nobody matches."""
    wanted = (email_or_phone or "").strip()
    if not wanted or len(wanted) > 254:
        return None
    match = Rma.customer_email == wanted.lower() if "@" in wanted else Rma.customer_phone == wanted
    query = select(Rma).where(or_(match), *_seen(actor)).order_by(Rma.id.desc()).limit(1)
    with orc.reading() as s:
        rma = s.scalar(query)
        if rma is None:
            return None
        return {
            "customer_name": rma.customer_name,
            "customer_email": rma.customer_email,
            "customer_phone": rma.customer_phone or "",
            "customer_language": rma.customer_language,
            "last_rma": {"id": rma.id, "number": rma.number},
        }


def online_request(orc: Orchestrator, actor: Actor, rma_id: int) -> dict | None:
    """How an online request came in, for staff: its proof of purchase (to open) and the customer's answers to the
    troubleshooting questions; None for an RMA opened at the counter."""
    with orc.reading() as s:
        rma, request = s.get(Rma, rma_id), s.get(RmaRequest, rma_id)
        if rma is None or not actor.may_see_centre(rma.centre_code):
            raise RmaNotFound(f"RMA {rma_id} not found")
        if request is None or request.channel != "online":
            return None
        answers = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.rma_id == rma_id, AuditEvent.kind == "troubleshooting_answered")
            .order_by(AuditEvent.id)
        ).all()
        model = catalogue.find(s, rma.product_model)
        questions = {i["code"]: i["question"] for i in (model.known_issues if model else None) or []}
        return {
            "submitted_at": request.submitted_at,
            "proof": (
                {
                    "filename": request.proof_filename,
                    "content_type": request.proof_content_type,
                    "size": request.proof_size,
                }
                if request.proof_sha256
                else None
            ),
            "troubleshooting": [
                {
                    "at": e.at,
                    "detail": e.detail,
                    "solved": (e.data or {}).get("troubleshoot_solved"),
                    "notes": (e.data or {}).get("troubleshoot_notes") or "",
                    "answers": [
                        {"code": code, "question": questions.get(code, code), "answer": answer}
                        for code, answer in ((e.data or {}).get("answers") or {}).items()
                    ],
                    "solved_by": questions.get(solved_by, solved_by)
                    if (solved_by := (e.data or {}).get("solved_by_issue"))
                    else None,
                }
                for e in answers
            ],
        }
