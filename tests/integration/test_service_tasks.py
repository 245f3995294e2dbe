"""Service tasks call a real HTTP server; an unreachable or failing one puts the RMA in `incident`, and a
retry after the other side is back calls again and goes on. On each backend."""

from __future__ import annotations

import dataclasses
import json

import pytest

from engine import Actor
from engine.adapters.service_tasks import HttpServices
from engine.adapters.signing import verify_signature
from engine.config import Settings
from engine.errors import InvalidProcess
from engine.process.definitions import read_bundle_dir
from engine.services import operations, processes, rmas
from engine.store.model import Instance
from tests.conftest import PROCESSES_DIR
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload
from tests.http_receiver import RECEIVER_HOSTS, HttpReceiver
from tests.integration.live_http import free_port

APPROVAL = "stages/rma_approval.bpmn"
DIAGNOSIS = {"diagnosis": "Sensor dead", "fault_category": "sensor", "parts_cost": 10, "labour_hours": 1}
SCRIPT_TASK = """<bpmn:scriptTask id="compute_quote" name="Compute quote">
      <bpmn:extensionElements>"""
SCRIPT_END = """<bpmn:script>quote_total = round(parts_cost + labour_hours * labour_rate, 2)</bpmn:script>
    </bpmn:scriptTask>"""


@pytest.fixture
def settings(settings):
    """The ERP of these tests listens on 127.0.0.1: named in RMA_SERVICE_TASK_HOSTS, as the ERP on a LAN is."""
    return dataclasses.replace(settings, service_task_hosts=RECEIVER_HOSTS)


POSTED = """<spiffworkflow:parameter id="data" type="any" value="{'rma': rma_number, 'parts_cost': parts_cost}" />"""


def _operator(url_expression: str, operator: str = "http/PostRequest", extra: str = POSTED) -> str:
    return f"""<spiffworkflow:serviceTaskOperator id="{operator}" resultVariable="erp_reply">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="url" type="str" value="{url_expression}" />
            {extra}
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>"""


def _bundle(operator_xml: str) -> dict:
    """The shipped bundle with `compute_quote` turned into a service task that posts the diagnosis to an ERP
    and computes the quote in its post-script."""
    files = read_bundle_dir(PROCESSES_DIR)
    text = files[APPROVAL]
    assert SCRIPT_TASK in text and SCRIPT_END in text
    text = text.replace(
        SCRIPT_TASK,
        f"""<bpmn:serviceTask id="compute_quote" name="Compute quote">
      <bpmn:extensionElements>
        {operator_xml}
        <spiffworkflow:postScript>quote_total = round(parts_cost + labour_hours * labour_rate, 2)</spiffworkflow:postScript>""",  # noqa: E501  (BPMN as a process owner writes it)
    )
    files[APPROVAL] = text.replace(SCRIPT_END, "</bpmn:serviceTask>")
    return files


def _deploy(orc, url: str, **kwargs) -> None:
    processes.deploy_bundle(
        orc, Actor("owner", "process_owner"), _bundle(_operator(f"'{url}'", **kwargs)), note="quote goes to the ERP"
    )


def _workflow(orc, rma_id):
    with orc.uow() as uow:
        instance = uow.session.get(Instance, rma_id)
        return orc.runtime.load(orc.parsed_bundle(uow.session, instance.bundle_id), instance.state)


def _diagnosed(orc):
    """An out-of-warranty RMA whose diagnosis was just completed (the service task runs right after)."""
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=40))
    complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
    result = complete_open_task(orc, "sg.tech", rma["id"], data=DIAGNOSIS)
    return rma, result


def test_a_service_task_posts_to_the_outside_system_and_keeps_its_answer(orc):
    with HttpReceiver(status=200, reply={"erp_order": "SO-1001"}) as erp:
        _deploy(orc, erp.url)
        rma, result = _diagnosed(orc)
    assert result["rma"]["status"] == "awaiting_approval"
    [call] = erp.requests
    assert call.method == "POST" and call.path == "/hook" and call.headers["Content-Type"] == "application/json"
    assert call.json == {"rma": rma["number"], "parts_cost": 10}
    assert call.headers["Idempotency-Key"] and "X-RMA-Signature" not in call.headers
    view = rmas.get_rma(orc, actor(orc, "manager"), rma["id"])
    assert float(view["quote_total"]) == 70.0 and [t["name"] for t in view["open_tasks"]] == ["customer_approval"]
    data = orc.runtime.current_data(_workflow(orc, rma["id"]))
    assert data["erp_reply"] == {"http_status": 200, "body": {"erp_order": "SO-1001"}}


