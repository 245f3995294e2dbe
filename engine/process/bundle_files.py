"""Where uploaded files go in a bundle, and how a partial upload merges over the current bundle.

Names in a bundle: `rma.bpmn` (the skeleton), `stages/<process id>.bpmn`, `decisions/<name>.dmn`,
`forms/<name>.json`, `policy.json` and the message templates `notifications/<message>.<lang>.txt`. An upload
may use those names or bare file names (as saved by Camunda Modeler or exported from SpiffArena): a BPMN file
is placed by the process id it defines and replaces whatever file defined that process; a DMN file replaces
the file of the same name or the one defining the same decision ids; a JSON file is a form (or the policy); a
file `<message>.<lang>.txt` (or any .txt file uploaded as `notifications/...`) is a message template.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from lxml import etree

from engine.process.definitions import ROOT_PROCESS_ID, overlay
from engine.process.limits import used_forms
from engine.process.messages import FOLDER as MESSAGES_FOLDER
from engine.process.messages import is_message_template

POLICY_FILE = "policy.json"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
DMN_SUFFIX, BPMN_SUFFIX, JSON_SUFFIX, TEMPLATE_SUFFIX = ".dmn", ".bpmn", ".json", ".txt"


def _error(file: str, message: str) -> dict:
    return {"file": file, "element": None, "line": None, "message": message}


def _root(text: str):
    try:
        return etree.fromstring(text.encode("utf-8"), _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None


def _ids(text: str, local_name: str) -> list[str]:
    root = _root(text)
    if root is None:
        return []
    return [
        el.get("id")
        for el in root.iter()
        if isinstance(el.tag, str) and etree.QName(el.tag).localname == local_name and el.get("id")
    ]


def decode(name: str, data: bytes | str, errors: list) -> str | None:
    if isinstance(data, str):
        text = data
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            errors.append(_error(name, f"not UTF-8 text (byte {exc.start})"))
            return None
    if "\x00" in text:  # no process file has one, and the database cannot store it
        errors.append(_error(name, "contains NUL characters"))
        return None
    return text


def bundle_name(name: str, text: str) -> str | None:
    """The name `text` takes in a bundle (None: not a bundle file)."""
    base = PurePosixPath(name.replace("\\", "/")).name
    if base.endswith(BPMN_SUFFIX):
        processes = _ids(text, "process")
        if ROOT_PROCESS_ID in processes:
            return "rma.bpmn"
        return f"stages/{processes[0]}.bpmn" if processes else f"stages/{base}"
    if base.endswith(DMN_SUFFIX):
        return f"decisions/{base}"
    if base.endswith(JSON_SUFFIX):
        return POLICY_FILE if base == POLICY_FILE else f"forms/{base}"
    in_folder = f"{MESSAGES_FOLDER}/" in name.replace("\\", "/")
    if base.endswith(TEMPLATE_SUFFIX) and (is_message_template(base) or in_folder):
        return f"{MESSAGES_FOLDER}/{base}"
    return None


def place_uploads(uploads: list[tuple[str, bytes | str]]) -> tuple[dict[str, str], list[dict]]:
    """({bundle name: text}, errors) for uploaded (file name, content) pairs."""
    placed: dict[str, str] = {}
    origin: dict[str, str] = {}
    errors: list[dict] = []
    for name, data in uploads:
        if "\x00" in name:
            errors.append(_error(name.replace("\x00", "\ufffd"), "the file name contains NUL characters"))
            continue
        text = decode(name, data, errors)
        if text is None:
            continue
        target = bundle_name(name, text)
        if target is None:
            errors.append(
                _error(name, "not a bundle file: upload .bpmn, .dmn, .json (forms, policy) or <message>.<lang>.txt")
            )
        elif target in placed:
            errors.append(_error(name, f"both '{origin[target]}' and '{name}' would become {target}"))
        else:
            placed[target], origin[target] = text, name
    if not placed and not errors:
        errors.append(_error("files", "no file uploaded"))
    return placed, errors


def merge(current: dict[str, str], placed: dict[str, str]) -> dict[str, str]:
    """`current` with the placed files laid over it: BPMN by process id, DMN by name or decision id.

    A form of `current` that no task of the merged bundle uses any more goes with the task that used it (a
    deploy refuses a form no task uses, and a partial upload has no other way to remove a file)."""
    files = dict(current)
    for name, text in placed.items():
        if name.endswith(DMN_SUFFIX):
            decisions = set(_ids(text, "decision"))
            for other in [n for n in files if n.endswith(DMN_SUFFIX) and n != name]:
                if decisions & set(_ids(files[other], "decision")):
                    del files[other]
        files = overlay(files, name, text)
    roots = [root for n, t in files.items() if n.endswith(BPMN_SUFFIX) and (root := _root(t)) is not None]
    used = used_forms(roots)
    for name in [n for n in current if n.startswith("forms/") and n.endswith(JSON_SUFFIX) and n not in placed]:
        if name in files and PurePosixPath(name).name not in used:
            del files[name]
    return files
