"""Every shipped diagram stands alone: valid BPMN, drawable (DI for every element), forms present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from engine.process.definitions import BPMN_NS, FORM_PROPERTY, read_bundle_dir
from tests.conftest import PROCESSES_DIR

DI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
# Children of a process that are not drawn as flow nodes.
NOT_FLOW_NODES = {
    "laneSet",
    "sequenceFlow",
    "documentation",
    "extensionElements",
    "ioSpecification",
    "property",
    "dataObject",
    "association",
    "textAnnotation",
}
BPMN_FILES = sorted(PROCESSES_DIR.rglob("*.bpmn"))
DMN_FILES = sorted(PROCESSES_DIR.rglob("*.dmn"))


def _local(el) -> str:
    return etree.QName(el).localname


def _flow_nodes_and_flows(root):
    nodes, flows = [], []
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        for child in process:
            if not isinstance(child.tag, str):
                continue
            if _local(child) == "sequenceFlow":
                flows.append(child.get("id"))
            elif _local(child) not in NOT_FLOW_NODES:
                nodes.append(child.get("id"))
    return nodes, flows


@pytest.fixture(params=BPMN_FILES, ids=lambda p: p.relative_to(PROCESSES_DIR).as_posix())
def bpmn(request):
    return request.param


def test_the_bundle_ships_a_skeleton_and_its_stages():
    names = {p.relative_to(PROCESSES_DIR).as_posix() for p in BPMN_FILES}
    assert "rma.bpmn" in names
    assert {n for n in names if n.startswith("stages/")} == {
        f"stages/rma_{s}.bpmn"
        for s in (
            "triage",
            "inbound",
            "intake",
            "diagnosis",
            "warranty",
            "approval",
            "repair",
            "qa",
            "return",
            "replacement",
        )
    }


def test_diagram_is_schema_valid_and_parses_alone(bpmn):
    root = etree.parse(str(bpmn)).getroot()
    assert VALIDATOR.validator.validate(root), VALIDATOR.validator.error_log
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_file(str(bpmn))
    parser.add_dmn_files([str(p) for p in DMN_FILES])
    ids = parser.get_process_ids()
    assert len(ids) == 1
    if bpmn.parent.name == "stages":
        assert ids == [bpmn.stem], "a stage file is named after its process id"
    assert parser.get_spec(ids[0]).name == ids[0]


def test_every_flow_node_and_sequence_flow_is_drawn(bpmn):
    root = etree.parse(str(bpmn)).getroot()
    nodes, flows = _flow_nodes_and_flows(root)
    assert nodes and flows
    shapes = {el.get("bpmnElement") for el in root.iter(f"{{{DI_NS}}}BPMNShape")}
    edges = {el.get("bpmnElement") for el in root.iter(f"{{{DI_NS}}}BPMNEdge")}
    assert set(nodes) - shapes == set()
    assert set(flows) - edges == set()
    lanes = [el.get("id") for el in root.iter(f"{{{BPMN_NS}}}lane")]
    participants = [el.get("id") for el in root.iter(f"{{{BPMN_NS}}}participant")]
    assert set(lanes + participants) - shapes == set()


def test_diagram_interchange_points_only_at_existing_elements(bpmn):
    root = etree.parse(str(bpmn)).getroot()
    ids = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    drawn = [
        el.get("bpmnElement")
        for el in root.iter(f"{{{DI_NS}}}BPMNShape", f"{{{DI_NS}}}BPMNEdge", f"{{{DI_NS}}}BPMNPlane")
    ]
    assert drawn and set(drawn) - ids == set()


def _forms_seen_by(bpmn) -> dict[str, str]:
    """The forms the engine resolves for `bpmn`'s user tasks, by file name: those of the bundle the file
    is deployed in (the base bundle, or for variants/<centre>/... the centre's bundle, read as
    read_bundle_dir reads it: variant files laid over the base), indexed as parse_bundle indexes them."""
    parts = bpmn.relative_to(PROCESSES_DIR).parts
    centre = parts[1] if parts[0] == "variants" else None
    files = read_bundle_dir(PROCESSES_DIR, centre)
    assert bpmn.read_text(encoding="utf-8") in files.values(), f"{bpmn} is not part of its own bundle"
    return {
        Path(name).name: text
        for name, text in sorted(files.items())
        if name.endswith(".json") and "forms" in Path(name).parts[:-1]
    }


def test_every_user_task_names_a_form_that_exists_and_is_a_json_schema(bpmn):
    root = etree.parse(str(bpmn)).getroot()
    forms = _forms_seen_by(bpmn)
    for task in root.iter(f"{{{BPMN_NS}}}userTask"):
        props = {p.get("name"): p.get("value") for p in task.iter(f"{{{SPIFF_NS}}}property")}
        form = props.get(FORM_PROPERTY)
        assert form, f"user task {task.get('id')} has no form"
        assert form in forms, f"user task {task.get('id')} names missing form {form}"
        schema = json.loads(forms[form])
        assert schema.get("type") == "object" and schema.get("properties")
        assert props.get("rmaStatus"), f"user task {task.get('id')} sets no rmaStatus"
