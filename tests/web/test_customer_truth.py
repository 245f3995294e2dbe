"""The customer is never told something false (issue 16, points 7-9): every status worded in English and German,
the steps show only what happened or will, a decline is confirmed, the parcel, the diagnosis and the tax are shown,
the centre's contact is on every customer page, "find my repair" mails the link to the address on record only;
messages say "not sent" when nothing sends them; `rma serve` links to the address it serves and warns."""

from __future__ import annotations

import dataclasses
import re

import pytest
from click.testing import CliRunner
from markupsafe import escape
from sqlalchemy import select

from engine import Actor, Orchestrator
from engine.config import Settings
from engine.customer import customer_text
from engine.process.stages import shipped
from engine.services import centres, customers, portal
from engine.store.model import Centre, OutboxMessage
from tests.helpers import INTAKE, rma_payload, staff_session
from tests.web.conftest import ApiDriver
from tests.web.test_ops import _break_the_quote

DIAGNOSIS = {
    "diagnosis": "Corroded flex cable near J4",
    "fault_category": "electronic",
    "parts_cost": 80,
    "labour_hours": 1,
}
SHIPMENT = {"carrier": "DHL Express", "tracking_number": "JD014600003SG"}


@pytest.fixture
def pages(orc):
    from web import create_app

    return create_app({"RMA_ORCHESTRATOR": orc, "TESTING": True, "WTF_CSRF_ENABLED": False}).test_client()


@pytest.fixture
def api(pages) -> ApiDriver:
    return ApiDriver(pages)


def _quoted(api, **payload) -> dict:
    rma = api.open_rma(months_old=30, **payload)
    api.do("sg.reception", rma["id"], "record_condition", INTAKE)
    api.do("sg.tech", rma["id"], "diagnose", DIAGNOSIS)
    return rma


def _portal(api, rma) -> dict:
    return api.client.get(f"/api/portal/{rma['tracking_token']}").get_json()


def _answer(page: str) -> str:
    return re.search(r'data-testid="find-answer">([^<]*)<', page).group(1)


def test_a_decline_is_confirmed_first_then_repair_and_qa_are_never_ticked_and_the_parcel_is_shown(api):
    rma = _quoted(api)
    token = rma["tracking_token"]
    page = api.client.get(f"/track/{token}").get_data(as_text=True)
    assert "An electronic fault" in page and "Corroded flex cable" not in page  # the customer's words, not the bench's
    assert "Prices do not include tax" in page  # the centre's setting (default: tax not included)

    unconfirmed = api.client.post(f"/track/{token}/decision", data={"approve": "false", "quote_version": "1"})
    assert unconfirmed.status_code == 302 and "decline=1" in unconfirmed.headers["Location"]
    assert _portal(api, rma)["decision_pending"] is True  # nothing recorded without the confirmation
    confirm = api.client.get(f"/track/{token}?decline=1").get_data(as_text=True)
    assert 'data-testid="confirm-decline"' in confirm and "send it back to you unrepaired" in confirm

    confirmed = {"approve": "false", "quote_version": "1", "confirmed": "1"}
    assert api.client.post(f"/track/{token}/decision", data=confirmed).status_code == 302
    view = _portal(api, rma)
    assert view["quote_detail"]["status"] == "declined"
    keys = [(s["key"], s["state"]) for s in view["steps"]]
    assert keys == [
        ("received", "done"),
        ("diagnosing", "done"),
        ("awaiting_approval", "done"),
        ("returning", "current"),
        ("closed", "todo"),
    ]

    api.do("sg.reception", rma["id"], "ship_return", SHIPMENT)
    view = _portal(api, rma)
    assert view["shipment"] == SHIPMENT
    assert [s["key"] for s in view["steps"]] == ["received", "diagnosing", "awaiting_approval", "returning", "closed"]
    assert all(s["state"] == "done" for s in view["steps"])
    page = api.client.get(f"/track/{token}").get_data(as_text=True)
    assert "DHL Express" in page and "JD014600003SG" in page and "Parcel tracking number" in page


def test_an_incident_is_worded_for_the_customer_in_english_and_german_and_keeps_the_steps(api, orc):
    _break_the_quote(orc)
    payload = rma_payload(months_old=40, serial="SN-DE-9")
    payload["customer"]["language"] = "de"
    rma = api.post("sg.reception", "/api/rmas", payload).get_json()
    api.do("sg.reception", rma["id"], "record_condition", INTAKE)
    assert api.do("sg.tech", rma["id"], "diagnose", DIAGNOSIS)["status"] == "incident"

    view = _portal(api, rma)
    assert view["status_text"] == "Durch ein technisches Problem aufgehalten: unser Team kümmert sich darum"
    assert view["held_up"] is True
    assert [s["key"] for s in view["steps"] if s["state"] == "current"] == ["diagnosing"]  # where it stopped
    page = api.client.get(f"/track/{rma['tracking_token']}").get_data(as_text=True)
    assert "status.incident" not in page and "incident.status" not in page and 'data-testid="held-up"' in page
    assert "Ein technisches Problem auf unserer Seite" in page
    english = customer_text.status_text("en", "incident", shipped())
    assert english == "Held up by a technical problem: our team is on it"


