"""Online RMA requests: the public form, the customer's request page, troubleshooting answers and offers."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.adapters import uploads
from engine.errors import InvalidInput, NoDecisionPending, RmaNotFound
from engine.process import forms
from engine.services import customers, idempotency, throttle
from engine.services.catalogue import start_facts
from engine.services.instances import apply, lock_instance, save_new
from engine.services.portal import customer_actor
from engine.services.register import start_inputs
from engine.services.rmas import (
    OPEN_RMA_SCHEMA,
    _as_date,
    _check_payload,
    _start_data,
    check_purchase_date,
    deployed_bundle,
)
from engine.store.audit import append_event, audit
from engine.store.model import Centre, CentreLocation, HumanTask, Instance, Rma, RmaRequest, utcnow

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

MAX_PROOF_BYTES = 5 * 1024 * 1024
PROOF_TYPES = {b"%PDF-": "application/pdf", b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
OFFER_KEYS = (
    "quote_total",
    "currency",
    "offer_repair",
    "offer_replacement",
    "replacement_price",
    "offer_trade_in",
    "trade_in_credit",
    "trade_in_price",
    "successor_model",
    "offer_rule",
    "goodwill_total",
)


def request_limit(orc: Orchestrator) -> throttle.Limit:
    """Online requests per client address and hour (RMA_REQUESTS_PER_HOUR)."""
    return throttle.Limit(orc.settings.requests_per_hour, timedelta(hours=1), timedelta(hours=1))


request_url = customers.request_url


def check_proof(filename: str, data: bytes) -> str:
    """The proof of purchase's content type, sniffed from its bytes (PDF, PNG or JPEG, at most 5 MB; an image's
    pixels within uploads.MAX_PIXELS)."""
    if not data:
        raise InvalidInput("proof of purchase missing", {"proof_of_purchase": ["Attach your receipt or invoice."]})
    if len(data) > MAX_PROOF_BYTES:
        raise InvalidInput(
            "proof of purchase too large", {"proof_of_purchase": [f"At most {MAX_PROOF_BYTES // (1024 * 1024)} MB."]}
        )
    for magic, content_type in PROOF_TYPES.items():
        if data.startswith(magic):
            if content_type != "application/pdf":  # a photo of the receipt: its pixels are capped like a photo's
                uploads.check_dimensions("proof_of_purchase", filename or "proof of purchase", data, content_type)
            return content_type
    raise InvalidInput(
        "proof of purchase of an unknown type", {"proof_of_purchase": ["Must be a PDF, PNG or JPEG file."]}
    )


def submit_request(
    orc: Orchestrator,
    payload: dict,
    proof_name: str,
    proof: bytes,
    ip: str | None,
    idempotency_key: str | None = None,
) -> dict:
    """Register an online request (no account): an RMA in status `requested`, starting with troubleshooting.

    A repeated Idempotency-Key answers the first request's RMA only when every field and the proof file are the
    same (the key alone never reveals another customer's tracking token); another body is 422."""
    throttle.hit(orc, {f"request-ip:{(ip or 'unknown')[:64]}": request_limit(orc)})
    _check_payload(payload)
    content_type = check_proof(proof_name, proof)
    body = {"fields": payload, "proof_name": proof_name, "proof_sha256": hashlib.sha256(proof).hexdigest()}
    idem = idempotency.checked(idempotency_key, "requests", body)
    return idempotency.once(
        orc,
        idem,
        lambda: _submit_request(orc, payload, proof_name, proof, ip, content_type, idem),
        lambda rma_id: _created(orc, rma_id),
    )


def _created(orc: Orchestrator, rma_id: int) -> dict:
    """The answer to the request that created RMA `rma_id`."""
    with orc.reading() as s:
        rma = s.get(Rma, rma_id)
        assert rma is not None
        return _answer(orc, rma)


def _answer(orc: Orchestrator, rma: Rma) -> dict:
    return {
        "number": rma.number,
        "status": rma.status,
        "tracking_token": rma.tracking_token,
        "request_url": request_url(orc, rma),
        "centre": rma.centre_code,
    }


def _submit_request(
    orc: Orchestrator,
    payload: dict,
    proof_name: str,
    proof: bytes,
    ip: str | None,
    content_type: str,
    idem: idempotency.Idempotency | None,
) -> dict:
    product, customer = payload["product"], payload["customer"]
    purchase_date = _as_date(product["purchase_date"])
    with orc.uow() as uow:
        s = uow.session
        centre = s.get(Centre, payload["centre"])
        location = s.get(CentreLocation, payload["centre"]) if centre else None
        if centre is None or location is None or not location.accepts_online:
            raise InvalidInput("unknown centre", {"centre": ["Choose a centre from the list."]})
        bundle, now = deployed_bundle(s, centre.code), utcnow()
        check_purchase_date(purchase_date, now)
        rma = Rma(
            centre_code=centre.code,
            status="requested",
            customer_name=customer["name"],
            customer_email=customer["email"].strip().lower(),
            customer_phone=customer.get("phone") or None,
            customer_language=customer.get("language") or "en",
            product_model=product["model"].strip(),
            serial_number=product["serial_number"].strip(),
            purchase_date=purchase_date,
            product_category=product.get("category") or None,
            fault_description=payload["fault_description"],
            currency=centre.currency,
            tracking_token=secrets.token_urlsafe(24),
            created_by="online",
            created_at=now,
            updated_at=now,
        )
        s.add(rma)
        uow.flush()
        rma.number = f"RMA-{centre.code}-{rma.id:06d}"
        if idem is not None:
            idempotency.record(s, idem, rma.id)
        sha = _store_proof(orc, proof)
        s.add(
            RmaRequest(
                rma_id=rma.id,
                channel="online",
                proof_sha256=sha,
                proof_content_type=content_type,
                proof_size=len(proof),
                proof_filename=(proof_name or "")[:200],
                client_ip=ip,
                submitted_at=now,
            )
        )
        actor = Actor.customer(rma.number)
        audit(
            s,
            rma.id,
            actor,
            "rma_opened",
            f"{rma.number} requested online for {rma.product_model} {rma.serial_number}",
            data={"fault_description": rma.fault_description, "channel": "online"},
        )
        facts = {**start_facts(s, rma.product_model, centre.currency, channel="online"), **start_inputs(s, rma)}
        workflow = orc.runtime.start(orc.parsed_bundle(s, bundle.id), _start_data(rma, centre, now, facts))
        # the confirmation (`request_received`) is declared on the triage's start event and sent as the process starts
        save_new(orc, s, rma, bundle, workflow, actor)
        uow.commit()
        return _answer(orc, rma)


def _store_proof(orc: Orchestrator, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    folder = Path(orc.settings.upload_dir) / "proofs"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / sha
    if not target.exists():
        tmp = folder / f".{sha}.{secrets.token_hex(4)}"
        tmp.write_bytes(data)
        tmp.replace(target)
    return sha


def by_token(session: Session, token: str) -> Rma:
    rma = session.scalar(select(Rma).where(Rma.tracking_token == token)) if token and len(token) < 100 else None
    if rma is None or not secrets.compare_digest(rma.tracking_token, token):
        raise RmaNotFound("no request for this link")
    return rma


def _open_customer_task(session: Session, rma: Rma, name: str) -> HumanTask | None:
    return session.scalar(
        select(HumanTask).where(
            HumanTask.rma_id == rma.id, HumanTask.name == name, HumanTask.role == "customer", HumanTask.status == "open"
        )
    )


def _process_data(orc: Orchestrator, session: Session, rma: Rma) -> tuple[dict, set[str]]:
    instance = session.get(Instance, rma.id)
    if instance is None:
        raise RmaNotFound("no request for this link")
    workflow = orc.runtime.load(
        orc.parsed_bundle(session, instance.bundle_id), instance.state, instance.serializer_version
    )
    return orc.runtime.current_data(workflow), orc.runtime.awaited_messages(workflow)


def request_view(orc: Orchestrator, token: str) -> dict:
    """The customer's request page: status (in the customer's words and language, as on the tracking page), the
    self-help steps, the packing slip, the offers and the centre's contact details."""
    from engine.customer.customer_text import language, status_text, t
    from engine.services import stage_tables
    from engine.services.portal import centre_contact

    with orc.uow() as uow:
        s = uow.session
        rma = by_token(s, token)
        lang = language(rma.customer_language)
        centre, location = s.get(Centre, rma.centre_code), s.get(CentreLocation, rma.centre_code)
        data, awaited = _process_data(orc, s, rma)
        troubleshoot = _open_customer_task(s, rma, "troubleshoot")
        approval = _open_customer_task(s, rma, "customer_approval")
        return {
            "number": rma.number,
            "status": rma.status,
            "status_text": status_text(lang, rma.status, stage_tables.of_rma(orc, s, rma)),
            "outcome": rma.outcome,
            "outcome_text": t(lang, f"outcome.{rma.outcome}") if rma.outcome else None,
            "stage": rma.stage,
            "language": rma.customer_language,
            "tracking_token": rma.tracking_token,
            "product": {"model": rma.product_model, "serial_number": rma.serial_number},
            "customer": {"name": rma.customer_name},
            "centre": {
                "code": rma.centre_code,
                "name": centre.name if centre else rma.centre_code,
                "address": location.address if location else "",
                "city": location.city if location else "",
                "postcode": location.postcode if location else "",
                "country": location.country if location else "",
            },
            "known_issues": list(data.get("known_issues") or []),
            "troubleshooting_pending": troubleshoot is not None,
            "awaiting_parcel": "parcel_received" in awaited,
            "offers": {k: data.get(k) for k in OFFER_KEYS} if approval is not None else None,
            "decision_pending": approval is not None,
            "created_at": rma.created_at,
            "contact": centre_contact(s, rma.centre_code),
        }


def _complete_customer_task(
    orc: Orchestrator,
    token: str,
    name: str,
    data: dict,
    kind: str,
    detail: str,
    ip: str | None,
    extra: Callable[[Session, Rma, dict], None] | None = None,
) -> None:
    with orc.uow() as uow:
        s = uow.session
        rma = by_token(s, token)
        instance = lock_instance(s, rma.id)  # before the task row, in the timer sweep's order
        task = _open_customer_task(s, rma, name)
        if task is None:
            raise NoDecisionPending(f"{rma.number} is not waiting for this answer")
        clean = forms.validate_submission(orc.parsed_bundle(s, instance.bundle_id).form(task.form_file), data)
        if extra is not None:
            extra(s, rma, clean)
        actor = customer_actor(rma)
        done = s.execute(
            update(HumanTask)
            .where(HumanTask.id == task.id, HumanTask.status == "open")
            .values(status="completed", completed_by=actor.username, completed_at=utcnow(), data=clean)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult, done).rowcount != 1:  # an UPDATE's result (Session.execute is typed for rows)
            raise NoDecisionPending(f"{rma.number} is not waiting for this answer")
        append_event(
            s,
            rma.id,
            actor.username,
            kind,
            detail,
            task_name=task.name,
            data={**clean, "ip": ip},
            customer_visible=True,
        )
        apply(orc, s, rma, actor, lambda wf: orc.runtime.complete(wf, task.id, clean), completed_task=task.name)
        uow.commit()


def answer_troubleshooting(orc: Orchestrator, token: str, data: dict, ip: str | None = None) -> dict:
    """The customer's answers to the product's questions: solved closes the request, otherwise staff review it."""
    solved = isinstance(data, dict) and data.get("troubleshoot_solved") is True
    _complete_customer_task(
        orc,
        token,
        "troubleshoot",
        data,
        "troubleshooting_answered",
        "Solved with the self-help steps" if solved else "Self-help steps did not solve it",
        ip,
    )
    return request_view(orc, token)


CHOICES = ("repair", "replacement", "trade_in", "decline")
CHOICE_WORDS = {
    "repair": "You chose the repair",
    "replacement": "You chose a replacement unit",
    "trade_in": "You chose the trade-in",
    "decline": "You declined the quote",
}


def record_choice(orc: Orchestrator, token: str, choice: str, ip: str | None = None) -> dict:
    """The customer's answer to the offers: only a choice the rules offered is accepted.

    The token is checked (and a wrong one throttled) before the choice: a guess learns nothing from it."""

    def offered(session: Session, rma: Rma, clean: dict) -> None:
        if choice not in CHOICES:
            raise InvalidInput("unknown choice", {"choice": [f"Choose one of: {', '.join(CHOICES)}."]})
        data, _ = _process_data(orc, session, rma)
        allowed = {
            "repair": data.get("offer_repair"),
            "replacement": data.get("offer_replacement"),
            "trade_in": data.get("offer_trade_in"),
            "decline": True,
        }
        if not allowed[choice]:
            raise InvalidInput("this option was not offered", {"choice": ["This option is not offered for your unit."]})

    _complete_customer_task(
        orc,
        token,
        "customer_approval",
        {"approve": choice != "decline", "choice": choice},
        "quote_decided",
        CHOICE_WORDS.get(choice, ""),
        ip,
        extra=offered,
    )
    return request_view(orc, token)


def proof_of(orc: Orchestrator, actor: Actor, rma_id: int) -> tuple[bytes, str | None, str]:
    """The proof-of-purchase file of an RMA the actor may see: (bytes, content type, filename)."""
    with orc.reading() as s:
        rma, request = s.get(Rma, rma_id), s.get(RmaRequest, rma_id)
        if rma is None or request is None or not request.proof_sha256 or not actor.may_see_centre(rma.centre_code):
            raise RmaNotFound(f"no proof of purchase for RMA {rma_id}")
        path = Path(orc.settings.upload_dir) / "proofs" / request.proof_sha256
        return path.read_bytes(), request.proof_content_type, request.proof_filename or f"{rma.number}-proof"


REQUEST_SCHEMA = OPEN_RMA_SCHEMA  # the same fields as at the counter; the centre comes from the finder
