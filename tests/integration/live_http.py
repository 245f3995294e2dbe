"""A real HTTP server for the race, crash and load tests, and a small JSON client for it.

`serve_in_process` runs the Flask app under werkzeug's threaded server in this process (so time_machine
moves the server's clock too); `Gunicorn` runs the production server as a subprocess on a PostgreSQL
schema. `Client` opens a new connection for every request, so threads never share one.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Client:
    """JSON over HTTP; `call` returns (status, body) and never raises for an HTTP error status."""

    def __init__(self, base: str, timeout: float = 30):
        self.base, self.timeout, self.tokens = base, timeout, {}
        self._lock = threading.Lock()

    def call(self, method: str, path: str, body=None, user: str | None = None) -> tuple[int, object]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if user:
            headers["Authorization"] = f"Bearer {self.token(user)}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode()
        try:
            return status, (json.loads(text) if text else None)
        except ValueError:
            return status, text

    def ok(self, method: str, path: str, body=None, user: str | None = None, expect=(200, 201, 204)):
        status, payload = self.call(method, path, body, user)
        assert status in expect, (method, path, status, payload)
        return payload

    def token(self, user: str) -> str:
        with self._lock:
            known = self.tokens.get(user)
        if known is None:
            known = self.ok("POST", "/api/auth/token", {"username": user, "password": "demo"})["token"]
            with self._lock:
                self.tokens[user] = known
        return known

    def tasks(self, user: str, rma_id: int) -> list[dict]:
        return self.ok("GET", f"/api/tasks?rma_id={rma_id}", user=user)["items"]

    def healthy(self) -> bool:
        try:
            return self.call("GET", "/api/health")[0] == 200
        except OSError:
            return False


def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def finish(proc: subprocess.Popen, seconds: float) -> str | None:
    """Wait for a signalled process and return its piped output; one still running after `seconds` is
    killed (no process outlives the test) and the test fails with what it printed."""
    try:
        return proc.communicate(timeout=seconds)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        output = proc.communicate()[0]
        raise AssertionError(
            f"{' '.join(map(str, proc.args))} did not stop within {seconds} s of the signal:\n{(output or '')[-2000:]}"
        ) from None


@contextmanager
def serve_in_process(app):
    """The app on a loopback port, one thread per request; yields the base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def server_env(db_url: str, port: int, instance_dir) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RMA_")}
    env.update(
        RMA_DATABASE_URL=db_url,
        RMA_SECRET_KEY="live-http-secret",
        RMA_RUN_WORKER="0",
        RMA_BASE_URL=f"http://127.0.0.1:{port}",
        RMA_INSTANCE_DIR=str(instance_dir),
    )
    return env


class Gunicorn:
    """`gunicorn -w N web:create_app()` on a PostgreSQL schema; output goes to a log file (a full pipe blocks)."""

    def __init__(self, db_url: str, instance_dir, workers: int = 2, port: int | None = None):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = server_env(db_url, self.port, instance_dir)
        self.workers = workers
        self.log_path = Path(instance_dir) / f"gunicorn-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, wait: float = 60) -> None:
        self.starts += 1
        log = open(self.log_path, "a")
        log.write(f"\n===== start {self.starts} =====\n")
        log.flush()
        # start_new_session: SIGKILL of the group kills the master and its workers at once, like a power cut
        self.proc = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-w",
                str(self.workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--graceful-timeout",
                "5",
                "web:create_app()",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        client = Client(self.base, timeout=5)
        wait_for(lambda: self.proc.poll() is None and client.healthy(), wait, "gunicorn to answer")

    def kill(self) -> None:
        """SIGKILL the master and every worker: no shutdown code runs anywhere."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


# --- whole RMA journeys over the API ----------------------------------------------------------------------

INTAKE = {
    "condition_grade": "A",
    "condition_notes": "Clean unit",
    "accessories": "Charger",
    "customer_acknowledged": True,
}
DIAGNOSIS = {"diagnosis": "Gear train worn", "fault_category": "mechanical", "parts_cost": 40, "labour_hours": 1}
# who works each task of the Singapore journey, and with what
STEPS = {
    "record_condition": ("sg.reception", INTAKE),
    "diagnose": ("sg.tech", DIAGNOSIS),
    "repair": ("sg.tech", {"repair_notes": "Replaced the gear train"}),
    "qa_check": ("sg.qa", {"qa_passed": True}),
    "ship_return": ("sg.reception", {"carrier": "DHL", "tracking_number": "LIVE-1"}),
}
STAFF = ("sg.reception", "sg.tech", "sg.qa", "manager")
# refused, reset, or cut off mid-response: RemoteDisconnected is an OSError, IncompleteRead (the server died
# while sending the body) only an HTTPException
CONNECTION_LOST = (OSError, http.client.HTTPException)


class Tally:
    """What the clients saw, shared by their threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked: list[tuple[int, str, str]] = []  # (rma_id, task id, name) answered 2xx
        self.requests = self.conflicts = self.lost = 0
        self.errors: list = []

    def add(self, **counts):
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


def advance(client: Client, rma_id: int, tally: Tally) -> dict | None:
    """Do the RMA's next open task (whoever it belongs to); returns the RMA, or None when it is closed.

    Stateless on purpose: after a lost connection the next call reads what the server actually saved.
    """
    status, rma = client.call("GET", f"/api/rmas/{rma_id}", user="manager")
    tally.add(requests=1)
    if status != 200:
        tally.errors.append(("GET rma", rma_id, status, rma))
        return rma
    if rma["status"] == "closed":
        return None
    if not rma["open_tasks"]:
        return rma  # between steps (e.g. an incident or a timer): look again
    task = rma["open_tasks"][0]
    if task["name"] == "customer_approval":
        status, body = client.call("POST", f"/api/portal/{rma['tracking_token']}/decision", {"approve": True})
    else:
        user, data = STEPS[task["name"]]
        status, body = client.call("POST", f"/api/tasks/{task['id']}/complete", {"data": data}, user=user)
    tally.add(requests=1)
    if 200 <= status < 300:
        with tally.lock:
            tally.acked.append((rma_id, task["id"], task["name"]))
    elif status == 409:
        tally.add(conflicts=1)
    else:
        tally.errors.append((task["name"], rma_id, status, body))
    return rma


def drive(client: Client, rma_ids: list[int], tally: Tally, deadline: float, on_lost=None) -> None:
    """Walk every RMA to closed, one step at a time round-robin; a lost connection is counted and retried."""
    pending = list(rma_ids)
    while pending and time.monotonic() < deadline and len(tally.errors) < 5:
        for rma_id in list(pending):
            try:
                if advance(client, rma_id, tally) is None:
                    pending.remove(rma_id)
            except CONNECTION_LOST:
                tally.add(lost=1)
                if on_lost:
                    on_lost()
                else:
                    time.sleep(0.2)
            except Exception as exc:  # noqa: BLE001 - a dead thread would only show up as unfinished RMAs
                tally.errors.append(("client raised", rma_id, repr(exc)))
    if pending:
        tally.errors.append(("not finished", pending))
