"""Bundle validation reports every problem with file, element and line; hashing and the spec cache."""

from __future__ import annotations

import pytest

from engine.errors import InvalidProcess
from engine.process.definitions import SpecCache, bundle_hash, parse_bundle, read_bundle_dir
from tests.bpmn_edit import line_of, replaced
from tests.conftest import PROCESSES_DIR

INTAKE = "stages/rma_intake.bpmn"
REPAIR = "stages/rma_repair.bpmn"
QA_FORM = "forms/qa_check.json"


@pytest.fixture(scope="module")
def base() -> dict[str, str]:
    return read_bundle_dir(PROCESSES_DIR)


def _errors(files: dict) -> list[dict]:
    with pytest.raises(InvalidProcess) as info:
        parse_bundle(files)
    assert info.value.code == "invalid_process"
    return info.value.errors


def test_shipped_bundle_parses_and_indexes_every_human_task(base):
    parsed = parse_bundle(base)
    assert parsed.hash == bundle_hash(base)
    assert parsed.spec.name == "rma"
    assert set(parsed.subprocess_specs) == {
        "rma_intake",
        "rma_diagnosis",
        "rma_warranty",
        "rma_approval",
        "rma_repair",
        "rma_qa",
        "rma_return",
        "rma_triage",
        "rma_inbound",
        "rma_replacement",
    }
    task = parsed.tasks["rma_intake:record_condition"]
    assert (task.lane, task.form_file, task.title) == ("Reception", "record_condition.json", "Record condition")
    assert {t.name for t in parsed.tasks.values()} == {
        "record_condition",
        "diagnose",
        "customer_approval",
        "repair",
        "qa_check",
        "ship_return",
        "review_overdue_diagnosis",
        "review_overdue_qa",
        "troubleshoot",
        "review_request",
        "approve_goodwill",
        "ship_replacement",
    }
    assert parsed.process_files["rma_repair"] == REPAIR
    assert parsed.form("qa_check.json")["required"] == ["qa_passed"]
    assert parsed.form(None) is None


def test_malformed_xml_is_reported_with_file_and_line(base):
    files = replaced(base, INTAKE, 'name="Record condition"', 'name="Record & condition"')
    [error] = _errors(files)
    assert error["file"] == INTAKE
    assert error["line"] == line_of(files[INTAKE], "Record & condition")
    assert "malformed XML" in error["message"]


def test_schema_violation_is_reported_with_file_element_and_line(base):
    files = replaced(
        base,
        INTAKE,
        '<bpmn:startEvent id="start"',
        '<bpmn:bogusThing id="bogus_thing" />\n    <bpmn:startEvent id="start"',
    )
    [error] = _errors(files)
    assert (error["file"], error["element"]) == (INTAKE, "bogus_thing")
    assert error["line"] == line_of(files[INTAKE], "bogusThing")
    assert error["message"].startswith("XSD:") and "bogusThing" in error["message"]


def test_every_schema_violation_is_reported_not_only_the_last(base):
    files = replaced(
        base, INTAKE, '<bpmn:startEvent id="start"', '<bpmn:bogusOne id="b1" />\n    <bpmn:startEvent id="start"'
    )
    files = replaced(
        files, REPAIR, '<bpmn:startEvent id="start"', '<bpmn:bogusTwo id="b2" />\n    <bpmn:startEvent id="start"'
    )
    errors = _errors(files)
    assert {(e["file"], e["element"]) for e in errors} == {(INTAKE, "b1"), (REPAIR, "b2")}


def test_missing_form_file_names_the_user_task(base):
    files = {k: v for k, v in base.items() if k != "forms/repair.json"}
    [error] = _errors(files)
    assert (error["file"], error["element"]) == (REPAIR, "repair")
    assert error["line"] == line_of(files[REPAIR], 'id="repair"')
    assert "repair.json" in error["message"]


def test_form_property_naming_an_absent_file_is_refused(base):
    files = replaced(base, INTAKE, 'value="record_condition.json"', 'value="nowhere.json"')
    [error] = _errors(files)
    assert (error["file"], error["element"]) == (INTAKE, "record_condition")
    assert "nowhere.json" in error["message"]


def test_call_activity_to_an_unknown_process_names_file_element_and_line(base):
    files = replaced(base, "rma.bpmn", 'calledElement="rma_repair"', 'calledElement="rma_fix_it"')
    [error] = _errors(files)
    assert (error["file"], error["element"]) == ("rma.bpmn", "stage_repair")
    assert error["line"] == line_of(files["rma.bpmn"], 'id="stage_repair"')
    assert "rma_fix_it" in error["message"]


def test_broken_form_json_is_reported_with_its_line(base):
    files = replaced(base, QA_FORM, '"qa_passed": {', '"qa_passed": {,')
    [error] = _errors(files)
    assert error["file"] == QA_FORM
    assert error["line"] == line_of(files[QA_FORM], '"qa_passed": {,')
    assert "invalid JSON" in error["message"]


