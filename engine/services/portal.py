"""The customer's side: a tracking view and the quote decision, by unguessable token, no login."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy import CursorResult, bindparam, select, update
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.customer import estimates, slips
from engine.customer.customer_text import TEXT, day, language, status_text, t
from engine.errors import Conflict, NoDecisionPending, RmaNotFound
from engine.process import forms
from engine.process.stages import END_STEP, StageTable
from engine.services import incidents, stage_tables, throttle
from engine.services.customers import SHIPPING_KEYS, latest_quote, quote_view, tracking_url
from engine.services.instances import apply
from engine.store import outbox
from engine.store.audit import audit
from engine.store.model import (
    AuditEvent,
    Centre,
    CentreLocation,
    HumanTask,
    Instance,
    Milestone,
    Quote,
    Rma,
    RmaEstimate,
    utcnow,
)

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

STATUS_WORDS = {
    "requested": "Request received",
    **{k.split(".", 1)[1]: v for k, v in TEXT["en"].items() if k.startswith("status.")},
    incidents.INCIDENT: TEXT["en"]["incident.status"],
}
OUTCOME_WORDS = {k.split(".", 1)[1]: v for k, v in TEXT["en"].items() if k.startswith("outcome.")}


class QuoteChanged(Conflict):
    code = "quote_changed"


# Built once: executing a prepared statement with parameters skips rebuilding it and its cache key.
_RMA_BY_TOKEN = select(Rma).where(Rma.tracking_token == bindparam("token"))
_PENDING_DECISION = select(HumanTask).where(
    HumanTask.rma_id == bindparam("rma_id"),
    HumanTask.role == "customer",
    HumanTask.name == "customer_approval",
    HumanTask.status == "open",
)


def _by_token(session: Session, token: str) -> Rma:
    rma = session.scalar(_RMA_BY_TOKEN, {"token": token}) if _plausible(token) else None
    return _checked(rma, token)


def _plausible(token: str) -> bool:
    return bool(token) and len(token) < 100


def _checked(rma: Rma | None, token: str) -> Rma:
    if rma is None or not hmac.compare_digest(rma.tracking_token, token):
        raise RmaNotFound("no RMA for this tracking link")
    return rma


def customer_actor(rma: Rma) -> Actor:
    """The customer acting through the RMA's tracking link (an RMA has its number from the moment it is opened)."""
    if rma.number is None:
        raise RmaNotFound("no RMA for this tracking link")
    return Actor.customer(rma.number)


# The RMA, its instance (locked: before the task row, in the order the expiry timer's sweep locks) and its
# centre in one SELECT; apply() and the reactions after the step then find them in the session.
_DECIDING = (
    select(Rma, Instance, Centre)
    .join(Instance, Instance.rma_id == Rma.id)
    .outerjoin(Centre, Centre.code == Rma.centre_code)
    .where(Rma.tracking_token == bindparam("token"))
    .with_for_update(of=Instance)
)


def _pending_decision(session: Session, rma: Rma) -> HumanTask | None:
    # the customer's other tasks (troubleshooting) are answered on the request page, not by approve/decline
    return session.scalar(_PENDING_DECISION, {"rma_id": rma.id})


def _masked(phone: str | None) -> str | None:
    digits = (phone or "").strip()
    return None if not digits else ("•" * max(len(digits) - 4, 0)) + digits[-4:]


_TASKS_DONE = (
    select(AuditEvent.data)
    .where(AuditEvent.rma_id == bindparam("rma_id"), AuditEvent.kind == "task_completed")
    .order_by(AuditEvent.id)
)
CUSTOMER_FACTS = ("fault_category", *SHIPPING_KEYS)  # what the customer is told of what staff entered


def _facts(session: Session, rma: Rma) -> dict:
    """The last fault category and return shipment staff entered (nothing else of the tasks' data)."""
    facts: dict = {}
    for data in session.scalars(_TASKS_DONE, {"rma_id": rma.id}):
        for key in CUSTOMER_FACTS:
            if isinstance(data, dict) and data.get(key):
                facts[key] = str(data[key])
    return facts


