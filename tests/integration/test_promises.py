"""Promises kept or broken honestly (issue 16.10): one message when the estimate given is about to be missed.

Through the worker's sweep (engine.services.promises via engine.worker.run_once) on SQLite and PostgreSQL: the
customer whose estimate's latest date ends within RMA_ETA_SLIP_NOTICE_HOURS is told once, with the new range and
the stage; the tracking page shows the slip; nothing for an RMA still within its range or a closed one.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from engine.customer import estimates
from engine.services import portal, promises, rmas
from engine.store.model import AuditEvent, OutboxMessage, RmaEstimate, utcnow
from engine.worker import run_once
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, race, rma_payload

SG_TZ = "Asia/Singapore"


def _at_diagnosis(orc, lang: str = "en", serial: str = "SN-SLIP") -> dict:
    payload = rma_payload(months_old=6, serial=serial)
    payload["customer"]["language"] = lang
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), payload)
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    return rma


def _promised(orc, rma_id: int) -> date:
    with orc.reading() as s:
        row = s.get(RmaEstimate, rma_id)
        return row.latest


def _just_before_the_end_of(day: date, hours: float = 2) -> datetime:
    return promises.promise_end(day, SG_TZ) - timedelta(hours=hours)


def _slip_mails(orc, rma_id: int) -> list[OutboxMessage]:
    with orc.reading() as s:
        return list(
            s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.rma_id == rma_id, OutboxMessage.idempotency_key.like("%.eta_slipped.%"))
                .order_by(OutboxMessage.id)
            )
        )


def _slip_events(orc, rma_id: int) -> list[AuditEvent]:
    with orc.reading() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.rma_id == rma_id, AuditEvent.kind == "eta_slipped")))


def _sweep(orc, moment: datetime) -> dict:
    with time_machine.travel(moment, tick=False):
        return run_once(orc, {}, promises=True)  # no sender: the messages stay in the outbox to be read


def test_a_promise_about_to_be_missed_is_told_once_with_the_new_range_and_the_stage(orc):
    estimates.clear_cache()
    rma = _at_diagnosis(orc)
    promised = _promised(orc, rma["id"])
    moment = _just_before_the_end_of(promised)
    assert _sweep(orc, moment)["slipped"] == 1
    for _ in range(3):  # later sweeps: the customer was told already
        assert _sweep(orc, moment + timedelta(minutes=30))["slipped"] == 0
    mails = _slip_mails(orc, rma["id"])
    assert [m.channel for m in mails] == ["email", "sms"]  # the customer gave a phone
    with time_machine.travel(moment, tick=False):
        view = portal.portal_view(orc, rma["tracking_token"])
    new_latest = view["eta"]["latest"]
    assert new_latest > promised
    email = mails[0]
    assert email.subject == f"{rma['number']}: your repair is taking longer than we said"
    assert view["eta"]["range"] in email.body  # the new range
    assert "It is now at the step: Diagnosis." in email.body  # the stage it is in
    assert f"{promised.day} " in email.body or promised.isoformat() in email.body  # the date that slipped
    # the tracking page: the slip, with the date promised and the stage; the milestones name the new range
    assert view["slip"]["promised"] == promised and view["slip"]["stage"] == "Diagnosis"
    assert view["slip"]["text"].startswith("Later than we said: we expected to finish by ")
    assert any(m["kind"] == "eta_slipped" and "now expected between" in m["text"] for m in view["milestones"])
    [event] = _slip_events(orc, rma["id"])
    assert event.customer_visible and event.data["promised"] == promised.isoformat()
    assert event.data["latest"] == new_latest.isoformat() and event.data["stage"] == "diagnosis"


def test_the_new_range_about_to_be_missed_again_is_told_again_in_german(orc):
    estimates.clear_cache()
    rma = _at_diagnosis(orc, lang="de", serial="SN-SLIP-DE")
    first = _promised(orc, rma["id"])
    assert _sweep(orc, _just_before_the_end_of(first))["slipped"] == 1
    second = _promised(orc, rma["id"])
    assert second > first
    assert _sweep(orc, _just_before_the_end_of(second, hours=30))["slipped"] == 0  # not yet about to pass
    assert _sweep(orc, _just_before_the_end_of(second))["slipped"] == 1  # the range moved again
    mails = [m for m in _slip_mails(orc, rma["id"]) if m.channel == "email"]
    assert len(mails) == 2
    assert all(m.subject.endswith("Ihre Reparatur dauert länger als angekündigt") for m in mails)
    assert "Aktueller Schritt: Diagnose." in mails[1].body
    with time_machine.travel(_just_before_the_end_of(second), tick=False):
        view = portal.portal_view(orc, rma["tracking_token"])
    assert view["slip"]["promised"] == second  # the latest slip
    assert view["slip"]["text"].startswith("Später als angekündigt: Wir wollten bis ")
    assert [e.data["promised"] for e in _slip_events(orc, rma["id"])] == [first.isoformat(), second.isoformat()]


def test_an_rma_within_its_range_is_not_told(orc):
    estimates.clear_cache()
    rma = _at_diagnosis(orc, serial="SN-IN-TIME")
    promised = _promised(orc, rma["id"])
    assert _sweep(orc, utcnow())["slipped"] == 0
    assert _sweep(orc, _just_before_the_end_of(promised, hours=30))["slipped"] == 0  # more than a day left
    assert _slip_mails(orc, rma["id"]) == [] and _slip_events(orc, rma["id"]) == []
    assert portal.portal_view(orc, rma["tracking_token"])["slip"] is None


def test_a_closed_rma_is_not_told(orc):
    estimates.clear_cache()
    rma = _at_diagnosis(orc, serial="SN-CLOSED")
    promised = _promised(orc, rma["id"])
    steps = [
        ("sg.tech", "diagnose", {"diagnosis": "x", "fault_category": "electronic"}),
        ("sg.tech", "repair", {"repair_notes": "ok"}),
        ("sg.qa", "qa_check", {"qa_passed": True}),
        ("sg.reception", "ship_return", {"carrier": "DHL", "tracking_number": "1"}),
    ]
    for user, name, data in steps:
        complete_open_task(orc, user, rma["id"], name, data)
    assert _sweep(orc, _just_before_the_end_of(promised))["slipped"] == 0
    assert _sweep(orc, _just_before_the_end_of(promised + timedelta(days=30)))["slipped"] == 0
    assert _slip_mails(orc, rma["id"]) == [] and _slip_events(orc, rma["id"]) == []


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_racing_sweeps_tell_the_customer_once(orc):
    estimates.clear_cache()
    rma = _at_diagnosis(orc, serial="SN-RACE")
    moment = _just_before_the_end_of(_promised(orc, rma["id"]))
    with time_machine.travel(moment, tick=False):
        results = race(*[lambda: promises.notify_if_slipped(orc, rma["id"], moment) for _ in range(8)])
    assert sorted(results) == [False] * 7 + [True], results
    assert len(_slip_events(orc, rma["id"])) == 1
    assert [m.channel for m in _slip_mails(orc, rma["id"])] == ["email", "sms"]
