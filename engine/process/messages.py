"""The message templates of a bundle: `notifications/<message>.<lang>.txt`, compiled once per bundle version.

They are bundle files like the BPMN (read with it, hashed with it, stored with it), so an RMA renders the
texts of the version it runs on. Templates run in Jinja's sandbox (process owners edit them) and may include
other `.txt` files of the folder. A message is declared where it is triggered: the `notifyCustomer` property
of a BPMN element, or a table in the service module whose code sends it; `message_errors` checks at deploy
that each declared message has its template in every language it needs.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import DictLoader, StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from lxml import etree

FOLDER = "notifications"
SUFFIX = ".txt"
NOTIFY_PROPERTY = "notifyCustomer"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_MESSAGE_FILE = re.compile(r"^(?P<message>[A-Za-z0-9_-]+)\.(?P<lang>[a-z]{2})\.txt$")


def is_template_file(name: str) -> bool:
    """A bundle file name under notifications/ (a message template or a file they include)."""
    return name.startswith(FOLDER + "/") and name.endswith(SUFFIX)


def is_message_template(base_name: str) -> bool:
    """`<message>.<lang>.txt` (a file named so is placed in notifications/ when uploaded)."""
    return _MESSAGE_FILE.match(base_name) is not None


def template_file(message: str, lang: str) -> str:
    return f"{FOLDER}/{message}.{lang}{SUFFIX}"


def environment(sources: dict[str, str]) -> SandboxedEnvironment:
    """The sandbox the templates run in; `sources` by name relative to notifications/."""
    return SandboxedEnvironment(
        loader=DictLoader(sources),
        autoescape=False,
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # a bundle's files never change
        cache_size=-1,
    )


@dataclass
class MessageTemplates:
    """The compiled templates of one bundle, by (message, language), and the context names each reads."""

    templates: dict[tuple[str, str], Template] = field(default_factory=dict)
    names: dict[tuple[str, str], frozenset[str] | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.templates)

    def get(self, message: str, lang: str) -> Template | None:
        return self.templates.get((message, lang))

    def languages(self, message: str) -> set[str]:
        return {lang for name, lang in self.templates if name == message}

    def names_used(self, message: str, lang: str) -> frozenset[str] | None:
        """The context names the template reads; None when it includes, imports or extends another (any)."""
        return self.names.get((message, lang), frozenset())


# Compiled templates by the digest of all of a bundle's template sources: the base and every centre's variant
# usually carry the same folder, and a deploy parses each of them (and again when it rebases the variants), so
# each distinct folder is compiled once per process. Compiled templates are immutable; a few folders at a time.
_COMPILED: OrderedDict[str, tuple[MessageTemplates, list[dict]]] = OrderedDict()
_COMPILED_MAX = 16
_COMPILED_LOCK = threading.Lock()


def compile_templates(files: dict[str, str], errors: list[dict] | None = None) -> MessageTemplates:
    """Compile every template of the bundle once; a syntax error is reported by file and line into `errors`."""
    errors = [] if errors is None else errors
    sources = {name[len(FOLDER) + 1 :]: text for name, text in files.items() if is_template_file(name)}
    if not sources:
        return MessageTemplates()
    digest = hashlib.sha256(json.dumps(sorted(sources.items())).encode("utf-8")).hexdigest()
    with _COMPILED_LOCK:
        cached = _COMPILED.get(digest)
        if cached is not None:
            _COMPILED.move_to_end(digest)
    if cached is None:
        cached = _compile(sources)
        with _COMPILED_LOCK:
            _COMPILED[digest] = cached
            while len(_COMPILED) > _COMPILED_MAX:
                _COMPILED.popitem(last=False)
    result, found_errors = cached
    errors.extend(dict(error) for error in found_errors)
    return result


def _compile(sources: dict[str, str]) -> tuple[MessageTemplates, list[dict]]:
    errors: list[dict] = []
    result = MessageTemplates()
    env = environment(sources)
    for name in sorted(sources):
        try:
            tree = env.parse(sources[name], name, f"{FOLDER}/{name}")
            template = env.get_template(name)
        except TemplateSyntaxError as exc:
            errors.append(_syntax_error(name, exc))
            continue
        except TemplateError as exc:  # e.g. a `{% extends %}` of a file that is not there is found when rendered
            errors.append({"file": f"{FOLDER}/{name}", "element": None, "line": None, "message": str(exc)})
            continue
        found = _MESSAGE_FILE.match(name)
        if found is None:
            continue  # a piece that message templates include
        key = (found["message"], found["lang"])
        result.templates[key] = template
        result.names[key] = (
            None
            if any(True for _ in meta.find_referenced_templates(tree))
            else frozenset(meta.find_undeclared_variables(tree))
        )
    return result, errors


def _syntax_error(name: str, exc: TemplateSyntaxError) -> dict:
    return {
        "file": f"{FOLDER}/{exc.name or name}",
        "element": None,
        "line": exc.lineno,
        "message": f"template syntax error: {exc.message}",
    }


def read_folder(root: Path | str) -> dict[str, str]:
    """The template files in `root`/notifications/, by bundle name."""
    folder = Path(root) / FOLDER
    if not folder.is_dir():
        return {}
    return {
        f"{FOLDER}/{p.relative_to(folder).as_posix()}": p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob(f"*{SUFFIX}"))
        if p.is_file()
    }


def declared_messages(bpmn_trees: dict) -> list[tuple[str, etree._Element, str]]:
    """(file, element, message) of every BPMN element with a `notifyCustomer` property."""
    found = []
    for file, root in sorted(bpmn_trees.items()):
        for prop in root.iter(f"{{{SPIFF}}}property"):
            if prop.get("name") != NOTIFY_PROPERTY or not (prop.get("value") or "").strip():
                continue
            element = prop.getparent()  # spiffworkflow:properties, in extensionElements, in the element
            while element is not None and not element.get("id"):
                element = element.getparent()
            if element is not None:
                found.append((file, element, prop.get("value").strip()))
    return found


def message_errors(
    bpmn_trees: dict,
    files: dict[str, str],
    languages: tuple[str, ...],
    code_messages: dict[str, tuple[str, ...]] | None = None,
) -> list[dict]:
    """Each `notifyCustomer` needs its template in every one of `languages` (named by file, element and line);
    each message that code sends (`code_messages`: message -> the languages it needs) needs its templates too.
    (A template that is there but does not compile is reported by compile_templates.)"""
    errors = []
    for file, element, message in declared_messages(bpmn_trees):
        missing = [template_file(message, lang) for lang in languages if template_file(message, lang) not in files]
        if missing:
            errors.append(
                {
                    "file": file,
                    "element": element.get("id"),
                    "line": element.sourceline,
                    "message": f"{NOTIFY_PROPERTY} names message '{message}', but the bundle has no template "
                    f"{' and no '.join(missing)} (every shipped language needs one: {', '.join(languages)})",
                }
            )
    for message, needed in sorted((code_messages or {}).items()):
        for lang in needed:
            if template_file(message, lang) not in files:
                errors.append(
                    {
                        "file": template_file(message, lang),
                        "element": None,
                        "line": None,
                        "message": f"the engine sends message '{message}', but the bundle has no template "
                        f"{template_file(message, lang)}",
                    }
                )
    return errors