def centre_contact(session: Session, centre_code: str | None) -> dict | None:
    """How the customer reaches the centre: name, address, phone, e-mail, opening hours (its finder entry)."""
    centre = session.get(Centre, centre_code) if centre_code else None
    if centre is None:
        return None
    location = session.get(CentreLocation, centre.code)
    return {
        "name": centre.name,
        "address": ", ".join(
            part for part in (location.address, f"{location.postcode} {location.city}".strip()) if part
        )
        if location
        else "",
        "phone": location.phone if location else "",
        "email": (location.email or "") if location else "",
        "opening_hours": list(location.opening_hours or []) if location else [],
    }


def portal_view(orc: Orchestrator, token: str) -> dict:
    """What the customer may see, in the customer's language: no internal notes, no staff names."""
    with orc.reading() as s:
        rma = _by_token(s, token)
        lang = language(rma.customer_language)
        stages = stage_tables.of_rma(orc, s, rma)  # its steps and stage names: its bundle version's
        settled = incidents.settled_status(s, rma)  # held up by an incident: its steps stay where they were
        centre = s.get(Centre, rma.centre_code)
        facts = _facts(s, rma)
        pending = _pending_decision(s, rma)
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.rma_id == rma.id, AuditEvent.customer_visible).order_by(AuditEvent.id)
        ).all()
        milestones = s.scalars(select(Milestone).where(Milestone.rma_id == rma.id).order_by(Milestone.id)).all()
        quote_row = latest_quote(s, rma.id)
        quote = None
        if rma.quote_total is not None:
            quote = {"total": rma.quote_total, "currency": rma.currency, "in_warranty": rma.in_warranty}
        history = [
            {"at": e.at, "kind": e.kind, "detail": _customer_detail(e, lang, stages), "data": e.data} for e in events
        ]
        return {
            "number": rma.number,
            "status": rma.status,
            "status_text": status_text(lang, rma.status, stages),
            "stage": rma.stage,
            "outcome": rma.outcome,
            "outcome_text": t(lang, f"outcome.{rma.outcome}") if rma.outcome else None,
            "product": {"model": rma.product_model, "serial_number": rma.serial_number},
            # which date the warranty check counts from (issue 17.5), in the customer's words
            "warranty": {
                "date": rma.warranty_date,
                "basis": rma.warranty_basis,
                "basis_text": t(lang, f"warranty.basis.{rma.warranty_basis}") if rma.warranty_basis else None,
                "none_text": None if rma.warranty_basis else t(lang, "warranty.none"),
                "in_warranty": rma.in_warranty,
            },
            "quote": quote,
            "decision_pending": pending is not None,
            "language": lang,
            "history": history,
            "created_at": rma.created_at,
            "closed_at": rma.closed_at,
            "quote_detail": quote_view(quote_row),
            "diagnosis": t(lang, f"fault.{facts['fault_category']}") if facts.get("fault_category") else None,
            "prices_include_tax": bool(centre.prices_include_tax) if centre is not None else False,
            "shipment": (
                {key: facts[key] for key in SHIPPING_KEYS} if all(facts.get(k) for k in SHIPPING_KEYS) else None
            ),
            "held_up": rma.status == incidents.INCIDENT,
            "contact": centre_contact(s, rma.centre_code),
            "milestones": _milestones(history, milestones, lang),
            "steps": _steps(rma, settled, history, quote_row, lang, stages),
            "eta": estimates.view(s.get(RmaEstimate, rma.id), lang, stages) if rma.closed_at is None else None,
            # the estimate the customer was given slipped (engine.services.promises): the latest slip, while open
            "slip": slips.slip_view(history, stages, rma.status, lang) if rma.closed_at is None else None,
            "sms": {
                "available": bool(rma.customer_phone),
                "opted_out": rma.sms_opt_out,
                "phone": _masked(rma.customer_phone),
            },
            "receipt_available": any(m.message == "intake_receipt" for m in milestones),
        }


def _customer_detail(event: AuditEvent, lang: str, stages: StageTable) -> str:
    data = event.data or {}
    if event.kind == "status_changed" and data.get("to"):
        return status_text(lang, data["to"], stages)
    if event.kind == "rma_opened":
        return t(lang, "event.rma_opened")
    if event.kind == "quote_decided":
        if data.get("expired"):
            return t(lang, "event.quote_expired")
        return t(lang, "event.quote_approved" if data.get("approve") else "event.quote_declined")
    if event.kind == "rma_closed":
        return t(lang, f"outcome.{data['outcome']}") if data.get("outcome") else t(lang, "status.closed")
    if event.kind == slips.SLIPPED and data.get("earliest") and data.get("latest"):
        earliest, latest = date.fromisoformat(data["earliest"]), date.fromisoformat(data["latest"])
        return t(lang, "event.eta_slipped", earliest=day(lang, earliest), latest=day(lang, latest))
    return ""


