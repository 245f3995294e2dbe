"""The data-flow helpers behind the 'DMN input never set' check, and what plain SpiffWorkflow misses."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from lxml import etree
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.errors import InvalidProcess
from engine.process.dataflow import START_DATA_KEYS, assigned_names, read_names
from engine.process.definitions import parse_bundle, read_bundle_dir
from engine.services.rmas import _start_data
from tests.conftest import PROCESSES_DIR

BASE = read_bundle_dir(PROCESSES_DIR)
REPAIR = "stages/rma_repair.bpmn"
WARRANTY = "stages/rma_warranty.bpmn"


def test_start_data_keys_cover_what_a_new_rma_carries():
    rma = SimpleNamespace(
        number="RMA-SG-000001",
        purchase_date=date(2024, 1, 2),
        product_model="X",
        serial_number="S",
        product_category=None,
        fault_description="f",
        customer_name="n",
        customer_email="e@example.com",
    )
    centre = SimpleNamespace(code="SG", currency="SGD", labour_rate=Decimal("60"))
    assert set(_start_data(rma, centre, datetime.now(UTC))) <= START_DATA_KEYS


def test_assigned_names_follow_assignments_and_loops_not_comprehensions():
    source = "a = 1\nb, (c, d) = 1, (2, 3)\ne += 1\nfor f in range(3):\n    g: int = f\nh = [i for i in x]"
    assert assigned_names(source) == {"a", "b", "c", "d", "e", "f", "g", "h"}
    assert assigned_names("x = (") == set()


def test_read_names_skip_builtins_helpers_calls_and_comprehension_variables():
    assert read_names("months_between(purchase_date, today()) + len(parts) + max(a, 1)") == {
        "purchase_date",
        "parts",
        "a",
    }
    assert read_names("[p for p in parts if p > limit]") == {"parts", "limit"}
    assert read_names("True") == set()


def _plain_spiff(files: dict) -> str:
    """What SpiffWorkflow 3.2.0 on its own says about a bundle: 'accepted' or its message."""
    parser = SpiffBpmnParser()
    try:
        for name, text in files.items():
            if name.endswith(".bpmn"):
                parser.add_bpmn_xml(etree.fromstring(text.encode()), filename=name)
            elif name.endswith(".dmn"):
                parser.add_dmn_xml(etree.fromstring(text.encode()), filename=name)
        parser.get_spec("rma")
        parser.get_subprocess_specs("rma")
    except Exception as exc:  # noqa: BLE001 - any refusal counts
        return str(exc)
    return "accepted"


def _with(name: str, old: str, new: str) -> dict:
    assert old in BASE[name]
    return {**BASE, name: BASE[name].replace(old, new, 1)}


SILENTLY_ACCEPTED = {
    "flow_from_no_element": _with(
        REPAIR, 'sourceRef="start" targetRef="repair"', 'sourceRef="begin" targetRef="repair"'
    ),
    "activity_without_outgoing_flow": _with(
        REPAIR, '<bpmn:sequenceFlow id="flow_to_end" sourceRef="repair" targetRef="end" />', ""
    ),
    "decision_input_never_set": _with(WARRANTY, "<bpmn:script>age_months = ", "<bpmn:script>unit_age = "),
    "outgoing_entry_naming_no_flow": _with(
        REPAIR,
        "<bpmn:outgoing>flow_to_end</bpmn:outgoing>",
        "<bpmn:outgoing>flow_to_end</bpmn:outgoing><bpmn:outgoing>x</bpmn:outgoing>",
    ),
}


@pytest.mark.parametrize("files", SILENTLY_ACCEPTED.values(), ids=SILENTLY_ACCEPTED.keys())
def test_what_plain_spiffworkflow_accepts_is_refused_here(files):
    assert _plain_spiff(files) == "accepted"
    with pytest.raises(InvalidProcess) as info:
        parse_bundle(files)
    assert all(e["file"] and e["element"] and e["line"] for e in info.value.errors)


def test_a_dangling_target_gets_a_misleading_message_from_plain_spiffworkflow():
    files = _with(REPAIR, 'sourceRef="repair" targetRef="end"', 'sourceRef="repair" targetRef="finish"')
    assert "perhaps a form has the same ID" in _plain_spiff(files)
    with pytest.raises(InvalidProcess) as info:
        parse_bundle(files)
    assert "dangling sequence flow 'flow_to_end'" in info.value.errors[0]["message"]
