"""The per-process cache of restored workflows (engine/store/instance_cache.py) never serves anything but the
committed state: other writers, rolled-back commands and disabled caches all fall back to the stored state."""

from __future__ import annotations

import pytest

from engine import Orchestrator, Settings
from engine.demo import create_centres_and_users
from engine.errors import InvalidFormData
from engine.services import portal, rmas, tasks
from engine.store.model import Instance
from tests.driver import complete_open_task, only_task
from tests.helpers import INTAKE, actor, rma_payload
from web.cli import init_database

DIAGNOSIS = {"diagnosis": "Dead board", "fault_category": "electronic", "parts_cost": 100, "labour_hours": 2}


def _stored_version(orc, rma_id):
    with orc.session_factory() as s:
        return s.get(Instance, rma_id).version


def test_a_command_after_a_commit_reuses_the_committed_workflow(orc):
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=30))
    assert len(orc.instances) == 1  # the opened instance, kept at its committed version
    before = orc.instances.hits
    result = complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
    name = result["task"]["name"]
    assert name == "record_condition" and result["rma"]["status"] == "diagnosing"
    assert orc.instances.hits == before + 1
    result = complete_open_task(orc, "sg.tech", rma["id"], data=DIAGNOSIS)
    name = result["task"]["name"]
    assert name == "diagnose" and result["rma"]["status"] == "awaiting_approval"
    assert orc.instances.hits == before + 2


def test_a_closed_rma_is_not_kept(orc):
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=6))  # in warranty: no quote
    complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
    complete_open_task(orc, "sg.tech", rma["id"], data=DIAGNOSIS)
    complete_open_task(orc, "sg.tech", rma["id"], data={"repair_notes": "Board replaced"})
    complete_open_task(orc, "sg.qa", rma["id"], data={"qa_passed": True})
    assert rma["id"] in orc.instances
    result = complete_open_task(orc, "sg.reception", rma["id"], data={"carrier": "DHL", "tracking_number": "JD01"})
    name = result["task"]["name"]
    assert name == "ship_return" and result["rma"]["status"] == "closed"
    assert rma["id"] not in orc.instances


def test_another_process_writing_the_rma_makes_the_cached_workflow_unusable(orc, settings):
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=30))
    complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)  # `orc` now holds the workflow after intake
    other = Orchestrator(settings)  # a second web worker on the same database
    try:
        result = complete_open_task(other, "sg.tech", rma["id"], data=DIAGNOSIS)
        name = result["task"]["name"]
        assert name == "diagnose" and result["rma"]["status"] == "awaiting_approval"
    finally:
        other.dispose()
    misses = orc.instances.misses
    # `orc`'s copy predates the diagnosis: it must restore the stored state, where the approval is open
    view = rmas.get_rma(orc, actor(orc, "sg.reception"), rma["id"])
    assert [t["name"] for t in view["open_tasks"]] == ["customer_approval"]
    portal.record_customer_decision(orc, rma["tracking_token"], True)
    assert orc.instances.misses == misses + 1
    result = complete_open_task(orc, "sg.tech", rma["id"], data={"repair_notes": "Board replaced"})
    name = result["task"]["name"]
    assert name == "repair" and result["rma"]["status"] != "closed"
    history = [
        h["task"]
        for h in rmas.get_rma(orc, actor(orc, "sg.reception"), rma["id"])["history"]
        if h["kind"] == "task_completed"
    ]
    assert history == ["record_condition", "diagnose", "repair"]


def test_a_rolled_back_command_leaves_nothing_half_applied_in_the_cache(orc):
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    version = _stored_version(orc, rma["id"])
    task = only_task(orc, "sg.reception", rma["id"])
    # The workflow runs past the intake before the photo check refuses the form: all of it rolls back.
    with pytest.raises(InvalidFormData):
        tasks.complete_task(orc, actor(orc, "sg.reception"), task["id"], {**INTAKE, "photos": ["0" * 64]})
    assert _stored_version(orc, rma["id"]) == version
    assert len(orc.instances) == 0  # taken out for the command, not put back
    misses = orc.instances.misses
    result = complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)  # the same task is still open
    name = result["task"]["name"]
    assert name == "record_condition" and result["rma"]["status"] == "diagnosing"
    assert orc.instances.misses == misses + 1


def test_size_zero_turns_the_cache_off(settings):
    orc = Orchestrator(
        Settings.from_env(
            {"RMA_INSTANCE_CACHE_SIZE": "0"},
            database_url=settings.database_url,
            instance_dir=settings.instance_dir,
            upload_dir=settings.upload_dir,
            secret_key="test-secret",
            run_worker=False,
        )
    )
    try:
        orc.migrate()
        create_centres_and_users(orc)
        init_database(orc)
        rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
        result = complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
        assert result["rma"]["status"] == "diagnosing"
        assert len(orc.instances) == 0 and orc.instances.hits == 0
    finally:
        orc.dispose()


def test_the_cache_keeps_at_most_its_size(orc):
    orc.instances.max_entries = 2
    ids = [rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial=f"SN-{n}"))["id"] for n in range(3)]
    assert len(orc.instances) == 2
    hits = orc.instances.hits
    complete_open_task(orc, "sg.reception", ids[0], data=INTAKE)  # the least recently kept went first
    assert orc.instances.hits == hits
    complete_open_task(orc, "sg.reception", ids[2], data=INTAKE)
    assert orc.instances.hits == hits + 1