def _milestones(history: list[dict], milestones: Sequence[Milestone], lang: str) -> list[dict]:
    """Dated milestones, newest first: status changes and decisions, plus the BPMN's notifying milestones."""
    items = [{"at": e["at"], "text": e["detail"], "kind": e["kind"]} for e in history if e["detail"]]
    items += [
        {"at": m.reached_at, "text": t(lang, f"milestone.{m.message}"), "kind": m.message}
        for m in milestones
        if f"milestone.{m.message}" in TEXT["en"]
    ]
    return sorted(items, key=lambda item: item["at"], reverse=True)


def _steps(
    rma: Rma, status: str, history: list[dict], quote: Quote | None, lang: str, stages: StageTable
) -> list[dict]:
    """Each step with its state (done / current / todo) and the date it was reached.

    The steps are the process's: its stages with a portalStep in that order, each keyed by the status that
    makes it current and titled with the stage's customer name; then the end. The first is reached on opening.
    `status`: the RMA's, or while an incident holds it up the one it had before. Only what happened or still
    will is shown: a step behind the current one that was never reached (repair and QA after a declined quote,
    repair after no fault was found) was skipped, and is left out rather than ticked."""
    keys = [stage.status for stage in stages.steps if stage.status] + [END_STEP]
    reached: dict[str, object] = {}
    for event in history:
        if event["kind"] == "rma_opened":
            reached.setdefault(keys[0], event["at"])
        elif event["kind"] == "status_changed":
            for key in keys:
                if status_text(lang, key, stages) == event["detail"]:
                    reached[key] = event["at"]
        elif event["kind"] == "rma_closed":
            reached[END_STEP] = event["at"]
    current = keys.index(status) if status in keys else 0
    no_quote = quote is None and rma.quote_total is None
    steps = []
    for i, key in enumerate(keys):
        stage = stages.by_status(key)
        if stage is not None and stage.shown == "ifQuoted" and (bool(rma.in_warranty) or (no_quote and current >= i)):
            continue  # covered by warranty (or nothing to repair): the customer is never asked
        state = "done" if i < current or status == END_STEP else "current" if i == current else "todo"
        if state == "done" and key not in reached:
            continue  # passed over (declined, no fault found): it did not happen, so it is not ticked
        steps.append(
            {
                "key": key,
                "title": stage.name(lang) if stage is not None else t(lang, f"step.{key}"),
                "state": state,
                "state_text": t(lang, {"done": "page.done", "current": "page.current", "todo": "page.todo"}[state]),
                "at": reached.get(key) if state != "todo" else None,
            }
        )
    return steps


def record_customer_decision(
    orc: Orchestrator, token: str, approve: object, ip: str | None = None, quote_version: int | None = None
) -> dict:
    """Approve or decline the pending quote; 409 when no decision is pending or the quote changed meanwhile."""
    with orc.uow() as uow:
        s = uow.session
        found = s.execute(_DECIDING, {"token": token}).first() if _plausible(token) else None
        # `found` keeps the instance and the centre referenced; an RMA without an instance yet (a request)
        # is found by its token alone and has no decision pending
        rma = _checked(found.Rma, token) if found is not None else _by_token(s, token)
        task = _pending_decision(s, rma)
        if task is None:
            raise NoDecisionPending(f"{rma.number} has no quote waiting for a decision")
        bundle_form = forms.validate_submission(
            {"type": "object", "required": ["approve"], "properties": {"approve": {"type": "boolean"}}},
            {"approve": approve},
        )
        quote = s.scalar(
            select(Quote).where(Quote.rma_id == rma.id, Quote.task_id == task.id, Quote.status == "pending")
        )
        if quote is not None and quote_version is not None and int(quote_version) != quote.version:
            raise QuoteChanged(
                f"{rma.number}: you answered quote version {quote_version}, "
                f"but version {quote.version} is the one waiting for a decision"
            )
        actor = customer_actor(rma)
        now = utcnow()
        result = s.execute(
            update(HumanTask)
            .where(HumanTask.id == task.id, HumanTask.status == "open")
            .values(status="completed", completed_by=actor.username, completed_at=now, data=bundle_form)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult, result).rowcount != 1:  # an UPDATE's result (Session.execute is typed for rows)
            raise NoDecisionPending(f"{rma.number} has no quote waiting for a decision")
        approved = bundle_form["approve"]
        if quote is not None:
            quote.status, quote.decided_at, quote.decided_ip = ("approved" if approved else "declined"), now, ip
        audit(
            s,
            rma.id,
            actor,
            "quote_decided",
            "quote approved" if approved else "quote declined",
            task_name=task.name,
            data={
                "approve": approved,
                "quote_total": str(rma.quote_total),
                "currency": rma.currency,
                "ip": ip,
                "quote_version": quote.version if quote is not None else None,
            },
        )
        apply(orc, s, rma, actor, lambda wf: orc.runtime.complete(wf, task.id, bundle_form), completed_task=task.name)
        uow.commit()
    return portal_view(orc, token)


