"""A stage added only in the process files (a call activity in the skeleton with its properties, and its own stage
file) shows on the customer's tracking page in its place, in the customer's language, and counts in the estimate."""

from __future__ import annotations

import re

import pytest

from engine.process import stages
from engine.process.definitions import read_bundle_dir
from engine.services import portal, processes, rmas
from tests.bpmn_edit import add_plain_centre, insert_call_activity, simple_form
from tests.conftest import PROCESSES_DIR
from tests.driver import DIAGNOSIS, complete_open_task, finish
from tests.helpers import INTAKE, actor, rma_payload

CLEANING_DAYS = (3, 4)
CLEANING = {
    "customerStageName.en": "Cleaning",
    "customerStageName.de": "Reinigung",
    "customerStageNoun.en": "cleaning",
    "customerStageNoun.de": "die Reinigung",
    "portalStep": "45",  # between the repair (40) and the quality check (50)
    "portalStatus": "cleaning",
    "etaDefaultDays": "3-4",
    "etaPaths": "warranty quote_approved",
}
CLEANING_STAGE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="rma_cleaning_definitions" targetNamespace="urn:rma-orchestrator:processes">
  <bpmn:collaboration id="rma_cleaning_collaboration" name="RMA cleaning">
    <bpmn:participant id="rma_cleaning_participant" name="RMA cleaning" processRef="rma_cleaning" />
  </bpmn:collaboration>
  <bpmn:process id="rma_cleaning" name="RMA cleaning" isExecutable="true">
    <bpmn:laneSet id="rma_cleaning_lanes">
      <bpmn:lane id="lane_technician" name="Technician">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>clean_unit</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="Repaired">
      <bpmn:outgoing>flow_to_clean_unit</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="clean_unit" name="Clean the unit">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="clean_unit.json" />
          <spiffworkflow:property name="rmaStatus" value="cleaning" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>flow_to_clean_unit</bpmn:incoming>
      <bpmn:outgoing>flow_to_end</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end" name="Clean">
      <bpmn:incoming>flow_to_end</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="flow_to_clean_unit" sourceRef="start" targetRef="clean_unit" />
    <bpmn:sequenceFlow id="flow_to_end" sourceRef="clean_unit" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
CLEANED = {"cleaning_notes": "Lens and body cleaned"}


def with_cleaning_stage(files: dict[str, str]) -> dict[str, str]:
    """The shipped bundle plus a cleaning stage after the repair: only process files change."""
    skeleton = insert_call_activity(
        files["rma.bpmn"], "stage_repair", "stage_cleaning", "Cleaning", "rma_cleaning", CLEANING
    )
    return {
        **files,
        "rma.bpmn": skeleton,
        "stages/rma_cleaning.bpmn": CLEANING_STAGE,
        "forms/clean_unit.json": simple_form("Cleaning", "cleaning_notes", "What was cleaned"),
    }


@pytest.fixture
def cleaning_orc(orc):
    """The shipped processes with the cleaning stage, deployed through the services; centre NL runs the base."""
    add_plain_centre(orc, "NL")
    deployed = processes.deploy_bundle(
        orc, actor(orc, "owner"), with_cleaning_stage(read_bundle_dir(PROCESSES_DIR)), note="a cleaning stage"
    )
    assert deployed["created"]
    return orc


def open_and_clean(orc, language: str = "en") -> dict:
    """An in-warranty RMA at centre NL, walked into the cleaning stage."""
    payload = rma_payload(centre="NL", months_old=6)
    payload["customer"]["language"] = language
    rma = rmas.open_rma(orc, actor(orc, "nl.reception"), payload)
    complete_open_task(orc, "nl.reception", rma["id"], "record_condition", INTAKE)
    complete_open_task(orc, "nl.tech", rma["id"], "diagnose", DIAGNOSIS)
    complete_open_task(orc, "nl.tech", rma["id"], "repair", {"repair_notes": "Board replaced"})
    return rma


def test_the_tracking_page_shows_the_new_stage_in_its_place_and_the_estimate_counts_it(cleaning_orc):
    orc = cleaning_orc
    rma = open_and_clean(orc)
    view = portal.portal_view(orc, rma["tracking_token"])
    assert (view["status"], view["stage"], view["status_text"]) == ("cleaning", "cleaning", "Cleaning")
    steps = [(s["key"], s["title"], s["state"]) for s in view["steps"]]
    assert steps == [  # in warranty: the customer's approval is not a step
        ("received", "Received", "done"),
        ("diagnosing", "Diagnosis", "done"),
        ("repairing", "Repair", "done"),
        ("cleaning", "Cleaning", "current"),
        ("quality_check", "Quality check", "todo"),
        ("returning", "On its way back", "todo"),
        ("closed", "Completed", "todo"),
    ]
    assert next(s for s in view["steps"] if s["key"] == "cleaning")["at"] is not None
    assert "Cleaning" in [event["detail"] for event in view["history"]]
    # no history at centre NL: the standard times of the cleaning, the quality check and the return
    shipped = stages.shipped().default_days
    expected = [CLEANING_DAYS[i] + shipped["qa"][i] + shipped["return"][i] for i in (0, 1)]
    assert view["eta"]["source"] == "defaults"
    assert [view["eta"]["low_days"], view["eta"]["high_days"]] == pytest.approx(expected, abs=0.01)

    steps_after = [status for _task, status in finish(orc, rma, {"clean_unit": CLEANED})]
    assert steps_after[:1] == ["quality_check"] and steps_after[-1] == "closed"
    done = portal.portal_view(orc, rma["tracking_token"])
    assert [s["key"] for s in done["steps"] if s["state"] == "done"][3:5] == ["cleaning", "quality_check"]


def test_the_new_stage_reads_in_the_customers_language_on_the_page(cleaning_orc, client):
    orc = cleaning_orc
    rma = open_and_clean(orc, "de")
    view = portal.portal_view(orc, rma["tracking_token"])
    assert view["status_text"] == "Reinigung"
    assert [s["title"] for s in view["steps"]][2:5] == ["Reparatur", "Reinigung", "Qualitätsprüfung"]
    page = client.get(f"/track/{rma['tracking_token']}").get_data(as_text=True)
    titles = re.findall(r'<span class="step-title">([^<]*)</span>', page)
    assert titles == [
        "Eingegangen",
        "Diagnose",
        "Reparatur",
        "Reinigung",
        "Qualitätsprüfung",
        "Rückversand",
        "Abgeschlossen",
    ]
    assert re.search(r'aria-current="step">.*?Reinigung', page, re.S)


def test_an_rma_on_the_earlier_version_keeps_its_steps(orc):
    add_plain_centre(orc, "NL")
    before = rmas.open_rma(orc, actor(orc, "nl.reception"), rma_payload(centre="NL", months_old=6))
    processes.deploy_bundle(orc, actor(orc, "owner"), with_cleaning_stage(read_bundle_dir(PROCESSES_DIR)))
    after = rmas.open_rma(orc, actor(orc, "nl.reception"), rma_payload(centre="NL", months_old=6, serial="SN-2"))
    keys = {
        rma["number"]: [s["key"] for s in portal.portal_view(orc, rma["tracking_token"])["steps"]]
        for rma in (before, after)
    }
    assert "cleaning" not in keys[before["number"]] and "cleaning" in keys[after["number"]]
