"""Form submissions are validated and normalised against the task's JSON Schema before entering a workflow."""

from __future__ import annotations

import json

import pytest

from engine.errors import InvalidFormData
from engine.process.forms import coerce_form_strings, describe, validate_submission
from tests.conftest import PROCESSES_DIR


def _form(name: str) -> dict:
    return json.loads((PROCESSES_DIR / "forms" / name).read_text(encoding="utf-8"))


RECORD = _form("record_condition.json")
DIAGNOSE = _form("diagnose.json")
QA = _form("qa_check.json")
TAGS = {
    "type": "object",
    "properties": {"tags": {"type": "array", "items": {"type": "string"}}, "extra": {"type": "object"}, "loose": {}},
}
GOOD_RECORD = {"condition_grade": "A", "condition_notes": "Clean", "customer_acknowledged": True}


def _field_errors(schema, data) -> dict:
    with pytest.raises(InvalidFormData) as info:
        validate_submission(schema, data)
    assert info.value.code == "invalid_form_data"
    return info.value.errors


def test_valid_submission_is_returned_as_given():
    assert validate_submission(RECORD, {**GOOD_RECORD, "accessories": "Strap"}) == {
        **GOOD_RECORD,
        "accessories": "Strap",
    }


def test_missing_required_fields_are_named():
    errors = _field_errors(RECORD, {"condition_grade": "A"})
    assert errors == {
        "condition_notes": ["This field is required."],
        "customer_acknowledged": ["This field is required."],
    }


def test_value_outside_the_enum_is_refused():
    errors = _field_errors(RECORD, {**GOOD_RECORD, "condition_grade": "E"})
    assert errors == {"condition_grade": ["Choose one of: A, B, C, D."]}


def test_unchecked_acknowledgement_must_be_checked():
    assert _field_errors(RECORD, {**GOOD_RECORD, "customer_acknowledged": False}) == {
        "customer_acknowledged": ["Must be checked."]
    }


def test_negative_estimate_is_below_the_minimum():
    errors = _field_errors(DIAGNOSE, {"diagnosis": "x", "fault_category": "sensor", "labour_hours": -1})
    assert errors == {"labour_hours": ["Must be at least 0."]}


def test_wrong_type_is_refused():
    assert list(_field_errors(QA, {"qa_passed": "yes"})) == ["qa_passed"]


def test_unknown_field_is_refused_not_silently_dropped():
    errors = _field_errors(QA, {"qa_passed": True, "is_admin": True})
    assert errors == {"is_admin": ["Unknown field."]}


def test_typename_key_is_refused_even_if_the_schema_declares_it():
    schema = {"type": "object", "properties": {"typename": {"type": "string"}}}
    assert _field_errors(schema, {"typename": "BpmnWorkflow"}) == {"typename": ["Unknown field."]}


def test_nested_typename_key_is_refused():
    errors = _field_errors(TAGS, {"extra": {"items": [{"typename": "datetime"}]}})
    assert list(errors) == ["extra"]


def test_defaults_fill_omitted_fields():
    clean = validate_submission(DIAGNOSE, {"diagnosis": "Worn gear", "fault_category": "mechanical"})
    assert clean == {"diagnosis": "Worn gear", "fault_category": "mechanical", "parts_cost": 0, "labour_hours": 0}


def test_empty_string_is_absent_for_optional_fields():
    clean = validate_submission(
        DIAGNOSE, {"diagnosis": "Worn gear", "fault_category": "mechanical", "parts_cost": "", "labour_hours": 1.5}
    )
    assert clean["parts_cost"] == 0 and clean["labour_hours"] == 1.5
    assert "qa_notes" not in validate_submission(QA, {"qa_passed": True, "qa_notes": ""})


def test_empty_string_does_not_satisfy_a_required_field():
    errors = _field_errors(DIAGNOSE, {"diagnosis": "", "fault_category": "mechanical"})
    assert list(errors) == ["diagnosis"]


def test_sets_and_tuples_become_lists_and_validate_as_arrays():
    clean = validate_submission(
        TAGS, {"tags": {"b", "a", "c"}, "loose": ("x", {2, 1}), "extra": {"seen": frozenset({"z", "y"})}}
    )
    assert clean == {"tags": ["a", "b", "c"], "loose": ["x", [1, 2]], "extra": {"seen": ["y", "z"]}}
    assert json.loads(json.dumps(clean)) == clean


def test_non_object_submission_is_refused():
    assert _field_errors(QA, ["qa_passed"]) == {"_form": ["Expected an object."]}


def test_no_schema_accepts_only_an_empty_submission():
    assert validate_submission(None, {}) == {}
    assert _field_errors(None, {"anything": 1}) == {"anything": ["Unknown field."]}


def test_coerce_turns_html_strings_into_typed_values():
    raw = {"diagnosis": "Loose cable", "fault_category": "electronic", "parts_cost": "12.50", "labour_hours": "2"}
    assert coerce_form_strings(DIAGNOSE, raw) == {
        "diagnosis": "Loose cable",
        "fault_category": "electronic",
        "parts_cost": 12.5,
        "labour_hours": 2.0,
    }
    integer = {"type": "object", "properties": {"count": {"type": "integer"}}}
    assert coerce_form_strings(integer, {"count": "3"}) == {"count": 3}


def test_coerce_reads_checkboxes_and_leaves_bad_numbers_for_validation():
    assert coerce_form_strings(RECORD, {"customer_acknowledged": "on"})["customer_acknowledged"] is True
    assert coerce_form_strings(RECORD, {})["customer_acknowledged"] is False
    coerced = coerce_form_strings(DIAGNOSE, {"diagnosis": "x", "fault_category": "sensor", "parts_cost": "ten"})
    assert coerced["parts_cost"] == "ten"
    assert list(_field_errors(DIAGNOSE, coerced)) == ["parts_cost"]


def test_coerce_drops_blank_and_undeclared_fields():
    coerced = coerce_form_strings(QA, {"qa_passed": "true", "qa_notes": "", "csrf_token": "abc"})
    assert coerced == {"qa_passed": True}


def test_describe_lists_fields_in_schema_order_with_widgets():
    fields = describe(DIAGNOSE)
    assert [f["name"] for f in fields] == ["diagnosis", "fault_category", "parts_cost", "labour_hours"]
    by_name = {f["name"]: f for f in fields}
    assert by_name["fault_category"]["widget"] == "select" and by_name["fault_category"]["required"]
    assert by_name["parts_cost"]["widget"] == "number" and by_name["parts_cost"]["default"] == 0
    assert describe(RECORD)[-1]["widget"] == "checkbox"
    assert describe(None) == []
