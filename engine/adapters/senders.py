"""The outbox's senders: e-mail over SMTP, text messages through the SMS provider's webhook, integrator webhooks.

The SMTP server (`RMA_SMTP_URL`) and the SMS provider's webhook (`RMA_SMS_WEBHOOK_URL`) are the operator's own
endpoints, set in the environment: they are trusted and may be on the LAN or this host, so the outbound address
policy (engine/adapters/address_policy.py) does not apply to them. Integrator webhooks are a manager's URLs and
go through it, with the operator's allowlist (`RMA_SERVICE_TASK_HOSTS`).
"""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from urllib.parse import unquote, urlparse

from engine.adapters import mail_address
from engine.adapters.address_policy import OutboundPolicy
from engine.adapters.webhooks import WebhookSender
from engine.config import Settings
from engine.store.model import OutboxMessage
from engine.store.outbox import Undeliverable


class SmtpSender:
    """Sends mail over SMTP; `smtps://` uses implicit TLS, `smtp://` tries STARTTLS when offered.

    An internationalised address goes out with its domain in IDNA form (`kim@xn--exmple-cua.com`), and one with
    other letters before the @ with SMTPUTF8, which the server must offer; what cannot be sent is Undeliverable
    (given up at once, the reason in the outbox row), never retried in vain."""

    def __init__(self, url: str, mail_from: str, timeout: float = 15):
        self.url, self.mail_from, self.timeout = urlparse(url), mail_from, timeout

    def __call__(self, message: OutboxMessage) -> None:
        try:
            to = mail_address.parse(message.recipient)
        except mail_address.AddressError as exc:
            raise Undeliverable(f"{message.recipient} is not an address mail can be sent to: {exc}") from None
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.mail_from, str(to), message.subject
        mail["Message-ID"] = f"<{message.idempotency_key}@rma>"
        mail.set_content(message.body)
        u = self.url
        if not u.hostname:
            raise ValueError("the SMTP URL (RMA_SMTP_URL) names no host")
        client: smtplib.SMTP
        if u.scheme == "smtps":
            client = smtplib.SMTP_SSL(
                u.hostname, u.port or 465, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(u.hostname, u.port or 25, timeout=self.timeout)
        with client:
            client.ehlo_or_helo_if_needed()  # the server's extensions are known only after EHLO
            if u.scheme == "smtp" and client.has_extn("starttls"):
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if u.username:
                client.login(unquote(u.username), unquote(u.password or ""))
            if to.needs_smtputf8 and not client.has_extn("smtputf8"):
                raise Undeliverable(
                    f"{message.recipient} has letters other than ASCII before the @ and the mail server "
                    f"({u.hostname}) does not offer SMTPUTF8"
                )
            # send_message asks for SMTPUTF8 itself when an address is not ASCII
            client.send_message(mail, to_addrs=[str(to)])


class WebhookSmsSender:
    """POSTs `{to, body, rma_number}` as JSON to the SMS provider's webhook."""

    def __init__(self, url: str, timeout: float = 10):
        self.url, self.timeout = url, timeout

    def __call__(self, message: OutboxMessage) -> None:
        payload = json.dumps({"to": message.recipient, "body": message.body, "rma_number": message.rma_number}).encode()
        request = urllib.request.Request(
            self.url,
            data=payload,
            method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": message.idempotency_key},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            if response.status >= 300:
                raise RuntimeError(f"SMS webhook answered {response.status}")


def senders_from_settings(settings: Settings) -> dict[str, Callable[[OutboxMessage], None]]:
    """Channel -> sender; a channel without configuration has no sender and keeps its messages logged."""
    senders: dict[str, Callable[[OutboxMessage], None]] = {}
    if settings.smtp_url:
        senders["email"] = SmtpSender(settings.smtp_url, settings.mail_from)
    if settings.sms_webhook_url:
        senders["sms"] = WebhookSmsSender(settings.sms_webhook_url)
    # integrators' subscriptions live in the database: always on, through the outbound address policy
    senders["webhook"] = WebhookSender(policy=OutboundPolicy.from_settings(settings))
    return senders
