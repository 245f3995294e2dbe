"""Messages: the templates of the RMA's own bundle version (notifications/<message>.<lang>.txt), into the outbox.

A template `<message>.<lang>.txt` has three blocks: `subject`, `body` (the email) and `sms` (short; when
left out, the SMS is the subject and the tracking link; when it renders empty, no SMS is sent). A body that
renders empty is not sent, so a process owner can make a message conditional. The templates are bundle files
(engine.process.messages), compiled once per bundle version and run in Jinja's sandbox: process owners edit them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Template, TemplateError

from engine.customer import customer_text
from engine.process.messages import MessageTemplates, compile_templates, read_folder, template_file
from engine.store.audit import audit
from engine.store.outbox import enqueue_many

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

_legacy: dict[Path, MessageTemplates] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    sms: str
    error: str | None = None  # why the template could not be rendered with this RMA's data (then nothing is sent)


def templates_of(orc: Orchestrator, session, bundle_id: int) -> MessageTemplates:
    """The message templates of a stored bundle version (compiled with its parsed specs, cached by hash).

    A bundle deployed before templates were bundle files has none: its RMAs render with the templates of the
    processes folder, compiled once (engine.services.beyond keeps their code-triggered messages too)."""
    templates = orc.parsed_bundle(session, bundle_id).messages
    return templates if templates else folder_templates(orc.settings.processes_dir)


def folder_templates(root: Path | str) -> MessageTemplates:
    """The templates in `root`/notifications/, read and compiled once per folder (for bundles without any)."""
    root = Path(root)
    with _lock:
        found = _legacy.get(root)
    if found is None:
        found = compile_templates(read_folder(root))
        with _lock:
            _legacy[root] = found
    return found


def _template(templates: MessageTemplates, message: str, lang: str) -> tuple[Template | None, str]:
    """The message's template in `lang`, else in English; and the language it is in."""
    lang = customer_text.language(lang)
    for candidate in dict.fromkeys((lang, customer_text.DEFAULT)):
        template = templates.get(message, candidate)
        if template is not None:
            return template, candidate
    return None, lang


def names_used(templates: MessageTemplates, message: str, lang: str) -> frozenset[str] | None:
    """The context names the message's template reads; None when it includes, imports or extends another
    template (then it may read any). Worked out once per template, when the bundle was compiled."""
    template, lang = _template(templates, message, lang)
    return frozenset() if template is None else templates.names_used(message, lang)


def render(templates: MessageTemplates, message: str, lang: str, context: dict) -> Rendered | None:
    """The message in `lang` (English when that language has no template); None when it has no template.

    Never raises for the template's sake: a template that cannot be rendered with this context (it reads a
    value the RMA does not have, say a quote before there is one, or does what the sandbox forbids) gives an
    empty Rendered with `error` naming the file. The step that reached the milestone goes on; `send` records
    why the message was not sent where staff read the RMA's history."""
    template, lang = _template(templates, message, lang)
    if template is None:
        return None
    values = {
        **context,
        "lang": lang,
        "t": lambda key, **kw: customer_text.t(lang, key, **kw),
        "day": lambda value: customer_text.day(lang, value),
        "money": lambda amount, currency: customer_text.money(lang, amount, currency),
        "number": lambda value: customer_text.number(lang, value),
    }

    def block(name: str) -> str:
        if name not in template.blocks:
            return ""
        return "".join(template.blocks[name](template.new_context(values))).strip()

    try:
        subject = " ".join(block("subject").split())
        body = block("body")
        if "sms" in template.blocks:
            sms = " ".join(block("sms").split())  # empty: no text message
        else:
            sms = f"{subject} {context.get('tracking_url', '')}".strip()
    except TemplateError as exc:  # UndefinedError, the sandbox's SecurityError, a failed include
        return Rendered("", "", "", error=f"{template_file(message, lang)}: {exc}")
    return Rendered(subject, body, sms)


def report_unrendered(session, rma_id: int | None, message: str, rendered: Rendered) -> None:
    """Record in the RMA's history that `message` was not sent because its template failed (a no-op otherwise)."""
    if rendered.error is None:
        return
    audit(
        session,
        rma_id,
        "system",
        "message_not_rendered",
        f"message '{message}' was not sent: its template could not be rendered ({rendered.error})"[:2000],
        data={"message": message, "error": rendered.error[:1000]},
    )


def send(session, rma, message: str, occurrence: str, rendered: Rendered) -> list[str]:
    """Enqueue the email (and the SMS when there is one, the customer gave a phone and did not opt out);
    returns the channels."""
    report_unrendered(session, rma.id, message, rendered)
    if not rendered.body:
        return []
    key = f"{rma.number}.{message}.{occurrence}"  # also the mail's Message-ID: no ':' or '@' in it
    messages = [
        dict(
            channel="email",
            recipient=rma.customer_email,
            body=rendered.body,
            idempotency_key=f"{key}.email",
            subject=rendered.subject,
            rma_id=rma.id,
            rma_number=rma.number,
        )
    ]
    if rendered.sms and rma.customer_phone and not rma.sms_opt_out:
        messages.append(
            dict(
                channel="sms",
                recipient=rma.customer_phone,
                body=rendered.sms[:640],
                idempotency_key=f"{key}.sms",
                subject=rendered.subject,
                rma_id=rma.id,
                rma_number=rma.number,
            )
        )
    enqueue_many(session, messages)
    return [m["channel"] for m in messages]
