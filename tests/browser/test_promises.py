"""A slipped promise message (issue 16.10): the customer's tracking page shows that the estimate slipped."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from engine.customer import estimates
from engine.services import promises, rmas
from engine.store.model import OutboxMessage, RmaEstimate
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload

pytestmark = pytest.mark.browser
SCREENSHOTS = os.environ.get("RMA_TEST_SCREENSHOTS")


def _slipped(orc, lang: str) -> tuple[dict, str]:
    """An RMA at diagnosis whose estimate was about to be missed when the worker swept: the customer was told."""
    estimates.clear_cache()
    payload = rma_payload(months_old=6, serial=f"SN-SLIP-{lang}")
    payload["customer"]["language"] = lang
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), payload)
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    with orc.reading() as s:
        promised = s.get(RmaEstimate, rma["id"]).latest
    moment = promises.promise_end(promised, "Asia/Singapore") - timedelta(hours=3)
    assert promises.notify_slipped_promises(orc, now=moment) == 1
    with orc.reading() as s:
        [subject] = s.scalars(
            select(OutboxMessage.subject).where(OutboxMessage.rma_id == rma["id"], OutboxMessage.channel == "email")
        ).all()[-1:]
    return rma, subject


def test_a_slipped_promise_message(page: Page, live_server):
    rma, subject = _slipped(live_server.orc, "en")
    assert subject == f"{rma['number']}: your repair is taking longer than we said"
    page.goto(f"/track/{rma['tracking_token']}")
    slip = page.get_by_test_id("eta-slipped")
    expect(slip).to_contain_text("Later than we said: we expected to finish by ")
    expect(slip).to_contain_text("It is now at the step: Diagnosis.")
    expect(page.get_by_test_id("eta-range")).to_be_visible()  # the new range, above the notice
    expect(page.get_by_test_id("milestones")).to_contain_text("Later than estimated: now expected between")
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / "customer-tracking-slipped-estimate.png"), full_page=True)


def test_a_slipped_promise_in_german(page: Page, live_server):
    rma, subject = _slipped(live_server.orc, "de")
    assert subject.endswith("Ihre Reparatur dauert länger als angekündigt")
    page.goto(f"/track/{rma['tracking_token']}")
    slip = page.get_by_test_id("eta-slipped")
    expect(slip).to_contain_text("Später als angekündigt: Wir wollten bis ")
    expect(slip).to_contain_text("Aktueller Schritt: Diagnose.")
    expect(page.get_by_test_id("milestones")).to_contain_text("Später als geschätzt: jetzt voraussichtlich zwischen")