def test_the_tax_setting_and_the_centres_contact_are_on_every_customer_page(api, orc):
    centres.seed_demo_locations(orc)
    centres.set_location(orc, "SG", email="service.sg@example.com")
    with orc.uow() as uow:
        uow.session.get(Centre, "SG").prices_include_tax = True
        uow.commit()
    rma = _quoted(api)
    for url in (f"/track/{rma['tracking_token']}", "/track"):
        page = api.client.get(url).get_data(as_text=True)
        assert 'data-testid="centre-contact"' in page, url
        assert "+65 6123 4567" in page and "service.sg@example.com" in page and "1 Fusionopolis Way" in page, url
    assert "All prices include tax." in api.client.get(f"/track/{rma['tracking_token']}").get_data(as_text=True)
    german = api.client.get("/track?lang=de").get_data(as_text=True)
    assert "Meine Reparatur finden" in german and "Öffnungszeiten" in german


def test_find_my_repair_answers_alike_and_mails_only_the_address_on_record_once_a_day(orc, settings):
    from web import create_app

    mailing = Orchestrator(dataclasses.replace(settings, smtp_url="smtp://mail.invalid:25"))
    try:
        client = create_app({"RMA_ORCHESTRATOR": mailing, "TESTING": True, "WTF_CSRF_ENABLED": False}).test_client()
        rma = ApiDriver(client).open_rma(email="kim@example.com")
        with orc.reading() as s:
            before = s.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(1))

        def ask(number, email):
            return client.post("/track", data={"number": number, "email": email})

        def mails():
            with orc.reading() as s:
                return s.scalars(select(OutboxMessage).where(OutboxMessage.id > (before or 0))).all()

        answers = [
            ask(rma["number"], "attacker@example.com"),  # the right number, another address
            ask("RMA-SG-999999", "kim@example.com"),  # no such RMA
        ]
        assert mails() == []  # nothing goes out for a pair that does not match
        answers += [
            ask(rma["number"].lower(), " KIM@example.com "),  # the right pair, typed loosely
            ask(rma["number"], "kim@example.com"),  # the right pair again the same day
        ]
        assert {a.status_code for a in answers} == {200}
        assert len({_answer(a.get_data(as_text=True)) for a in answers}) == 1  # one answer: no oracle
        sent = mails()
        assert [(m.channel, m.recipient) for m in sent] == [("email", "kim@example.com")]  # once, to the record
        assert f"/track/{rma['tracking_token']}" in sent[0].body and rma["number"] in sent[0].subject
    finally:
        mailing.dispose()

    # no SMTP: the page says so, whatever was typed
    unconfigured = create_app({"RMA_ORCHESTRATOR": orc, "TESTING": True, "WTF_CSRF_ENABLED": False}).test_client()
    answer = unconfigured.post("/track", data={"number": rma["number"], "email": "kim@example.com"})
    assert "cannot send email" in _answer(answer.get_data(as_text=True))
    throttled = unconfigured.post("/track", data={"number": rma["number"], "email": "kim@example.com"})
    assert throttled.status_code == 429 and throttled.headers["Retry-After"]  # the sixth try of the hour


def _login(client, username):
    with client.session_transaction() as session:
        staff_session(session, client.application, username)


def test_without_smtp_messages_say_not_sent_and_staff_read_their_body(api, orc, settings):
    rma = api.open_rma()
    api.do("sg.reception", rma["id"], "record_condition", INTAKE)  # the intake receipt goes out
    side = api.get("sg.reception", f"/api/rmas/{rma['id']}/customer-side").get_json()
    emails = [d for d in side["deliveries"] if d["channel"] == "email"]
    assert emails and {(d["state"], d["state_text"]) for d in emails} == {
        ("not_sent", "not sent: email is not configured")
    }
    assert all(d["body"] for d in emails)
    texts = [d for d in side["deliveries"] if d["channel"] == "sms"]
    assert {d["state_text"] for d in texts} <= {"not sent: text messages are not configured"}

    _login(api.client, "sg.reception")
    page = api.client.get(f"/rmas/{rma['id']}").get_data(as_text=True)
    states = re.findall(r'data-testid="delivery-state">([^<]*)<', page)
    assert states and all(s.startswith("not sent: ") for s in states) and "queued" not in states
    assert 'data-testid="delivery-body"' in page and str(escape(emails[0]["body"].splitlines()[0])) in page
    _login(api.client, "manager")
    ops = api.client.get("/ops/incidents").get_data(as_text=True)
    assert "not sent: email is not configured" in ops and "Every message was delivered" not in ops

    mailing = Orchestrator(dataclasses.replace(settings, smtp_url="smtp://mail.invalid:25"))
    try:
        configured = customers.customer_side(mailing, Actor("manager", "manager"), rma["id"])["deliveries"]
    finally:
        mailing.dispose()
    assert {d["state"] for d in configured if d["channel"] == "email"} == {"queued"}


