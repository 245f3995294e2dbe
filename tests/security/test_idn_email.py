"""Internationalised e-mail addresses (issue 20, point 18): delivered or refused, never left silently undelivered.

`kim@exämple.com` goes out to `kim@xn--exmple-cua.com` (the domain in IDNA form), to any server; an address with
other letters before the @ goes out with SMTPUTF8 where the server offers it, and where it does not the outbox row
fails at once with the reason (not queued, not retried in vain). An address mail could never reach is refused at
intake with 422 naming the field. Real SMTP servers (aiosmtpd) with and without SMTPUTF8; the cases that keep rows
on both databases.
"""

from __future__ import annotations

import socket
from datetime import date, timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from engine.adapters import mail_address
from engine.adapters.senders import SmtpSender
from engine.store.model import OutboxMessage
from engine.store.outbox import MAX_ATTEMPTS, send_pending
from tests.helpers import INTAKE, rma_payload, seed_request_form
from tests.web.conftest import ApiDriver

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


class Envelopes:
    """What the SMTP server received: envelope recipients, whether SMTPUTF8 was asked for, the headers."""

    def __init__(self):
        self.received: list[dict] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            {"rcpt": envelope.rcpt_tos, "smtputf8": envelope.smtp_utf8, "content": envelope.original_content}
        )
        return "250 OK"


@pytest.fixture(params=[False, True], ids=["plain_smtp", "smtputf8"])
def smtp(request):
    """An aiosmtpd server on a free port, offering SMTPUTF8 or not."""
    envelopes = Envelopes()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(envelopes, hostname="127.0.0.1", port=port, enable_SMTPUTF8=request.param)
    controller.start()
    envelopes.url, envelopes.utf8 = f"smtp://127.0.0.1:{port}", request.param
    try:
        yield envelopes
    finally:
        controller.stop()


def _message(recipient: str) -> OutboxMessage:
    return OutboxMessage(recipient=recipient, subject="Ihr Gerät", body="Grüße", idempotency_key="rma-idn-1")


def test_addresses_are_put_in_the_form_smtp_carries():
    assert str(mail_address.parse("kim@exämple.com")) == "kim@xn--exmple-cua.com"
    assert str(mail_address.parse("Kim@EXÄMPLE.com")) == "Kim@xn--exmple-cua.com"
    assert (
        mail_address.parse("kïm@exämple.com").needs_smtputf8
        and not mail_address.parse("kim@例え.テスト").needs_smtputf8
    )
    for bad, why in (
        ("kim@ex_ample.com", "not a valid domain name"),
        ("kim@xn--zz.com", "not a valid domain name"),
        ("kim@localhost", "no dot"),
        ("k im@example.com", "space"),
        ("kim.@example.com", "dot"),
        ("@example.com", "a name, an @ and a domain"),
    ):
        with pytest.raises(mail_address.AddressError, match=why):
            mail_address.parse(bad)


def test_an_idn_domain_goes_out_in_ascii_to_any_server_and_other_letters_before_the_at_only_with_smtputf8(smtp):
    SmtpSender(smtp.url, "service@example.com")(_message("kim@exämple.com"))
    assert smtp.received[-1]["rcpt"] == ["kim@xn--exmple-cua.com"] and smtp.received[-1]["smtputf8"] is False
    assert b"To: kim@xn--exmple-cua.com" in smtp.received[-1]["content"]
    send = SmtpSender(smtp.url, "service@example.com")
    if smtp.utf8:
        send(_message("kïm@exämple.com"))
        assert smtp.received[-1]["rcpt"] == ["kïm@xn--exmple-cua.com"] and smtp.received[-1]["smtputf8"] is True
        assert "To: kïm@xn--exmple-cua.com".encode() in smtp.received[-1]["content"]
    else:
        with pytest.raises(Exception, match="does not offer SMTPUTF8"):
            send(_message("kïm@exämple.com"))
        assert len(smtp.received) == 1


@pytest.fixture
def api(client) -> ApiDriver:
    return ApiDriver(client)


@pytest.fixture
def plain_smtp():
    envelopes = Envelopes()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(envelopes, hostname="127.0.0.1", port=port, enable_SMTPUTF8=False)  # as many servers
    controller.start()
    envelopes.url = f"smtp://127.0.0.1:{port}"
    try:
        yield envelopes
    finally:
        controller.stop()


def _request_form(email: str) -> dict:
    import io

    return {
        "centre": "SG",
        "name": "Kim Tan",
        "email": email,
        "language": "en",
        "model": "Vista X100 Camera",
        "serial_number": "SN-IDN-1",
        "purchase_date": (date.today() - timedelta(days=200)).isoformat(),
        "fault_description": "Does not power on",
        "proof_of_purchase": (io.BytesIO(PDF), "receipt.pdf"),
    }


def test_intake_refuses_what_mail_cannot_reach_and_the_outbox_fails_at_once_what_the_server_cannot_take(
    api, orc, plain_smtp
):
    seed_request_form(orc)
    # refused at intake, naming the field: the staff API (marshmallow lets an xn-- label through) and the public form
    refused = api.client.post(
        "/api/rmas", json=rma_payload(email="kim@xn--zz.com"), headers=api.headers("sg.reception")
    )
    assert refused.status_code == 422, refused.get_json()
    [why] = refused.get_json()["errors"]["customer"]["email"]
    assert why.startswith("Not an address mail can be sent to: xn--zz.com is not a valid domain name")
    online = api.client.post(
        "/api/requests", data=_request_form("kim@ex_ample.com"), content_type="multipart/form-data"
    )
    assert online.status_code == 422 and "ex_ample.com is not a valid domain name" in str(online.get_json()["errors"])

    # taken at intake, then delivered or failed with the reason
    delivered = api.open_rma(email="kim@exämple.com", serial="SN-IDN-2")
    undeliverable = api.open_rma(email="kïm@exämple.com", serial="SN-IDN-3")
    for rma in (delivered, undeliverable):  # the intake receipt goes to the customer by mail
        api.do("sg.reception", rma["id"], "record_condition", INTAKE)
    assert send_pending(orc, {"email": SmtpSender(plain_smtp.url, "service@example.com")}) == {"sent": 1, "failed": 1}
    assert [r["rcpt"] for r in plain_smtp.received] == [["kim@xn--exmple-cua.com"]]
    with orc.reading() as s:
        rows = {m.rma_id: m for m in s.scalars(select(OutboxMessage).where(OutboxMessage.channel == "email"))}
    assert rows[delivered["id"]].sent_at is not None
    failed = rows[undeliverable["id"]]
    assert failed.sent_at is None and failed.attempts == MAX_ATTEMPTS and failed.next_attempt_at is None
    assert "kïm@exämple.com has letters other than ASCII before the @" in failed.last_error
    assert "does not offer SMTPUTF8" in failed.last_error
    # failed for good: the worker does not pick it up again
    assert send_pending(orc, {"email": SmtpSender(plain_smtp.url, "service@example.com")}) == {"sent": 0, "failed": 0}
