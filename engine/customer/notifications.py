"""Customer messages: Jinja templates per message and language in processes/notifications/, into the outbox.

A template `<message>.<lang>.txt` has three blocks: `subject`, `body` (the email) and `sms` (short; when
left out, the SMS is the subject and the tracking link). A body that renders empty is not sent, so a
process owner can make a message conditional. Templates run in Jinja's sandbox: process owners edit them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateNotFound, meta
from jinja2.sandbox import SandboxedEnvironment

from engine.customer import customer_text
from engine.store.outbox import enqueue_many

_envs: dict[Path, SandboxedEnvironment] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    sms: str


def templates_dir(settings) -> Path:
    return Path(settings.processes_dir) / "notifications"


def _env(folder: Path) -> SandboxedEnvironment:
    with _lock:
        env = _envs.get(folder)
        if env is None:
            env = SandboxedEnvironment(
                loader=FileSystemLoader(str(folder)),
                autoescape=False,
                undefined=StrictUndefined,
                keep_trailing_newline=False,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            _envs[folder] = env
        return env


def _template(env: SandboxedEnvironment, message: str, lang: str) -> tuple[Template | None, str]:
    """The message's template in `lang`, else in English; and the language it is in."""
    lang = customer_text.language(lang)
    for candidate in dict.fromkeys((lang, customer_text.DEFAULT)):
        try:
            return env.get_template(f"{message}.{candidate}.txt"), candidate
        except TemplateNotFound:
            continue
    return None, lang


_names: dict[tuple[Path, str], tuple[Template, frozenset[str] | None]] = {}


def names_used(folder: Path, message: str, lang: str) -> frozenset[str] | None:
    """The context names the message's template reads; None when it includes, imports or extends another
    template (then it may read any). Worked out once per template as loaded (an edited file is read anew)."""
    env = _env(folder)
    template, _ = _template(env, message, lang)
    if template is None:
        return frozenset()
    cached = _names.get((folder, template.name))
    if cached is not None and cached[0] is template:
        return cached[1]
    tree = env.parse(env.loader.get_source(env, template.name)[0])
    names = (
        None
        if any(True for _ in meta.find_referenced_templates(tree))
        else frozenset(meta.find_undeclared_variables(tree))
    )
    with _lock:
        _names[(folder, template.name)] = (template, names)
    return names


def render(folder: Path, message: str, lang: str, context: dict) -> Rendered | None:
    """The message in `lang` (English when that language has no template); None when it has no template."""
    template, lang = _template(_env(folder), message, lang)
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

    subject = " ".join(block("subject").split())
    body = block("body")
    sms = " ".join(block("sms").split()) or f"{subject} {context.get('tracking_url', '')}".strip()
    return Rendered(subject, body, sms)


def send(session, rma, message: str, occurrence: str, rendered: Rendered) -> list[str]:
    """Enqueue the email (and the SMS when the customer gave a phone and did not opt out); returns channels."""
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
    if rma.customer_phone and not rma.sms_opt_out:
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
