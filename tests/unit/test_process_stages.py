"""The stage knowledge in the skeleton's call activities: read once per bundle, refused at deploy when malformed."""

from __future__ import annotations

import re

import pytest

from engine.errors import InvalidProcess
from engine.process import stages
from engine.process.definitions import parse_bundle, read_bundle_dir
from tests.bpmn_edit import line_of, replaced
from tests.conftest import PROCESSES_DIR

SKELETON = "rma.bpmn"


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return read_bundle_dir(PROCESSES_DIR)


def test_the_shipped_skeleton_declares_the_customers_path_and_its_standard_times(files):
    table = parse_bundle(files).stages
    assert table.declared and table.keys == ("intake", "diagnosis", "approval", "repair", "qa", "return")
    assert [s.status for s in table.steps] == [
        "received",
        "diagnosing",
        "awaiting_approval",
        "repairing",
        "quality_check",
        "returning",
    ]
    assert table.default_days["diagnosis"] == (1, 3) and table.default_days["qa"] == (0.5, 1)
    assert table.get("qa").name("de") == "Qualitätsprüfung" and table.noun("return", "de") == "den Rückversand"
    assert [table.counted_as(k) for k in ("triage", "inbound", "replacement", "warranty")] == [
        "intake",
        "intake",
        "return",
        "intake",
    ]
    assert not table.get("approval").queue and table.get("approval").shown == "ifQuoted"
    assert table.quoted == {"approval"}  # a closed RMA that passed it went a quoted way (eta.path_of)


BAD = [
    # (the property as shipped, as broken, the call activity, what the message says)
    ('name="etaDefaultDays" value="1-3"', 'name="etaDefaultDays" value="3-1"', "stage_diagnosis", "low <= high"),
    ('name="etaDefaultDays" value="1-3"', 'name="etaDefaultDays" value="soon"', "stage_diagnosis", "'soon'"),
    ('name="portalStep" value="20"', 'name="portalStep" value="second"', "stage_diagnosis", "whole number"),
    ('name="portalStep" value="20"', 'name="portalStep" value="10"', "stage_diagnosis", "also the step of"),
    ('name="portalStatus" value="diagnosing"', 'name="portalStatus" value="diagnosed"', "stage_diagnosis", "no task"),
    (
        'name="customerStageName.de" value="Diagnose"',
        'name="customerStageName.fr" value="Diagnostic"',
        "stage_diagnosis",
        "unknown language 'fr'",
    ),
    (
        'name="etaPaths" value="quote_approved declined"',
        'name="etaPaths" value="quote_approved someday"',
        "stage_approval",
        "someday",
    ),
    ('name="etaQueue" value="false"', 'name="etaQueue" value="never"', "stage_approval", "true or false"),
    (
        'name="portalStepShown" value="ifQuoted"',
        'name="portalStepShown" value="sometimes"',
        "stage_approval",
        "ifQuoted",
    ),
    ('name="etaCountsAs" value="intake"', 'name="etaCountsAs" value="triage"', "stage_triage", "names no stage"),
    ('name="etaDefaultDays" value="2-5"', 'name="etaDefaultDay" value="2-5"', "stage_repair", "unknown stage property"),
]


@pytest.mark.parametrize(
    ("shipped", "broken", "element", "says"), BAD, ids=[b[1].split('"')[1] + ":" + b[3] for b in BAD]
)
def test_a_malformed_value_is_refused_naming_file_element_and_line(files, shipped, broken, element, says):
    bad = replaced(files, SKELETON, shipped, broken)
    with pytest.raises(InvalidProcess) as caught:
        parse_bundle(bad)
    found = [e for e in caught.value.errors if says in e["message"]]
    assert found, caught.value.errors
    assert found[0]["file"] == SKELETON and found[0]["element"] == element
    text = bad[SKELETON]
    at = text.index(broken, text.index(f'id="{element}"'))  # the broken property of that call activity
    assert found[0]["line"] == text[:at].count("\n") + 1, found[0]


def test_a_step_without_its_status_times_or_names_is_refused_at_the_call_activity(files):
    bad = replaced(files, SKELETON, '          <spiffworkflow:property name="portalStatus" value="repairing" />\n', "")
    bad = replaced(
        bad, SKELETON, '          <spiffworkflow:property name="customerStageName.de" value="Reparatur" />\n', ""
    )
    with pytest.raises(InvalidProcess) as caught:
        parse_bundle(bad)
    [error] = caught.value.errors
    assert error["element"] == "stage_repair" and error["line"] == line_of(bad[SKELETON], 'id="stage_repair"')
    assert "portalStatus" in error["message"] and "customerStageName.de" in error["message"]


def test_a_skeleton_from_before_the_stage_properties_gets_the_shipped_stages(files):
    """A bundle deployed before the stage knowledge moved into the process files declares none of it."""
    ours = re.compile(r'\s*<spiffworkflow:property name="(customerStage|portal|eta)[^"]*" value="[^"]*" />')
    old = {**files, SKELETON: ours.sub("", files[SKELETON])}
    assert "portalStep" not in old[SKELETON]
    table = parse_bundle(old).stages
    assert not table.declared and table.keys == stages.shipped().keys
    assert table.default_days == stages.shipped().default_days
