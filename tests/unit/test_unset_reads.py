"""Deploy warnings for a variable read where some path has not set it: a multi-instance's own input item is set
by the multi-instance, not read from before it."""

from __future__ import annotations

from engine.process.definitions import overlay, parse_bundle, read_bundle_dir
from tests.conftest import PROCESSES_DIR
from tests.corpus.cases import CASES
from tests.corpus.stage import FORMS, chain, end, qa_check, script, stage, start


def _warnings(bpmn: str) -> list[dict]:
    files = overlay(read_bundle_dir(PROCESSES_DIR), "stages/rma_qa.bpmn", bpmn)
    files |= {f"forms/{name}": text for name, text in FORMS.items() if name in bpmn}
    return [w for w in parse_bundle(files, deploy=True).warnings if w.get("file") == "stages/rma_qa.bpmn"]


def test_a_multi_instance_script_reading_its_own_input_item_is_not_warned():
    case = next(c for c in CASES if c.id == "mi_script_output")
    assert "part + '!'" in case.bpmn and 'name="part"' in case.bpmn
    assert _warnings(case.bpmn) == []


def test_a_script_reading_a_variable_nothing_set_is_warned_naming_it():
    bpmn = stage(start() + script("guess", "ratio = spare_parts * 2") + qa_check() + end()
                 + chain("start", "guess", "qa_check", "end"))  # fmt: skip
    [warning] = _warnings(bpmn)
    assert warning["element"] == "guess" and "spare_parts" in warning["message"] and warning["line"]
