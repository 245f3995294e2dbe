"""Hostile process files are refused at deploy with an error naming the file: no DTD, so no external
entities (XXE) and no entity-expansion bombs, and no oversize files."""

from __future__ import annotations

import pytest

from engine.errors import InvalidProcess
from engine.process.definitions import MAX_XML_BYTES, parse_bundle, read_bundle_dir
from tests.conftest import PROCESSES_DIR

STAGE = "stages/rma_intake.bpmn"
DMN = "decisions/warranty.dmn"
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
LAUGHS = (
    '<!DOCTYPE definitions [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol;" if i == 1 else f"&lol{i - 1};") * 10}">' for i in range(1, 10))
    + "]>"
)


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-CONTENT")
    return path


def _refused(files: dict, name: str) -> dict:
    with pytest.raises(InvalidProcess) as info:
        parse_bundle(files)
    errors = [e for e in info.value.errors if e["file"] == name]
    assert errors, info.value.errors
    return errors[0]


def _with_doctype(text: str, doctype: str, body_marker: str | None = None, entity: str | None = None) -> str:
    assert text.startswith(DECLARATION)
    text = text.replace(DECLARATION, DECLARATION + "\n" + doctype, 1)
    if body_marker and entity:
        assert body_marker in text
        text = text.replace(body_marker, body_marker.replace(">", f">{entity}", 1), 1)
    return text


def test_billion_laughs_in_a_stage_is_refused_naming_the_file():
    files = read_bundle_dir(PROCESSES_DIR)
    files[STAGE] = _with_doctype(files[STAGE], LAUGHS, "<bpmn:documentation>", "&lol9;")
    error = _refused(files, STAGE)
    assert "DOCTYPE" in error["message"] and "entit" in error["message"]
    assert error["line"] == 2


def test_billion_laughs_in_a_decision_table_is_refused_naming_the_file():
    files = read_bundle_dir(PROCESSES_DIR)
    files[DMN] = _with_doctype(files[DMN], LAUGHS, "<description>", "&lol9;")
    assert "DOCTYPE" in _refused(files, DMN)["message"]


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "file://{secret}">]>',
        '<!DOCTYPE definitions [<!ENTITY % xxe SYSTEM "file://{secret}"> %xxe;]>',
        '<!DOCTYPE definitions SYSTEM "file://{secret}">',
        '<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/evil.dtd">]>',
    ],
    ids=["general_entity", "parameter_entity", "external_dtd", "network_entity"],
)
def test_external_entities_are_refused_and_never_read(secret, doctype):
    files = read_bundle_dir(PROCESSES_DIR)
    files[STAGE] = _with_doctype(files[STAGE], doctype.format(secret=secret), "<bpmn:documentation>", "&xxe;")
    with pytest.raises(InvalidProcess) as info:
        parse_bundle(files)
    assert any(e["file"] == STAGE and "DOCTYPE" in e["message"] for e in info.value.errors)
    assert "TOP-SECRET" not in repr(info.value.errors) + info.value.message


def test_a_doctype_hidden_by_a_declared_encoding_is_still_refused(secret):
    # "+ADw-" is "<" in UTF-7: a text scan for "<!DOCTYPE" cannot see it, the parsed tree can
    files = read_bundle_dir(PROCESSES_DIR)
    body = files[STAGE].replace(DECLARATION, "", 1)
    hidden = f"+ADw-!DOCTYPE definitions +AFs-+ADw-!ENTITY xxe SYSTEM +ACI-file://{secret}+ACI-+AD4-+AF0-+AD4-"
    files[STAGE] = '<?xml version="1.0" encoding="UTF-7"?>' + hidden + body
    with pytest.raises(InvalidProcess) as info:
        parse_bundle(files)
    assert any(e["file"] == STAGE and "DOCTYPE" in e["message"] for e in info.value.errors)
    assert "TOP-SECRET" not in repr(info.value.errors)


def test_an_oversize_file_is_refused_naming_the_file():
    files = read_bundle_dir(PROCESSES_DIR)
    padding = "<!-- " + "x" * MAX_XML_BYTES + " -->"
    files[STAGE] = files[STAGE].replace(DECLARATION, DECLARATION + padding, 1)
    error = _refused(files, STAGE)
    assert "limit" in error["message"] and str(MAX_XML_BYTES) in error["message"]


def test_comments_and_processing_instructions_still_parse():
    files = read_bundle_dir(PROCESSES_DIR)
    files[STAGE] = files[STAGE].replace(DECLARATION, DECLARATION + "\n<!-- edited by hand -->", 1)
    parse_bundle(files)
