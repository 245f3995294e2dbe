"""The production shape, for real: PostgreSQL, the web app under gunicorn with several workers, and separate
`rma worker` processes, configured by environment variables only. A journey goes over HTTP; the
separate workers fire an SLA timer and deliver signed webhooks to a local receiver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine import Actor
from engine.adapters.signing import verify_signature
from engine.process import limits
from engine.process.definitions import read_bundle_dir
from engine.services import processes
from tests.conftest import PROCESSES_DIR
from tests.helpers import INTAKE, rma_payload
from tests.integration.live_http import Client, finish, free_port, wait_for

BIN = Path(sys.executable).parent


class Http(Client):
    """The live-server client, plus waiting for a task that a worker process is about to open."""

    def task(self, user: str, rma_id: int, name: str, wait: float = 0) -> dict:
        deadline = time.monotonic() + wait
        while True:
            found = [t for t in self.tasks(user, rma_id) if t["name"] == name]
            if found or time.monotonic() >= deadline:
                assert found, f"no open {name} for {user} on RMA {rma_id}"
                return found[0]
            time.sleep(0.3)

    def complete(self, user: str, rma_id: int, name: str, data: dict) -> dict:
        task = self.task(user, rma_id, name)
        return self.ok("POST", f"/api/tasks/{task['id']}/complete", {"data": data}, user=user)["rma"]


class Receiver:
    def __init__(self, secret: str):
        self.events, self.bad = [], 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if verify_signature(secret, self.headers["X-RMA-Timestamp"], body, self.headers["X-RMA-Signature"]):
                    outer.events.append(json.loads(body))
                    self.send_response(204)
                else:
                    outer.bad += 1
                    self.send_response(401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_gunicorn_web_workers_and_separate_rma_workers_on_postgresql(orc, db_url, tmp_path, monkeypatch):
    # A process owner shortened the diagnosis SLA in the diagram to two seconds (so the test need not wait days);
    # a deploy refuses a timer under a minute, so this one deploy is let through.
    monkeypatch.setattr(limits, "MIN_TIMER_SECONDS", 1)
    files = read_bundle_dir(PROCESSES_DIR)
    files["stages/rma_diagnosis.bpmn"] = files["stages/rma_diagnosis.bpmn"].replace('"P2D"', '"PT2S"')
    processes.deploy_bundle(orc, Actor("owner", "process_owner"), files, note="SLA 2 seconds")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RMA_")}
    env.update(
        RMA_DATABASE_URL=db_url,
        RMA_SECRET_KEY="production-shape-secret",
        RMA_RUN_WORKER="0",
        RMA_BASE_URL=f"http://127.0.0.1:{port}",
        RMA_INSTANCE_DIR=str(tmp_path),
        RMA_SERVICE_TASK_HOSTS="127.0.0.1",  # the webhook receiver's host, named as an integrator on the LAN is
    )
    procs = [
        subprocess.Popen(
            [str(BIN / "gunicorn"), "-w", "3", "-b", f"127.0.0.1:{port}", "web:create_app()"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    ]
    procs += [
        subprocess.Popen(
            [str(BIN / "rma"), "worker", "--interval", "0.5"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    http = Http(f"http://127.0.0.1:{port}")
    try:
        wait_for(lambda: http.healthy(), 60, "gunicorn to answer")
        receiver = Receiver("integrator-secret-0123456789")
        http.ok(
            "POST", "/api/webhooks", {"url": receiver.url, "secret": "integrator-secret-0123456789"}, user="manager"
        )

        # a full journey over HTTP, served by whichever gunicorn worker takes each request
        rma = http.ok("POST", "/api/rmas", rma_payload(months_old=40, serial="PROD-1"), user="sg.reception")
        http.complete("sg.reception", rma["id"], "record_condition", INTAKE)
        state = http.complete(
            "sg.tech",
            rma["id"],
            "diagnose",
            {"diagnosis": "Gear train worn", "fault_category": "mechanical", "parts_cost": 40, "labour_hours": 1},
        )
        assert state["status"] == "awaiting_approval"
        decided = http.ok("POST", f"/api/portal/{rma['tracking_token']}/decision", {"approve": True})
        assert decided["status"] == "repairing"
        http.complete("sg.tech", rma["id"], "repair", {"repair_notes": "Replaced the gear train"})
        http.complete("sg.qa", rma["id"], "qa_check", {"qa_passed": True})
        closed = http.complete("sg.reception", rma["id"], "ship_return", {"carrier": "DHL", "tracking_number": "P1"})
        assert (closed["status"], closed["outcome"]) == ("closed", "repaired")

        # a second RMA waits at diagnosis: a separate worker escalates it when the SLA runs out
        late = http.ok("POST", "/api/rmas", rma_payload(serial="PROD-2"), user="sg.reception")
        http.complete("sg.reception", late["id"], "record_condition", INTAKE)
        review = http.task("manager", late["id"], "review_overdue_diagnosis", wait=30)
        assert review["role"] == "manager" and review["centre"] == "SG"
        history = http.ok("GET", f"/api/rmas/{late['id']}", user="manager")["history"]
        assert [e["kind"] for e in history].count("timer_fired") == 1

        # ... and the workers delivered the integrator's signed events
        wait_for(
            lambda: (
                any(e["type"] == "rma.closed" for e in receiver.events)
                and any(e["type"] == "rma.sla_breached" for e in receiver.events)
            ),
            30,
            "webhook deliveries",
        )
        assert receiver.bad == 0
        # several workers deliver at once: events arrive in any order, and are put in order by created_at
        mine = sorted((e["created_at"], e["type"]) for e in receiver.events if e["rma"]["id"] == rma["id"])
        assert mine[0][1] == "rma.opened" and "rma.quote_decided" in {kind for _at, kind in mine}
        assert (mine[-1][0], "rma.closed") in mine  # the last step's events, the closing among them
        assert len({e["id"] for e in receiver.events}) == len(receiver.events)  # none delivered twice
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT if proc is not procs[0] else signal.SIGTERM)
        logs = [finish(proc, 30) for proc in procs]
    assert "Booting worker" in logs[0] and logs[0].count("Booting worker") >= 3
    assert not any("Traceback" in log for log in logs), "\n".join(logs)[-4000:]
