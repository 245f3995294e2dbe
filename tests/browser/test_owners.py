"""Process owners in real Chromium: the bpmn-js modeler keeps spiffworkflow extensions, validates, deploys."""

from __future__ import annotations

import json
import os
import re
from collections import Counter

import pytest
from lxml import etree
from playwright.sync_api import Page, expect

from engine.services import processes, rmas
from tests.bpmn_edit import add_plain_centre
from tests.helpers import actor, rma_payload
from tests.http_receiver import HttpReceiver, allow_receivers

from .pages import choose, complete, go, log_in, log_out, open_task  # noqa: F401

pytestmark = pytest.mark.browser
SCREENSHOTS = os.environ.get("RMA_TEST_SCREENSHOTS")  # e.g. docs/screenshots: saves the deploy confirmation

SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
INTAKE_STAGE = "stages/rma_intake.bpmn"
DIAGNOSIS_STAGE = "stages/rma_diagnosis.bpmn"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "spiffworkflow": SPIFF}
SERIAL_FORM = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Check serial label",
    "type": "object",
    "required": ["label_matches"],
    "properties": {"label_matches": {"type": "string", "title": "Serial label reads", "minLength": 1}},
}

# Add a task between the start event and record_condition, as a person would with the palette.
ADD_TASK = """([type, id, name]) => {
  const m = window.rmaModeler;
  const modeling = m.get('modeling'), reg = m.get('elementRegistry');
  const participant = reg.get('rma_intake_participant');
  modeling.resizeLane(participant, {x: 160, y: 80, width: 568, height: 200});
  modeling.moveElements([reg.get('record_condition'), reg.get('end')], {x: 150, y: 0});
  modeling.removeConnection(reg.get('flow_to_record_condition'));
  const task = modeling.createShape({type: type}, {x: 370, y: 180}, participant);
  modeling.updateProperties(task, {id: id, name: name});
  modeling.connect(reg.get('start'), task);
  modeling.connect(task, reg.get('record_condition'));
  m.get('selection').select(task);
  return task.businessObject.$parent.id;
}"""
SELECT = "(id) => { const m = window.rmaModeler; m.get('selection').select(m.get('elementRegistry').get(id)); }"


