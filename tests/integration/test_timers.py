"""SLA timers through the services and the worker, on each backend; time is moved, never slept."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select

from engine import Actor, Orchestrator, Settings
from engine.demo import create_centres_and_users
from engine.errors import NotAllowed
from engine.services import rmas, tasks, users
from engine.services.scheduler import fire_due_timers
from engine.store.model import AuditEvent, HumanTask, Instance, OutboxMessage
from engine.worker import run_once
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload
from web.cli import init_database

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DIAGNOSIS = {"diagnosis": "Board", "fault_category": "electronic", "parts_cost": 10, "labour_hours": 1}


class FakeSender:
    def __init__(self):
        self.sent = []

    def __call__(self, message):
        self.sent.append((message.recipient, message.subject, message.body))


def _open_at_diagnosis(orc) -> dict:
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
    return rma


def _open_tasks(orc, rma_id) -> dict:
    return {t["name"]: t for t in tasks.list_tasks(orc, Actor("manager", "manager"), rma_id=rma_id)["items"]}


def test_overdue_diagnosis_escalates_to_managers_once_and_the_work_goes_on(orc):
    users.set_staff_email(orc, Actor.system(), "manager", "service-managers@example.com")
    with time_machine.travel(T0, tick=False) as clock:
        rma = _open_at_diagnosis(orc)
        diagnose = _open_tasks(orc, rma["id"])["diagnose"]
        assert diagnose["due_at"] == T0 + timedelta(days=2)
        with orc.uow() as uow:
            assert uow.session.get(Instance, rma["id"]).next_timer_at == T0 + timedelta(days=2)
        clock.move_to(T0 + timedelta(days=1))
        assert fire_due_timers(orc) == 0
        clock.move_to(T0 + timedelta(days=2, minutes=1))
        assert fire_due_timers(orc) == 1
        assert fire_due_timers(orc) == 0
    open_now = _open_tasks(orc, rma["id"])
    assert set(open_now) == {"diagnose", "review_overdue_diagnosis"}
    review = open_now["review_overdue_diagnosis"]
    assert (review["role"], review["centre"], review["lane"], review["stage"]) == (
        "manager",
        "SG",
        "Manager",
        "diagnosis",
    )
    view = rmas.get_rma(orc, actor(orc, "manager"), rma["id"])
    assert view["status"] == "diagnosing"
    fired = [e for e in view["history"] if e["kind"] == "timer_fired"]
    assert len(fired) == 1 and fired[0]["data"]["events"] == ["diagnosis_overdue"] and fired[0]["data"]["worker"]
    [breach] = [e for e in view["history"] if e["kind"] == "sla_breached"]
    assert breach["task"] == "diagnose" and breach["data"]["escalation"] == "diagnosis_sla"
    with orc.uow() as uow:
        [mail] = uow.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.channel == "email", OutboxMessage.recipient.like("service-managers%")
            )
        )
        assert "SLA breached: Diagnose fault" in mail.subject and f"/tasks/{review['id']}" in mail.body


def test_escalation_is_worked_by_a_manager_of_the_centre_or_of_all_centres(orc):
    from engine.services import users

    users.add_user(orc, "de.manager", "manager", "DE", "password-de-1")
    users.add_user(orc, "sg.manager", "manager", "SG", "password-sg-1")
    with time_machine.travel(T0, tick=False) as clock:
        first, second = _open_at_diagnosis(orc), _open_at_diagnosis(orc)
        clock.move_to(T0 + timedelta(days=3))
        assert fire_due_timers(orc) == 2
    reviews = [_open_tasks(orc, r["id"])["review_overdue_diagnosis"] for r in (first, second)]
    with pytest.raises(NotAllowed):
        tasks.claim_task(orc, actor(orc, "de.manager"), reviews[0]["id"])
    with pytest.raises(NotAllowed):
        tasks.claim_task(orc, actor(orc, "sg.tech"), reviews[0]["id"])
    in_inbox = {t["id"] for t in tasks.list_tasks(orc, actor(orc, "sg.manager"))["items"]}
    assert {r["id"] for r in reviews} <= in_inbox
    done = tasks.complete_task(orc, actor(orc, "sg.manager"), reviews[0]["id"], {"escalation_action": "chased"})
    assert done["rma"]["status"] == "diagnosing"
    tasks.complete_task(
        orc,
        actor(orc, "manager"),
        reviews[1]["id"],
        {"escalation_action": "reassigned", "escalation_notes": "Bench 2 takes it"},
    )
    tasks.complete_task(orc, actor(orc, "sg.tech"), _open_tasks(orc, first["id"])["diagnose"]["id"], DIAGNOSIS)
    assert set(_open_tasks(orc, first["id"])) == {"repair"}


def test_diagnosis_finished_before_the_review_withdraws_the_escalation(orc):
    with time_machine.travel(T0, tick=False) as clock:
        rma = _open_at_diagnosis(orc)
        clock.move_to(T0 + timedelta(days=2, hours=1))
        fire_due_timers(orc)
        review = _open_tasks(orc, rma["id"])["review_overdue_diagnosis"]
        tasks.complete_task(orc, actor(orc, "sg.tech"), _open_tasks(orc, rma["id"])["diagnose"]["id"], DIAGNOSIS)
    with orc.uow() as uow:
        assert uow.session.get(HumanTask, review["id"]).status == "cancelled"
    assert set(_open_tasks(orc, rma["id"])) == {"repair"}


def test_one_worker_sweep_fires_timers_then_sends_what_they_enqueued(orc):
    users.set_staff_email(orc, Actor.system(), "manager", "service-managers@example.com")
    mail = FakeSender()
    with time_machine.travel(T0, tick=False) as clock:
        rma = _open_at_diagnosis(orc)
        clock.move_to(T0 + timedelta(days=2, seconds=5))
        result = run_once(orc, {"email": mail})
    assert result["timers"] == 1 and result["failed"] == 0 and result["sent"] >= 1
    assert ("service-managers@example.com", f"[{rma['number']}] SLA breached: Diagnose fault") in [
        (to, subject) for to, subject, _ in mail.sent
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_rma_serve_on_sqlite_runs_the_worker_in_process(tmp_path):
    """The embedded default: `rma serve` alone fires a due timer (RMA_RUN_WORKER defaults on for SQLite)."""
    url = f"sqlite:///{tmp_path / 'rma.sqlite3'}"
    orc = Orchestrator(Settings.from_env({}, database_url=url, instance_dir=tmp_path, secret_key="t"))
    orc.migrate()
    create_centres_and_users(orc)
    init_database(orc)
    with time_machine.travel(datetime.now(UTC) - timedelta(days=3), tick=False):
        rma = _open_at_diagnosis(orc)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RMA_")}
    env.update(RMA_DATABASE_URL=url, RMA_INSTANCE_DIR=str(tmp_path), RMA_SECRET_KEY="t")
    rma_cli = Path(sys.executable).parent / "rma"
    server = subprocess.Popen(
        [str(rma_cli), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, escalated = time.monotonic() + 30, False
        while time.monotonic() < deadline and not escalated:
            time.sleep(0.3)
            with orc.uow() as uow:
                escalated = bool(
                    uow.session.scalar(
                        select(func.count(HumanTask.id)).where(
                            HumanTask.rma_id == rma["id"], HumanTask.name == "review_overdue_diagnosis"
                        )
                    )
                )
        assert escalated, "the in-process worker did not fire the due timer"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as response:
            assert response.status == 200
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0]
        orc.dispose()
    assert "background worker running in-process" in output
    with orc.uow() as uow:
        assert (
            uow.session.scalar(
                select(func.count(AuditEvent.id)).where(
                    AuditEvent.rma_id == rma["id"], AuditEvent.kind == "timer_fired"
                )
            )
            == 1
        )


def _inbound_gateway_with_two_timers() -> str:
    """The web tests' "parcel received, or 30 days pass" inbound stage with a third branch, "60 days pass"."""
    from tests.web.test_runtime_incidents_and_messages import INBOUND_GATEWAY

    xml = INBOUND_GATEWAY.replace(
        "<bpmn:outgoing>f_days</bpmn:outgoing>",
        "<bpmn:outgoing>f_days</bpmn:outgoing><bpmn:outgoing>f_60</bpmn:outgoing>",
    )
    xml = xml.replace(
        "<bpmn:incoming>f_expire</bpmn:incoming>",
        "<bpmn:incoming>f_expire</bpmn:incoming><bpmn:incoming>f_60_expire</bpmn:incoming>",
    )
    sixty = """
    <bpmn:intermediateCatchEvent id="sixty_days" name="60 days pass">
      <bpmn:incoming>f_60</bpmn:incoming><bpmn:outgoing>f_60_expire</bpmn:outgoing>
      <bpmn:timerEventDefinition id="sixty_days_timer">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P60D"</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f_60" sourceRef="parcel_or_30_days" targetRef="sixty_days" />
    <bpmn:sequenceFlow id="f_60_expire" sourceRef="sixty_days" targetRef="expire_request" />
  </bpmn:process>"""
    return xml.replace("\n  </bpmn:process>", sixty)


