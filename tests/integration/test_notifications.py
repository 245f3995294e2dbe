"""Milestone messages: declared in the BPMN, rendered per language, sent once through real SMTP and SMS endpoints."""

from __future__ import annotations

import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from PIL import Image
from sqlalchemy import func, select

from engine.errors import InvalidFormData
from engine.services import portal, rmas
from engine.services.photos import add_photos
from engine.services.scheduler import fire_due_timers
from engine.store.model import Milestone, OutboxMessage, Quote, Rma, utcnow
from engine.store.outbox import send_pending
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload
from tests.integration.customer_fixtures import senders, sms_gateway, smtp_inbox  # noqa: F401

DIAGNOSIS = {"diagnosis": "Shutter motor worn", "fault_category": "mechanical", "parts_cost": 100, "labour_hours": 2}


def open_rma(orc, language="en", months_old=36, phone="+65 9000 0000", **kw) -> dict:
    payload = rma_payload(months_old=months_old, **kw)
    payload["customer"]["language"] = language
    payload["customer"]["phone"] = phone
    return rmas.open_rma(orc, actor(orc, "sg.reception"), payload)


def quoted(orc, **kw) -> dict:
    rma = open_rma(orc, **kw)
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    complete_open_task(orc, "sg.tech", rma["id"], "diagnose", DIAGNOSIS)
    return rma


def outbox(orc, rma_id=None) -> list[SimpleNamespace]:
    with orc.uow() as uow:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if rma_id is not None:
            query = query.where(OutboxMessage.rma_id == rma_id)
        return [
            SimpleNamespace(idempotency_key=m.idempotency_key, channel=m.channel, recipient=m.recipient)
            for m in uow.session.scalars(query)
        ]


def keys(orc, rma_id) -> list[str]:
    return [m.idempotency_key.split(".")[1] + ":" + m.channel for m in outbox(orc, rma_id)]


def test_intake_receipt_goes_out_by_email_and_sms_with_condition_and_tracking_link(
    orc, smtp_inbox, sms_gateway, senders
):
    rma = open_rma(orc)
    assert outbox(orc) == []  # nothing before the condition is recorded
    complete_open_task(
        orc,
        "sg.reception",
        rma["id"],
        "record_condition",
        {**INTAKE, "condition_notes": "Scratch on the top plate", "accessories": "Strap, charger"},
    )
    assert send_pending(orc, senders) == {"sent": 2, "failed": 0}
    [mail] = smtp_inbox.messages
    assert mail["to"] == ["kim@example.com"] and rma["number"] in mail["subject"]
    body = mail["body"]
    for expected in (
        rma["number"],
        "Scratch on the top plate",
        "Strap, charger",
        "Photos taken:    0",
        f"{orc.settings.base_url}/track/{rma['tracking_token']}",
        "Estimated completion",
    ):
        assert expected in body, expected
    received = [{"key": r.headers["Idempotency-Key"], **r.json} for r in sms_gateway.requests]
    assert [(s["to"], s["rma_number"]) for s in received] == [("+65 9000 0000", rma["number"])]
    assert rma["tracking_token"] in received[0]["body"] and len(received[0]["body"]) <= 320


def test_the_intake_receipt_counts_the_photos_the_form_cites(orc, smtp_inbox, senders):
    # The receipt's template reads `photos`, so the photos are read for it (a template that does not
    # read them, such as repair_complete, is rendered without that query).
    rma = open_rma(orc, phone=None)
    photos = add_photos(
        orc, actor(orc, "sg.reception"), rma["id"], [("a.png", _png((200, 30, 30))), ("b.png", _png((30, 200, 30)))]
    )
    complete_open_task(
        orc, "sg.reception", rma["id"], "record_condition", {**INTAKE, "photos": [p["sha256"] for p in photos]}
    )
    assert send_pending(orc, senders) == {"sent": 1, "failed": 0}
    assert "Photos taken:    2" in smtp_inbox.messages[0]["body"]


def _png(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(out, "PNG")
    return out.getvalue()


def test_a_german_customer_gets_german_messages(orc, smtp_inbox, senders):
    rma = quoted(orc, language="de")
    send_pending(orc, senders)
    assert smtp_inbox.subjects() == [
        f"{rma['number']}: Ihr Vista X100 Camera ist bei uns eingegangen",
        f"{rma['number']}: Ihr Kostenvoranschlag liegt vor",
    ]
    quote_mail = smtp_inbox.messages[1]["body"]
    assert "Arbeitszeit 2 Std. × 60,00 SGD: 120,00 SGD" in quote_mail and "Gesamt: 220,00 SGD" in quote_mail


def test_every_milestone_of_a_repair_is_sent_once_and_only_once(orc, smtp_inbox, senders):
    rma = quoted(orc, phone=None)
    portal.record_customer_decision(orc, rma["tracking_token"], True)
    complete_open_task(orc, "sg.tech", rma["id"], "repair", {"repair_notes": "New motor"})
    complete_open_task(orc, "sg.qa", rma["id"], "qa_check", {"qa_passed": False, "qa_notes": "Still faulty"})
    complete_open_task(orc, "sg.tech", rma["id"], "repair", {"repair_notes": "Adjusted"})
    complete_open_task(orc, "sg.qa", rma["id"], "qa_check", {"qa_passed": True})
    complete_open_task(orc, "sg.reception", rma["id"], "ship_return", {"carrier": "DHL", "tracking_number": "JD42"})
    assert keys(orc, rma["id"]) == [
        "intake_receipt:email",
        "quote_ready:email",
        "repair_complete:email",
        "unit_shipped:email",
    ]  # out of warranty: diagnosis_complete renders empty
    assert send_pending(orc, senders)["sent"] == 4
    assert send_pending(orc, senders) == {"sent": 0, "failed": 0}
    assert len(smtp_inbox.messages) == 4 and len({m["id"] for m in smtp_inbox.messages}) == 4
    assert "DHL" in smtp_inbox.messages[-1]["body"] and "JD42" in smtp_inbox.messages[-1]["body"]


def test_in_warranty_diagnosis_tells_the_customer_it_is_covered(orc, smtp_inbox, senders):
    rma = open_rma(orc, months_old=6, phone=None)
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    complete_open_task(orc, "sg.tech", rma["id"], "diagnose", {**DIAGNOSIS, "fault_category": "electronic"})
    send_pending(orc, senders)
    assert "covered by your warranty" in smtp_inbox.messages[-1]["body"]


def test_nothing_is_sent_for_work_that_was_rolled_back(orc):
    rma = open_rma(orc)
    with pytest.raises(InvalidFormData):
        complete_open_task(orc, "sg.reception", rma["id"], "record_condition", {**INTAKE, "condition_grade": "Z"})
    assert outbox(orc) == []
    with orc.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Milestone)) == 0