def _deploy_base(page: Page, note: str, version: int) -> None:
    page.get_by_label("Deploy as").select_option(label="Base processes")
    page.get_by_label("Note").fill(note)
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#modeler-status")).to_contain_text("Valid:")
    page.get_by_role("button", name="Deploy", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Confirm deploy").click()
    expect(page.locator("#modeler-status")).to_contain_text(f"Deployed Base processes version {version}")


def _latest(orc, centre=None):
    with orc.uow() as uow:
        bundle = processes.latest_bundle(uow.session, centre)
        return bundle.id, bundle.version, dict(bundle.files)


def _open_modeler(page: Page, bundle_id: int, name: str) -> None:
    page.goto(f"/processes/{bundle_id}/edit/{name}")
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true")


def _spiff_items(xml: str) -> Counter:
    """Every spiffworkflow:* element (where, attributes, text) and attribute, as comparable tuples."""
    root = etree.fromstring(xml.encode("utf-8"))
    items = Counter()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        owner = next((a.get("id") for a in el.iterancestors() if a.get("id")), None)
        if etree.QName(el).namespace == SPIFF:
            chain = "/".join(etree.QName(a).localname for a in el.iterancestors() if etree.QName(a).namespace == SPIFF)
            items[
                (
                    "element",
                    owner,
                    chain,
                    etree.QName(el).localname,
                    tuple(sorted(el.attrib.items())),
                    (el.text or "").strip(),
                )
            ] += 1
        for key, value in el.attrib.items():
            if etree.QName(key).namespace == SPIFF:
                items[("attribute", el.get("id"), key, value)] += 1
    return items


def test_modeler_round_trip_keeps_every_spiffworkflow_extension(page: Page, live_server):
    bundle_id, _version, files = _latest(live_server.orc)
    log_in(page, "owner")
    diagrams = [INTAKE_STAGE] + sorted(n for n in files if n.endswith(".bpmn") and n != INTAKE_STAGE)
    checked = 0
    for name in diagrams:
        _open_modeler(page, bundle_id, name)
        saved = page.evaluate("() => window.rmaModeler.saveXML({format: true}).then(r => r.xml)")
        original = _spiff_items(files[name])
        missing = original - _spiff_items(saved)
        assert not missing, (name, sorted(missing))
        checked += sum(original.values())
    intake = _spiff_items(files[INTAKE_STAGE])
    assert (
        "element",
        "record_condition",
        "properties",
        "property",
        (("name", "formJsonSchemaFilename"), ("value", "record_condition.json")),
        "",
    ) in intake
    assert checked > 40
    assert page.console_errors == []


def test_validate_lists_errors_and_marks_the_elements(page: Page, live_server):
    bundle_id, _version, _files = _latest(live_server.orc)
    log_in(page, "owner")
    _open_modeler(page, bundle_id, INTAKE_STAGE)
    page.evaluate(
        "() => { const m = window.rmaModeler; "
        "m.get('modeling').removeConnection(m.get('elementRegistry').get('flow_to_end')); }"
    )
    page.get_by_role("button", name="Validate").click()
    # record_condition now ends its path (an implicit end, issue 15.9); the end event no flow reaches is the error
    errors = page.get_by_test_id("validation-errors")
    expect(errors).to_contain_text("end event 'end' has no incoming sequence flow")
    expect(errors.locator("li").first).to_contain_text(re.compile(r"stages/rma_intake\.bpmn:\d+"))
    expect(page.locator('.djs-element.owner-error[data-element-id="end"]')).to_have_count(1)
    expect(page.locator("#modeler")).to_have_attribute("data-highlighted", re.compile(r"\bend\b"))
    assert _latest(live_server.orc)[0] == bundle_id  # nothing was stored


def test_variant_diff_colours_added_elements(page: Page, live_server):
    de_id = _latest(live_server.orc, "DE")[0]
    log_in(page, "owner")
    page.goto(f"/processes/{de_id}/diff")
    expect(page.locator("body")).to_have_attribute("data-diff-ready", "true")
    repair = page.locator('[data-stage="rma_repair"]')
    expect(repair.locator('[data-side="variant"] .djs-element.diff-added').first).to_be_attached()
    expect(repair.locator('[data-side="base"] svg').first).to_be_visible()


def test_owner_adds_a_user_task_with_a_form_new_rmas_meet_it_older_ones_do_not(page: Page, live_server):
    orc = live_server.orc
    add_plain_centre(orc, "NL")  # runs the base processes
    older = rmas.open_rma(orc, actor(orc, "nl.reception"), rma_payload(centre="NL", serial="OLD-1"))
    base_version = _latest(orc)[1]

    log_in(page, "owner")
    go(page, "Processes")
    expect(page.get_by_role("heading", name="Processes", level=1)).to_be_visible()
    page.get_by_test_id("versions-base").get_by_role("link", name=f"Files of Base processes v{base_version}").click()
    page.get_by_role("link", name=f"Open {INTAKE_STAGE}").click()
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true")

    assert page.evaluate(ADD_TASK, ["bpmn:UserTask", "check_serial_label", "Check serial label"]) == "rma_intake"
    expect(page.get_by_test_id("selected-task")).to_contain_text("check_serial_label")
    page.get_by_label("Form file").fill("check_serial_label.json")
    page.get_by_label("Form file").dispatch_event("change")
    expect(page.get_by_label("JSON Schema")).to_have_value(re.compile(r"\$schema"))
    page.get_by_label("JSON Schema").fill(json.dumps(SERIAL_FORM, indent=2))
    preview = page.locator("#form-preview")
    expect(preview.get_by_label("Serial label reads")).to_be_visible()  # rendered as staff will see it

    _deploy_base(page, "Check the serial label before recording the condition", base_version + 1)

    _id, version, files = _latest(orc)
    assert version == base_version + 1 and "forms/check_serial_label.json" in files
    go(page, "Processes")
    row = page.get_by_test_id("versions-base").locator(f'tr[data-version="{version}"]')
    expect(row).to_contain_text("Check the serial label")
    expect(row).to_contain_text("check_serial_label")

    newer = rmas.open_rma(orc, actor(orc, "nl.reception"), rma_payload(centre="NL", serial="NEW-1"))
    log_out(page)
    log_in(page, "nl.reception")
    open_task(page, newer["number"], "Check serial label")
    page.get_by_label("Serial label reads").fill("NEW-1")
    complete(page, "Received")
    open_task(page, newer["number"], "Record condition")

    open_task(page, older["number"], "Record condition")  # the older RMA continues on its version
    page.get_by_label("Condition grade").select_option("A")
    page.get_by_label("Condition notes").fill("Clean unit")
    page.get_by_label("Customer acknowledged the recorded condition").check()
    complete(page, "Diagnosing")
    assert page.console_errors == []


def test_owner_changes_the_diagnosis_sla_timer_in_the_modeler(page: Page, live_server):
    bundle_id, version, files = _latest(live_server.orc)
    assert '"P2D"' in files[DIAGNOSIS_STAGE]
    log_in(page, "owner")
    _open_modeler(page, bundle_id, DIAGNOSIS_STAGE)
    page.evaluate(SELECT, "diagnosis_overdue")
    expect(page.get_by_test_id("timer-id")).to_have_text("diagnosis_overdue")
    expect(page.get_by_label("Fires")).to_have_value("timeDuration")
    expect(page.get_by_label("Timer expression")).to_have_value('"P2D"')
    page.get_by_label("Timer expression").fill('"P3D"')
    page.get_by_label("Timer expression").dispatch_event("change")
    _deploy_base(page, "Diagnosis SLA: three days", version + 1)

    root = etree.fromstring(_latest(live_server.orc)[2][DIAGNOSIS_STAGE].encode())
    [duration] = root.xpath("//bpmn:boundaryEvent[@id='diagnosis_overdue']//bpmn:timeDuration", namespaces=NS)
    assert duration.text == '"P3D"'
    assert page.console_errors == []


def test_owner_adds_a_service_task_that_tells_the_erp_about_every_new_rma(page: Page, live_server):
    orc = live_server.orc
    allow_receivers(orc)  # the ERP listens on 127.0.0.1, named in RMA_SERVICE_TASK_HOSTS as a LAN ERP is
    add_plain_centre(orc, "NL")
    bundle_id, version, _files = _latest(orc)
    with HttpReceiver(status=200, reply={"order": "SO-7"}) as erp:
        log_in(page, "owner")
        _open_modeler(page, bundle_id, INTAKE_STAGE)
        assert page.evaluate(ADD_TASK, ["bpmn:ServiceTask", "tell_erp", "Tell the ERP"]) == "rma_intake"
        expect(page.get_by_test_id("service-id")).to_have_text("tell_erp")
        page.get_by_label("Request").select_option("http/PostRequest")
        for label, value in (
            ("URL expression", f"'{erp.url}'"),
            ("JSON body expression", "{'rma': rma_number}"),
            ("Result variable", "erp_reply"),
        ):
            page.get_by_label(label).fill(value)
            page.get_by_label(label).dispatch_event("change")
        _deploy_base(page, "Tell the ERP about every new RMA", version + 1)

        opened = rmas.open_rma(orc, actor(orc, "nl.reception"), rma_payload(centre="NL", serial="ERP-1"))
    assert [r.json for r in erp.requests] == [{"rma": opened["number"]}]
    assert [t["name"] for t in opened["open_tasks"]] == ["record_condition"]
    root = etree.fromstring(_latest(orc)[2][INTAKE_STAGE].encode())
    [operator] = root.xpath("//bpmn:serviceTask[@id='tell_erp']//spiffworkflow:serviceTaskOperator", namespaces=NS)
    assert (operator.get("id"), operator.get("resultVariable")) == ("http/PostRequest", "erp_reply")
    assert page.console_errors == []


BREAK_CONDITION_POLICY = """() => {
  const m = window.rmaModeler, modeling = m.get('modeling'), reg = m.get('elementRegistry');
  modeling.removeElements([reg.get('record_condition')]);
  modeling.connect(reg.get('start'), reg.get('end'));
}"""


def test_modeler_guards_unsaved_edits_confirms_the_changes_and_marks_a_policy_error(page: Page, live_server):
    bundle_id, version, _files = _latest(live_server.orc)
    log_in(page, "owner")
    go(page, "Processes")
    expect(page.get_by_test_id("versions-base").locator("tr[data-version]")).to_have_count(version)
    _open_modeler(page, bundle_id, INTAKE_STAGE)
    modeler = page.locator("#modeler")

    # a company policy error: the steps of the offending path in this diagram are marked, nothing is deployed
    page.evaluate(BREAK_CONDITION_POLICY)
    expect(modeler).to_have_attribute("data-unsaved", "true")
    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page.get_by_test_id("validation-errors")).to_contain_text("policy 'intake_condition_record' broken")
    for step in ("start", "end"):
        expect(page.locator(f'.djs-element.owner-policy-path[data-element-id="{step}"]')).to_have_count(1)
    flow = page.evaluate("() => window.rmaModeler.get('elementRegistry').get('start').outgoing[0].id")
    expect(page.locator(f'.djs-connection.owner-policy-path[data-element-id="{flow}"]')).to_have_count(1)
    expect(modeler).to_have_attribute("data-policy-path", re.compile(r"\bstart\b"))
    expect(page.get_by_role("dialog")).to_have_count(0)

    # leaving with unsaved edits asks first (Chromium asks only after the person touched the page)
    page.locator("#deploy-note").click()
    asked = []
    page.once("dialog", lambda d: (asked.append(d.type), d.dismiss()))
    page.get_by_role("link", name="Processes").first.click()
    expect(modeler).to_be_visible()
    assert asked == ["beforeunload"] and "/edit/" in page.url

    # a fixable edit: the confirmation lists what changed; Cancel deploys nothing, Confirm deploys
    page.evaluate("() => { const s = window.rmaModeler.get('commandStack'); s.undo(); s.undo(); }")
    page.evaluate(
        "() => { const m = window.rmaModeler; m.get('modeling').updateProperties("
        "m.get('elementRegistry').get('record_condition'), {name: 'Record the unit condition'}); }"
    )
    page.get_by_label("Note").fill("Clearer task name")
    page.get_by_role("button", name="Deploy", exact=True).click()
    dialog = page.get_by_role("dialog", name="Deploy these changes?")
    expect(dialog).to_be_visible()
    expect(dialog.locator('[data-process="rma_intake"]')).to_contain_text("Changed: record_condition")
    expect(dialog.locator('[data-process="rma_intake"]')).to_contain_text("Record the unit condition")
    expect(dialog).to_contain_text("Base processes")
    expect(dialog).to_contain_text("Clearer task name")
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/owner-deploy-confirmation.png")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#modeler-status")).to_contain_text("Nothing was deployed")
    assert _latest(live_server.orc)[1] == version

    page.get_by_role("button", name="Deploy", exact=True).click()
    dialog.get_by_role("button", name="Confirm deploy").click()
    expect(page.locator("#modeler-status")).to_contain_text(f"Deployed Base processes version {version + 1}")
    new_id, new_version, files = _latest(live_server.orc)
    assert new_version == version + 1 and 'name="Record the unit condition"' in files[INTAKE_STAGE]
    expect(modeler).to_have_attribute("data-unsaved", "false")

    # the page is now the new version's: a reload opens it, no warning on leaving, and Back to the list shows it
    expect(page).to_have_url(re.compile(rf"/processes/{new_id}/edit/"))
    expect(page.locator(".breadcrumbs")).to_contain_text(f"Base processes v{new_version}")
    unexpected = []
    page.on("dialog", lambda d: (unexpected.append(d.type), d.dismiss()))
    page.reload()
    expect(modeler).to_have_attribute("data-ready", "true")
    expect(page.locator("#modeler-opened")).to_have_text(f"Base processes v{new_version}")
    page.go_back()
    expect(page.get_by_test_id("versions-base").locator(f'tr[data-version="{new_version}"]')).to_contain_text(
        "Clearer task name"
    )
    assert unexpected == [] and page.console_errors == []