def test_an_unreachable_service_is_an_incident_and_a_retry_once_it_is_back_calls_it_and_goes_on(orc):
    port = free_port()  # nothing listens here yet
    url = f"http://127.0.0.1:{port}/hook"
    _deploy(orc, url)
    rma, result = _diagnosed(orc)
    assert result["task"]["status"] == "completed" and result["rma"]["status"] == "incident"
    [incident] = operations.list_incidents(orc, actor(orc, "manager"))["items"]
    assert (incident["rma_number"], incident["task"], incident["status_before"]) == (
        rma["number"],
        "compute_quote",
        "diagnosing",
    )
    assert "could not be reached" in incident["error"] and url in incident["error"]
    assert rmas.get_rma(orc, actor(orc, "manager"), rma["id"])["open_tasks"] == []

    with HttpReceiver(statuses=[503], status=200, reply={"ok": True}, port=port) as erp:  # back, but not well yet
        still_down = operations.retry_incident(orc, actor(orc, "manager"), rma["id"])
        assert still_down["rma"]["status"] == "incident" and still_down["incident"]["attempts"] == 2
        assert "answered 503" in still_down["incident"]["error"]
        back = operations.retry_incident(orc, actor(orc, "manager"), rma["id"])
    assert back["rma"]["status"] == "awaiting_approval" and back["incident"]["status"] == "resolved"
    [call] = erp.requests
    assert call.json == {"rma": rma["number"], "parts_cost": 10}
    kinds = [e["kind"] for e in rmas.get_rma(orc, actor(orc, "manager"), rma["id"])["history"]]
    assert {"incident_opened", "incident_retry_failed", "incident_resolved"} <= set(kinds)


def test_every_retry_of_one_task_carries_the_same_idempotency_key(orc):
    with HttpReceiver(statuses=[500], status=200) as erp:
        _deploy(orc, erp.url)
        rma, first = _diagnosed(orc)
        assert first["rma"]["status"] == "incident" and erp.failed == 1
        operations.retry_incident(orc, actor(orc, "manager"), rma["id"])
        other, _ = _diagnosed(orc)
    keys = [r.headers["Idempotency-Key"] for r in erp.requests]
    assert len(keys) == 2 and len(set(keys)) == 2  # one per RMA's task...
    # ...and the retried one is the task's own id, the same the failed call carried
    assert keys[0] in {
        str(t.id) for t in _workflow(orc, rma["id"]).get_tasks() if t.task_spec.bpmn_id == "compute_quote"
    }


def test_a_signed_get_request_with_query_parameters(orc):
    with HttpReceiver(status=200, reply=[1, 2]) as erp:
        orc.runtime.script_engine.services = HttpServices(
            secret="erp-secret", timeout=5, allowed_hosts=frozenset(RECEIVER_HOSTS)
        )
        _deploy(
            orc,
            erp.url,
            operator="http/GetRequest",
            extra="""<spiffworkflow:parameter id="params" type="any" value="{'serial': serial_number}" />""",
        )
        rma, result = _diagnosed(orc)
    assert result["rma"]["status"] == "awaiting_approval"
    [call] = erp.requests
    assert (call.method, call.path, call.body) == ("GET", "/hook?serial=SN-1", b"")
    assert verify_signature("erp-secret", call.headers["X-RMA-Timestamp"], b"", call.headers["X-RMA-Signature"])
    assert not verify_signature("other-secret", call.headers["X-RMA-Timestamp"], b"", call.headers["X-RMA-Signature"])
    assert orc.runtime.current_data(_workflow(orc, rma["id"]))["erp_reply"] == {"http_status": 200, "body": [1, 2]}


def test_hosts_outside_the_allowed_list_are_not_called(orc):
    with HttpReceiver(status=200) as erp:
        orc.runtime.script_engine.services = HttpServices(allowed_hosts=frozenset({"erp.example.com"}))
        _deploy(orc, erp.url)
        rma, result = _diagnosed(orc)
    assert result["rma"]["status"] == "incident" and erp.requests == []
    [incident] = operations.list_incidents(orc, actor(orc, "manager"))["items"]
    assert "host 127.0.0.1 is not in RMA_SERVICE_TASK_HOSTS" in incident["error"]


def test_service_task_settings_come_from_the_environment(tmp_path):
    settings = Settings.from_env(
        {
            "RMA_SERVICE_TASK_HOSTS": "ERP.example.com, 127.0.0.1:8080",
            "RMA_SERVICE_TASK_TIMEOUT": "2.5",
            "RMA_SERVICE_TASK_SECRET": "s3",
        }
    )
    services = HttpServices.from_settings(settings)
    assert services == HttpServices(
        timeout=2.5, allowed_hosts=frozenset({"erp.example.com", "127.0.0.1:8080"}), secret="s3"
    )
    assert HttpServices.from_settings(Settings.from_env({})) == HttpServices()


@pytest.mark.parametrize(
    ("operator_xml", "message"),
    [
        (_operator("'http://erp/'", operator="erp/Magic"), "unknown service operator 'erp/Magic'"),
        ("""<spiffworkflow:serviceTaskOperator id="http/PostRequest" />""", "missing parameter url"),
        (_operator("'http://erp/'", operator="http/GetRequest"), "http/GetRequest takes no parameter data"),
    ],
)
def test_a_broken_service_task_is_refused_at_deploy_naming_file_element_and_line(sqlite_orc, operator_xml, message):
    with pytest.raises(InvalidProcess) as info:
        processes.deploy_bundle(sqlite_orc, Actor("owner", "process_owner"), _bundle(operator_xml), note="broken")
    [error] = [e for e in info.value.errors if e["element"] == "compute_quote"]
    assert error["file"] == APPROVAL and error["line"] and message in error["message"], error
    assert json.dumps(info.value.errors)  # the API can send them as they are