# --- `rma serve`: links and warnings (no database) ---------------------------------------------------


@pytest.fixture
def served(monkeypatch):
    import web.serving

    calls: list[dict] = []
    monkeypatch.setattr(web.serving, "serve", lambda host, port, run_worker, settings: calls.append(settings))
    return calls


def _serve(served, *args, **env):
    from web.cli import main as rma

    base = {"RMA_DATABASE_URL": "sqlite:///:memory:", "RMA_SECRET_KEY": "k"}
    base |= {name: "" for name in ("RMA_HOST", "RMA_PORT", "RMA_BASE_URL", "RMA_SMTP_URL", "RMA_SMS_WEBHOOK_URL")}
    result = CliRunner().invoke(rma, ["serve", *args], env={**base, **env})
    assert result.exit_code == 0, result.output
    return served[-1], result.output


def test_rma_serve_links_to_the_address_it_serves_and_warns_when_customers_miss_out(served):
    settings, output = _serve(served, "--host", "10.1.2.3", "--port", "8123")
    assert settings.base_url == "http://10.1.2.3:8123" and (settings.host, settings.port) == ("10.1.2.3", 8123)
    assert "RMA_BASE_URL is not set: links sent to customers point to this server, http://10.1.2.3:8123" in output
    assert "RMA_SMTP_URL is not set: email is not configured" in output
    assert "RMA_SMS_WEBHOOK_URL is not set" in output

    settings, output = _serve(served, RMA_HOST="0.0.0.0", RMA_PORT="9000")
    assert (settings.host, settings.port) == ("0.0.0.0", 9000) and "which they cannot open" in output

    settings, output = _serve(
        served, "--port", "8123", RMA_BASE_URL="https://rma.example.com", RMA_SMTP_URL="smtp://mail.lan"
    )
    assert settings.base_url == "https://rma.example.com" and settings.port == 8123
    assert "RMA_BASE_URL" not in output and "RMA_SMTP_URL" not in output

    settings, output = _serve(served)  # the quick start's own address: links are right, nothing to say about them
    assert settings.base_url == "http://127.0.0.1:5000" and "RMA_BASE_URL" not in output


def test_rma_host_and_port_give_the_links_their_address_unless_rma_base_url_is_set():
    assert Settings.from_env({"RMA_HOST": "10.0.0.5", "RMA_PORT": "8080"}).base_url == "http://10.0.0.5:8080"
    assert Settings.from_env({"RMA_HOST": "::1", "RMA_PORT": "8080"}).base_url == "http://[::1]:8080"
    given = Settings.from_env({"RMA_PORT": "8080", "RMA_BASE_URL": "https://rma.example.com/"})
    assert given.base_url == "https://rma.example.com" and given.base_url_set


def test_rma_centres_set_changes_what_customers_are_told(sqlite_orc):
    from web.cli import main as rma

    centres.seed_demo_locations(sqlite_orc)
    env = {"RMA_DATABASE_URL": sqlite_orc.settings.database_url, "RMA_SECRET_KEY": "k"}
    args = ["centres", "set", "DE", "--prices-include-tax", "--email", "hilfe@example.de", "--phone", "+49 30 99"]
    result = CliRunner().invoke(rma, args, env=env)
    assert result.exit_code == 0, result.output
    assert "prices include tax" in result.output
    with sqlite_orc.reading() as s:
        contact = portal.centre_contact(s, "DE")
        assert s.get(Centre, "DE").prices_include_tax is True and s.get(Centre, "SG").prices_include_tax is False
    assert (contact["email"], contact["phone"]) == ("hilfe@example.de", "+49 30 99")
    missing = CliRunner().invoke(rma, ["centres", "set", "XX", "--prices-exclude-tax"], env=env)
    assert missing.exit_code == 1 and "no centre XX" in missing.output
