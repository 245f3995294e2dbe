"""Issue 15's corpus: every construct drawn into centre DE's quality-check stage, deployed through the deploy API
and driven through an RMA over the HTTP API to its end, or refused at deploy with its reason.

SQLite runs every case; PostgreSQL a representative subset (a timer, a parallel join, a multi-instance, a call
activity, an error boundary, a refusal, a delivered message, an incident and a FEEL table).
"""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime

import pytest
import time_machine

from engine.services.scheduler import fire_due_timers
from tests.corpus.cases import CASES, RECEIVER, Case
from tests.corpus.stage import FORMS
from tests.driver import FORMS as STANDARD
from tests.http_receiver import RECEIVER_HOSTS, HttpReceiver
from tests.web.conftest import ApiDriver

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ON_POSTGRES = {
    "timer_intermediate",
    "parallel_gateway",
    "mi_parallel",
    "call_activity",
    "boundary_error",
    "refused_busy_loop",
    "event_gateway_message",
    "incident_script_error",
    "dmn_feel_bench",
}
USERS = {"reception": "de.reception", "technician": "de.tech", "qa": "de.qa", "manager": "manager"}


@pytest.fixture
def db_url(request, tmp_path):
    """SQLite unless the test asks for PostgreSQL (indirect parametrisation)."""
    from tests.conftest import database

    with database(getattr(request, "param", "sqlite"), tmp_path) as url:
        yield url


@pytest.fixture
def settings(settings):
    """The corpus's outside system listens on 127.0.0.1, named in RMA_SERVICE_TASK_HOSTS as a LAN system is."""
    return dataclasses.replace(settings, service_task_hosts=RECEIVER_HOSTS)


@pytest.fixture
def lab():
    """The outside system a service task of the corpus calls."""
    with HttpReceiver(status=200, reply={"slot": "B4"}) as receiver:
        yield receiver


def _deploy(api, case: Case, receiver_url: str = ""):
    forms = {name: text for name, text in FORMS.items() if name in case.bpmn}  # an unused form is refused
    bpmn = case.bpmn.replace(RECEIVER, receiver_url)
    files = {"rma_qa.bpmn": bpmn, **forms, **case.files}
    data = {"files": [(io.BytesIO(text.encode()), name) for name, text in files.items()], "centre": "DE"}
    return api.client.post(
        "/api/processes/deploy", data=data, headers=api.headers("owner"), content_type="multipart/form-data"
    )


def _open_tasks(api, rma_id: int) -> list[dict]:
    response = api.get("manager", "/api/tasks", query_string={"rma_id": rma_id, "per_page": 100})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def _status(api, rma_id: int) -> str:
    return api.rma("manager", rma_id)["status"]


def _complete(api, task: dict, data: dict) -> None:
    response = api.complete(USERS[task["role"]], task["id"], data)
    assert response.status_code == 200, (task["name"], response.get_json())


def _to_qa_stage(api, rma_id: int) -> None:
    """The shipped stages with their standard data, until the quality-check stage has started."""
    before_qa = set(STANDARD) - {"qa_check", "ship_return", "ship_replacement"}
    for _ in range(10):
        pending = [t for t in _open_tasks(api, rma_id) if t["name"] in before_qa]
        if not pending:
            return
        _complete(api, pending[0], STANDARD[pending[0]["name"]])
    raise AssertionError("the RMA did not reach the quality-check stage")


def _run(api, clock, rma_id: int, steps) -> None:
    for step in steps:
        kind = step[0]
        if kind == "open":
            assert {t["name"] for t in _open_tasks(api, rma_id)} == step[1], step
        elif kind == "count":
            assert [t["name"] for t in _open_tasks(api, rma_id)].count(step[1]) == step[2], step
        elif kind == "do":
            task = next((t for t in _open_tasks(api, rma_id) if t["name"] == step[1]), None)
            assert task is not None, f"{step[1]} is not open: {[t['name'] for t in _open_tasks(api, rma_id)]}"
            _complete(api, task, step[2])
        elif kind == "wait":
            clock.shift(step[1])
            fire_due_timers(api.orc)
            api.forget_tokens()  # days later: log in again, as staff would
        elif kind == "message":
            response = api.post("de.reception", f"/api/rmas/{rma_id}/messages/{step[1]}", {"data": step[2]})
            assert response.status_code == step[3], response.get_json()
        elif kind == "posted":
            assert [set(call.json) for call in api.lab.requests] == [step[1]], api.lab.requests
        elif kind == "status":
            assert _status(api, rma_id) == step[1]
        elif kind == "incident":
            incidents = api.get("manager", "/api/incidents").get_json()["items"]
            mine = [i for i in incidents if i["rma_id"] == rma_id and i["status"] == "open"]
            assert len(mine) == 1 and mine[0]["task"] == step[1], mine
        else:  # pragma: no cover - a typo in a case
            raise AssertionError(f"unknown step {step}")


def _finish(api, rma_id: int) -> dict:
    for _ in range(5):
        open_now = _open_tasks(api, rma_id)
        if not open_now:
            break
        task = open_now[0]
        _complete(api, task, STANDARD[task["name"]])
    return api.rma("manager", rma_id)


def _drive(api, case: Case) -> None:
    response = _deploy(api, case, api.lab.url)
    if case.refused is not None:
        assert response.status_code == 422, response.get_json()
        errors = response.get_json()["errors"]
        hits = [e for e in errors if case.refused in f"{e.get('element')}: {e.get('message')}"]
        assert hits, [f"{e.get('element')}: {e.get('message')}" for e in errors]
        hit = hits[0]
        assert hit["file"] and hit["element"] and hit["line"], hit  # file, element and line, as the rule says
        if hit["file"] == "stages/rma_qa.bpmn":  # the uploaded stage: the element's line, or the offending part's
            lines = case.bpmn.splitlines()
            opening = next(n for n, text in enumerate(lines, 1) if f'id="{hit["element"]}"' in text)
            assert opening <= hit["line"] < opening + 12, (hit, opening)
        return
    assert response.status_code == 201, response.get_json()
    with time_machine.travel(T0, tick=False) as clock:
        rma = api.open_rma("de.reception", centre="DE", months_old=6)
        _to_qa_stage(api, rma["id"])
        _run(api, clock, rma["id"], case.steps)
        if case.ends == "incident":
            return
        final = _finish(api, rma["id"])
    assert final["status"] == "closed" and final["outcome"] == "repaired", final["status"]
    done = [e["task"] for e in final["history"] if e["kind"] == "task_completed"]
    assert "qa_check" in done and done[-1] == "ship_return"


@pytest.fixture
def api(client, orc, lab) -> ApiDriver:
    driver = ApiDriver(client)
    driver.lab = lab
    driver.orc = orc  # the worker fires timers on it
    driver.forget_tokens = driver._tokens.clear
    return driver


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_construct(api, case):
    _drive(api, case)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("case", [c for c in CASES if c.id in ON_POSTGRES], ids=sorted(ON_POSTGRES))
def test_construct_on_postgresql(api, case):
    _drive(api, case)
