"""Issue 15.7 in real Chromium: the product's own modeler never breaks a file. Every shipped BPMN file and a stage
that uses every spiffworkflow: extension (tests/browser/spiff_kitchen_sink.py) are opened in the modeler and
saved without edits; the saved file keeps every extension and every BPMN element and attribute, parses to the
same SpiffWorkflow specs, deploys, and an RMA runs through it with the same data as through the original."""

from __future__ import annotations

from collections import Counter

import pytest
from lxml import etree
from playwright.sync_api import Page, expect

from engine.process import bundle_files
from engine.process.definitions import parse_bundle
from engine.services import processes, rmas
from engine.store.model import Instance
from tests.bpmn_edit import add_plain_centre
from tests.conftest import PROCESSES_DIR
from tests.driver import DIAGNOSIS, complete_open_task
from tests.helpers import INTAKE, actor, rma_payload

from .pages import log_in
from .spiff_kitchen_sink import FILES as KITCHEN_SINK

pytestmark = pytest.mark.browser
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
SAVE = "() => window.rmaModeler.saveXML({format: true}).then(r => r.xml)"


def semantics(xml: str) -> Counter:
    """Every element of the process model (BPMN and spiffworkflow:, not the diagram), with its place, attributes
    and text, and every spiffworkflow: attribute: what a round trip must keep, whatever the formatting."""
    root = etree.fromstring(xml.encode("utf-8"))
    items: Counter = Counter()
    for el in root.iter():
        if not isinstance(el.tag, str) or etree.QName(el).namespace not in (BPMN, SPIFF):
            continue
        owner = next((a.get("id") for a in el.iterancestors() if a.get("id")), None)
        attributes = tuple(sorted((etree.QName(k).localname, v) for k, v in el.attrib.items()))
        items[(owner, etree.QName(el).namespace, etree.QName(el).localname, attributes, (el.text or "").strip())] += 1
    return items


def spec_signature(files: dict) -> dict:
    """What SpiffWorkflow runs: per process, each task spec's type, BPMN id, outputs and the code and data it uses."""
    parsed = parse_bundle(files)
    signature = {}
    for spec in [parsed.spec, *parsed.subprocess_specs.values()]:
        for name, ts in spec.task_specs.items():
            signature[(spec.name, name)] = (
                type(ts).__name__,
                sorted(o.name for o in ts.outputs),
                getattr(ts, "script", None),
                getattr(ts, "prescript", None),
                getattr(ts, "postscript", None),
                _named(getattr(ts, "data_input", None)),
                _named(getattr(ts, "data_output", None)),
                _named(getattr(ts, "input_item", None)),
                _named(getattr(ts, "output_item", None)),
                str(getattr(ts, "cardinality", None)),
                repr(sorted((getattr(ts, "extensions", None) or {}).items(), key=str)),
            )
    return signature


def _named(item) -> str | None:
    """A data reference by its name (the collection or item variable), not its object identity."""
    return None if item is None else str(getattr(item, "bpmn_id", None) or getattr(item, "name", None) or item)


def _never_runs(answer: dict) -> list[str]:
    return [w["element"] for w in answer["warnings"] if "never runs" in w["message"]]


def _variant(centre: str) -> set[str]:
    """The BPMN files a centre's variant folder ships (processes/variants/<centre>/)."""
    folder = PROCESSES_DIR / "variants" / centre
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*.bpmn")}


def _bundle(orc, centre):
    with orc.reading() as s:
        bundle = processes.latest_bundle(s, centre)
        return bundle.id, dict(bundle.files)


def _open_and_save(page: Page, bundle_id: int, name: str) -> str:
    page.goto(f"/processes/{bundle_id}/edit/{name}")
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true")
    return page.evaluate(SAVE)


def _walk_diagnosis(orc) -> dict:
    """An in-warranty RMA of centre NL through the diagnosis: the data the repair task then holds."""
    rma = rmas.open_rma(orc, actor(orc, "nl.reception"), rma_payload(centre="NL", months_old=6))
    complete_open_task(orc, "nl.reception", rma["id"], "record_condition", INTAKE)
    complete_open_task(orc, "nl.tech", rma["id"], "diagnose", DIAGNOSIS)
    with orc.reading() as s:
        instance = s.get(Instance, rma["id"])
        workflow = orc.runtime.load(orc.parsed_bundle(s, instance.bundle_id), instance.state)
        return orc.runtime.current_data(workflow)


def test_every_shipped_file_and_every_spiffworkflow_extension_survive_open_and_save(page: Page, live_server):
    orc = live_server.orc
    add_plain_centre(orc, "NL")
    deployed = processes.deploy_bundle(orc, actor(orc, "owner"), KITCHEN_SINK, "NL", "kitchen sink", merge=True)
    assert deployed["created"] and _never_runs(deployed) == ["rma_diagnosis_inbox"]
    bundle_id, files = _bundle(orc, "NL")
    before = _walk_diagnosis(orc)
    assert before["checked_parts"] == ["LENS", "BOARD"] and before["parts_summary"] == "LENS, BOARD"
    assert len(before["rounds"]) == 2 and before["extras_noted"] is True and before["diagnosed_parts"] == 2

    log_in(page, "owner")
    for centre in (None, "DE", "SG"):  # every shipped file: the base and the centres' variants
        shipped_id, shipped = _bundle(orc, centre)
        resaved_shipped = {}
        for name in sorted(n for n in shipped if n.endswith(".bpmn") and (centre is None or n in _variant(centre))):
            resaved_shipped[name] = _open_and_save(page, shipped_id, name)
            lost = semantics(shipped[name]) - semantics(resaved_shipped[name])
            added = semantics(resaved_shipped[name]) - semantics(shipped[name])
            assert not lost and not added, (centre, name, sorted(lost), sorted(added))
        assert resaved_shipped and spec_signature({**shipped, **resaved_shipped}) == spec_signature(shipped)
    saved = {}
    for name in sorted(n for n in files if n.endswith(".bpmn")):
        saved[name] = _open_and_save(page, bundle_id, name)
        lost = semantics(files[name]) - semantics(saved[name])
        added = semantics(saved[name]) - semantics(files[name])
        assert not lost and not added, (name, sorted(lost), sorted(added))
    assert page.console_errors == []
    resaved = {**files, **saved}
    assert spec_signature(resaved) == spec_signature(files)

    # the saved files deploy (as the modeler's Deploy sends them) and run as the originals did
    again = processes.deploy_upload(orc, actor(orc, "owner"), sorted(saved.items()), "NL", "saved unchanged")
    assert again["created"] and _never_runs(again) == ["rma_diagnosis_inbox"]
    assert bundle_files.merge(files, saved).keys() == files.keys()
    after = _walk_diagnosis(orc)
    same = ("checked_parts", "parts_summary", "rounds", "extras_noted", "diagnosed_parts", "parts")
    assert {k: after[k] for k in same} == {k: before[k] for k in same}

    # the modeler says what the deploy answer says: the process nothing calls, as a warning under Validate
    new_id, _files = _bundle(orc, "NL")
    page.goto(f"/processes/{new_id}/edit/stages/rma_diagnosis.bpmn")
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true")
    expect(page.locator("#modeler")).to_have_attribute("data-kept-references", "3")
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#modeler-status")).to_contain_text("Valid:")
    expect(page.get_by_test_id("deploy-warnings")).to_contain_text("rma_diagnosis_inbox")
    expect(page.get_by_test_id("deploy-warnings")).to_contain_text("never runs")
    page.screenshot(path="/tmp/p9/modeler_warnings.png", full_page=True)