def test_a_timer_of_an_event_based_gateway_is_audited_as_the_timer_event_that_fired(orc):
    from engine.services import processes
    from engine.services import requests as request_service
    from engine.store.model import Rma
    from tests.helpers import CAMERA_MODEL, seed_request_form

    seed_request_form(orc)
    processes.deploy_upload(orc, actor(orc, "owner"), [("rma_inbound.bpmn", _inbound_gateway_with_two_timers())], "DE")
    with time_machine.travel(T0, tick=False) as clock:
        made = request_service.submit_request(
            orc,
            {
                "centre": "DE",
                "customer": {"name": "Jonas Weber", "email": "jonas@example.com", "language": "de"},
                "product": {"model": CAMERA_MODEL["model"], "serial_number": "SN-GW-1", "purchase_date": "2025-10-01"},
                "fault_description": "Does not power on",
            },
            "receipt.pdf",
            b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n",
            "198.51.100.7",
        )
        request_service.answer_troubleshooting(orc, made["tracking_token"], {"troubleshoot_solved": False})
        with orc.uow() as uow:
            rma_id = uow.session.scalar(select(Rma.id).where(Rma.number == made["number"]))
        complete_open_task(orc, "de.reception", rma_id, "review_request", {"review_decision": "ship_in"})
        with orc.uow() as uow:
            assert uow.session.get(Instance, rma_id).next_timer_at == T0 + timedelta(days=30)
        clock.move_to(T0 + timedelta(days=30, minutes=1))
        assert fire_due_timers(orc) == 1
    view = rmas.get_rma(orc, actor(orc, "manager"), rma_id)
    assert (view["status"], view["outcome"]) == ("closed", "expired")
    fired = [e for e in view["history"] if e["kind"] == "timer_fired"]
    # the branch's catch event that fired, not the gateway, nor the branch whose timer did not come
    assert [e["data"]["events"] for e in fired] == [["thirty_days"]]
    assert "thirty_days" in fired[0]["detail"] and "parcel_or_30_days" not in fired[0]["detail"]