def set_sms_opt_out(orc: Orchestrator, token: str, opt_out: bool) -> dict:
    """The customer turns text messages off (or on again); email keeps coming."""
    with orc.uow() as uow:
        s = uow.session
        rma = _by_token(s, token)
        # guarded: the same choice made twice at once (two tabs) is recorded once, the other finds it made
        changed = s.execute(
            update(Rma)
            .where(Rma.id == rma.id, Rma.sms_opt_out.is_not(bool(opt_out)))
            .values(sms_opt_out=bool(opt_out))
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult, changed).rowcount == 1:  # an UPDATE's result (Session.execute is typed for rows)
            audit(
                s,
                rma.id,
                customer_actor(rma),
                "sms_preference",
                "customer turned text messages off" if opt_out else "customer turned text messages on",
                data={"sms_opt_out": bool(opt_out)},
            )
        uow.commit()
    return portal_view(orc, token)


# "Find my repair": a customer who lost the link gives the RMA number and their e-mail address. The answer is the
# same whether or not they match (no oracle for numbers or addresses); the link goes only to the address on record,
# at most once a day per RMA (its outbox key), and one client address may ask FIND_PER_ADDRESS times (no cannon).
FIND_PER_ADDRESS = throttle.Limit(5, timedelta(hours=1), timedelta(hours=1))
_BY_NUMBER = select(Rma).where(Rma.number == bindparam("number"))


def find_address_key(address: str | None) -> str:
    return "find-ip:" + (address or "unknown").strip().lower()[:64]


def send_tracking_link(orc: Orchestrator, number: str, email: str, ip: str | None = None) -> bool:
    """Mail the RMA's tracking link to its customer when `number` and `email` are the RMA's; True when e-mail can
    be sent at all (the caller's answer must not depend on anything else). TooManyAttempts past the limit."""
    throttle.hit(orc, {find_address_key(ip): FIND_PER_ADDRESS})
    number, email = (number or "").strip().upper()[:40], (email or "").strip()[:254]
    with orc.uow() as uow:
        s = uow.session
        rma = s.scalar(_BY_NUMBER, {"number": number}) if number and email else None
        on_record = rma.customer_email if rma is not None else ""
        if rma is not None and hmac.compare_digest(on_record.strip().casefold(), email.casefold()):
            lang = language(rma.customer_language)
            centre = s.get(Centre, rma.centre_code)
            values = {
                "name": rma.customer_name,
                "number": rma.number,
                "model": rma.product_model,
                "url": tracking_url(orc, rma),
                "centre": centre.name if centre is not None else rma.centre_code,
            }
            outbox.enqueue(
                s,
                "email",
                on_record,
                t(lang, "find.body", **values),
                f"find-link:{rma.id}:{utcnow().date().isoformat()}",  # one link mail per RMA and day
                subject=t(lang, "find.subject", number=rma.number),
                rma_id=rma.id,
                rma_number=rma.number,
            )
            audit(
                s,
                rma.id,
                customer_actor(rma),
                "tracking_link_requested",
                "tracking link sent on request",
                data={"ip": ip},
            )
            uow.commit()
    return outbox.not_sent_reason(orc.settings, "email") is None


def contacts(orc: Orchestrator) -> list[dict]:
    """Every centre's contact details (the pages with no RMA yet, such as "find my repair")."""
    with orc.reading() as s:
        codes = s.scalars(select(CentreLocation.centre_code).order_by(CentreLocation.centre_code)).all()
        return [c for code in codes if (c := centre_contact(s, code)) is not None]