def test_a_customer_who_opted_out_of_sms_gets_email_only(orc):
    rma = open_rma(orc)
    view = portal.set_sms_opt_out(orc, rma["tracking_token"], True)
    assert view["sms"] == {"available": True, "opted_out": True, "phone": "•" * 9 + "0000"}
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    assert [m.channel for m in outbox(orc, rma["id"])] == ["email"]


def test_failed_delivery_is_logged_for_staff_and_retried(orc, smtp_inbox):
    from engine.adapters.senders import SmtpSender
    from engine.services.customers import customer_side

    rma = open_rma(orc, phone=None)
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    assert send_pending(orc, {"email": SmtpSender("smtp://127.0.0.1:9", "x@example.com", timeout=2)})["failed"] == 1
    [entry] = customer_side(orc, actor(orc, "sg.reception"), rma["id"])["deliveries"]
    assert entry["state"] == "retrying" and entry["attempts"] == 1 and entry["last_error"]
    later = utcnow() + timedelta(minutes=5)
    assert send_pending(orc, {"email": SmtpSender(smtp_inbox.url, "x@example.com")}, now=later)["sent"] == 1
    [entry] = customer_side(orc, actor(orc, "sg.reception"), rma["id"])["deliveries"]
    assert entry["state"] == "sent"


# --- the approval timers, fired by the worker's sweep -----------------------------------------------


def test_reminder_after_three_days_is_enqueued_once_and_expiry_declines(orc, smtp_inbox, senders):
    with time_machine.travel(utcnow(), tick=False) as clock:
        start = utcnow()
        rma = quoted(orc, phone=None)
        assert fire_due_timers(orc) == 0
        clock.move_to(start + timedelta(days=3, minutes=1))
        assert fire_due_timers(orc) == 1
        assert fire_due_timers(orc) == 0  # the same sweep again finds nothing due
        assert keys(orc, rma["id"]).count("approval_reminder:email") == 1
        send_pending(orc, senders)
        assert "reminder" in smtp_inbox.subjects()[-1]

        clock.move_to(start + timedelta(days=14, minutes=1))
        assert fire_due_timers(orc) == 1
        view = rmas.get_rma(orc, actor(orc, "sg.reception"), rma["id"])
        assert view["status"] == "returning" and [t["name"] for t in view["open_tasks"]] == ["ship_return"]
        assert any(e["kind"] == "timer_fired" and "approval_expired" in e["detail"] for e in view["history"])
        assert "approval_expired:email" in keys(orc, rma["id"])
        customer = portal.portal_view(orc, rma["tracking_token"])
        assert customer["decision_pending"] is False and customer["quote_detail"]["status"] == "expired"
        assert any("expired" in m["text"] for m in customer["milestones"])
        complete_open_task(orc, "sg.reception", rma["id"], "ship_return", {"carrier": "DHL", "tracking_number": "X1"})
        with orc.uow() as uow:
            assert uow.session.get(Rma, rma["id"]).outcome == "returned_unrepaired"


def test_an_answer_before_the_reminder_leaves_no_timer(orc):
    rma = quoted(orc)
    portal.record_customer_decision(orc, rma["tracking_token"], False)
    with time_machine.travel(utcnow() + timedelta(days=20), tick=False):
        assert fire_due_timers(orc) == 0
    assert "approval_reminder:email" not in keys(orc, rma["id"])


def test_decision_records_time_ip_and_the_exact_quote_version(orc):
    rma = quoted(orc)
    portal.record_customer_decision(orc, rma["tracking_token"], True, ip="203.0.113.9", quote_version=1)
    with orc.uow() as uow:
        [quote] = uow.session.scalars(select(Quote).where(Quote.rma_id == rma["id"]))
        assert (quote.version, quote.status, quote.decided_ip) == (1, "approved", "203.0.113.9")
        assert quote.decided_at is not None and str(quote.total) == "220.00"
        assert [line["amount"] for line in quote.lines] == ["100.00", "120.00"]


def test_an_answer_to_an_old_quote_version_is_refused(orc):
    rma = quoted(orc)
    with pytest.raises(portal.QuoteChanged):
        portal.record_customer_decision(orc, rma["tracking_token"], True, quote_version=2)
    assert portal.portal_view(orc, rma["tracking_token"])["decision_pending"] is True