def test_form_that_is_not_a_valid_json_schema_is_refused(base):
    [error] = _errors(replaced(base, QA_FORM, '"type": "boolean"', '"type": 5'))
    assert error["file"] == QA_FORM and "JSON Schema" in error["message"]


def test_every_broken_form_is_reported_at_once(base):
    files = replaced(base, QA_FORM, '"qa_passed": {', '"qa_passed": {,')
    files = replaced(files, "forms/repair.json", '"type": "object"', '"type": "thing"')
    assert {e["file"] for e in _errors(files)} == {QA_FORM, "forms/repair.json"}


def test_lane_without_a_role_is_refused(base):
    [error] = _errors(replaced(base, INTAKE, 'name="Reception"', 'name="Janitors"'))
    assert (error["file"], error["element"]) == (INTAKE, "record_condition")
    assert "Janitors" in error["message"]


def test_bundle_without_the_skeleton_process_is_refused(base):
    files = {k: v for k, v in base.items() if k != "rma.bpmn"}
    [error] = _errors(files)
    assert error["element"] == "rma" and "missing" in error["message"]


BROKEN = {
    "malformed_xml": (INTAKE, 'name="Record condition"', 'name="Record & condition"'),
    "xsd": (INTAKE, '<bpmn:startEvent id="start"', '<bpmn:bogus id="x" /><bpmn:startEvent id="start"'),
    "unknown_call": ("rma.bpmn", 'calledElement="rma_qa"', 'calledElement="rma_nope"'),
    "bad_json": (QA_FORM, "{", "{{"),
    "bad_script": ("stages/rma_approval.bpmn", "round(", "__import__("),
    "missing_form": (INTAKE, 'value="record_condition.json"', 'value="gone.json"'),
}


@pytest.mark.parametrize("change", BROKEN.values(), ids=BROKEN.keys())
def test_errors_are_dicts_of_file_element_line_message(base, change):
    errors = _errors(replaced(base, *change))
    assert errors
    for error in errors:
        assert set(error) == {"file", "element", "line", "message"}
        assert error["file"] in base
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["line"], int) and error["line"] > 0
        assert error["element"] is None or isinstance(error["element"], str)


def test_bundle_hash_is_stable_and_independent_of_file_order(base):
    reordered = dict(reversed(list(base.items())))
    assert list(reordered) != list(base)
    assert bundle_hash(base) == bundle_hash(dict(base)) == bundle_hash(reordered)
    assert len(bundle_hash(base)) == 64


def test_bundle_hash_changes_with_any_name_or_content(base):
    edited = replaced(base, INTAKE, "Record condition", "Record the condition")
    renamed = {("stages/intake.bpmn" if k == INTAKE else k): v for k, v in base.items()}
    hashes = {bundle_hash(base), bundle_hash(edited), bundle_hash(renamed)}
    assert len(hashes) == 3
    assert bundle_hash({"a": "bc"}) != bundle_hash({"ab": "c"})


def test_spec_cache_parses_each_bundle_once(base):
    cache = SpecCache()
    loads = []

    def load():
        loads.append(1)
        return base

    key = bundle_hash(base)
    first = cache.get(key, load)
    second = cache.get(key, load)
    assert first is second
    assert cache.parses == 1 and len(loads) == 1
    edited = replaced(base, INTAKE, "Record condition", "Check condition")
    other = cache.get(bundle_hash(edited), lambda: edited)
    assert other is not first and cache.parses == 2
    assert cache.get(key, load) is first and cache.parses == 2


def test_spec_cache_evicts_the_least_recently_used_bundle(base):
    cache = SpecCache(max_entries=1)
    edited = replaced(base, INTAKE, "Record condition", "Check condition")
    cache.get("a", lambda: base)
    cache.get("b", lambda: edited)
    cache.get("b", lambda: edited)
    assert cache.parses == 2
    cache.get("a", lambda: base)
    assert cache.parses == 3


def test_spec_cache_does_not_keep_a_bundle_that_failed_to_parse(base):
    cache = SpecCache()
    broken = replaced(base, QA_FORM, "{", "{{")
    for _ in range(2):
        with pytest.raises(InvalidProcess):
            cache.get("broken", lambda: broken)
    assert cache.parses == 0


def test_centre_variant_replaces_the_base_stage_with_the_same_process_id(tmp_path, base):
    for name, text in base.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    variant = tmp_path / "variants" / "DE" / "stages" / "rma_repair_de.bpmn"
    variant.parent.mkdir(parents=True)
    variant.write_text(base[REPAIR].replace('name="Repair unit"', 'name="Reparatur"'), encoding="utf-8")
    assert read_bundle_dir(tmp_path) == base
    files = read_bundle_dir(tmp_path, centre="DE")
    assert REPAIR not in files and "stages/rma_repair_de.bpmn" in files
    parsed = parse_bundle(files)
    assert parsed.tasks["rma_repair:repair"].title == "Reparatur"
    assert parsed.process_files["rma_repair"] == "stages/rma_repair_de.bpmn"
    assert read_bundle_dir(tmp_path, centre="FR") == base
