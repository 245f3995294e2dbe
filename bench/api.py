"""Section 4: the HTTP API in a separate server process, driven by keep-alive http.client clients.

SQLite: `rma serve` (one gunicorn process with threads and keep-alive, its worker in-process) and one
client. PostgreSQL: gunicorn with several workers and several client processes; aggregate task
completions per second and errors.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .common import (
    COMPLETIONS_PER_LIFECYCLE,
    ROOT,
    STEPS,
    make_orchestrator,
    percentile,
    postgres_available,
    postgres_url,
    repeat_rate,
    rma_payload,
    sqlite_url,
)

VENV_BIN = Path(sys.executable).parent


class ApiError(Exception):
    pass


class Client:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closes it (gunicorn sync does)."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body=None, token: str | None = None, expect=(200, 201)):
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, payload, headers)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                if attempt == 2:
                    raise
        if resp.status not in expect:
            raise ApiError(f"{method} {path} -> {resp.status}: {data[:300]!r}")
        return json.loads(data) if data else None

    def close(self):
        self.conn.close()


def login(client: Client, username: str) -> str:
    return client.call("POST", "/api/auth/token", {"username": username, "password": "demo"})["token"]


def staff_tokens(client: Client, centre: str = "SG") -> dict:
    prefix = centre.lower()
    return {role: login(client, f"{prefix}.{role}") for role in ("reception", "tech", "qa")}


def lifecycle(client: Client, tokens: dict, n: int, timings: list | None = None, deadline: float | None = None) -> int:
    """Walk one RMA through the API; returns task completions done (stops early past `deadline`)."""
    rma = client.call("POST", "/api/rmas", rma_payload(n), tokens["reception"])
    tracking = (
        rma.get("tracking_token")
        or client.call("GET", f"/api/rmas/{rma['id']}", None, tokens["reception"])["tracking_token"]
    )
    done = 0
    for name, role, data in STEPS:
        if deadline is not None and time.perf_counter() >= deadline:
            break
        if role == "customer":
            t0 = time.perf_counter()
            client.call("POST", f"/api/portal/{tracking}/decision", {"approve": data["approve"]})
        else:
            items = client.call("GET", f"/api/tasks?rma_id={rma['id']}", None, tokens[role])["items"]
            if not items or items[0]["name"] != name:
                raise ApiError(f"expected task {name}, inbox has {[i['name'] for i in items]}")
            t0 = time.perf_counter()
            result = client.call("POST", f"/api/tasks/{items[0]['id']}/complete", {"data": data}, tokens[role])
            if name == STEPS[-1][0] and result["rma"]["status"] != "closed":
                raise ApiError(f"RMA {rma['id']} not closed at the end: {result['rma']}")
        if timings is not None:
            timings.append(time.perf_counter() - t0)
        done += 1
    return done


# ---------------------------------------------------------------- server processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server subprocess with its own environment; its log goes to a file, shown if it fails."""

    def __init__(self, argv: list[str], env: dict, port: int, log: Path):
        self.port, self.log_path = port, log
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not listen on {self.port} within {timeout} s:\n{self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def peak_rss_mb(self) -> dict[int, float]:
        """VmHWM (peak resident set) of the server process and its children, in MiB."""
        pids = [self.proc.pid]
        try:
            pids += [int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except OSError:
            pass
        result = {}
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        result[pid] = int(line.split()[1]) / 1024
            except OSError:
                continue
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _server_env(url: str, tmp: Path) -> dict:
    # PYTHONPATH: the app is served from this checkout (an older editable install may not map web/).
    return {
        "PYTHONPATH": str(ROOT),
        "RMA_DATABASE_URL": url,
        "RMA_INSTANCE_DIR": str(tmp),
        "RMA_SECRET_KEY": "bench-secret",
        "RMA_UPLOAD_DIR": str(tmp / "uploads"),
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }


def _prepare(url: str, tmp: Path) -> None:
    make_orchestrator(url, tmp).dispose()


# ---------------------------------------------------------------- concurrent clients


def _client_main(port, tokens, first_n, seconds, start_at, queue):
    client = Client(port)
    deadline = start_at + seconds
    while time.perf_counter() < start_at:
        time.sleep(0.001)
    done = errors = 0
    timings: list[float] = []
    n = first_n
    last_error = ""
    while time.perf_counter() < deadline:
        try:
            done += lifecycle(client, tokens, n, timings, deadline)
        except Exception as exc:  # noqa: BLE001 - count every failure, keep going
            errors += 1
            last_error = f"{type(exc).__name__}: {exc}"[:300]
            client.close()
        n += 1
    queue.put((done, errors, time.perf_counter() - start_at, timings, last_error))
    client.close()


def concurrent_round(port, tokens, clients, seconds, round_no) -> tuple[float, int, list[float], str]:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    start_at = time.perf_counter() + 0.5
    procs = [
        ctx.Process(
            target=_client_main,
            args=(port, tokens, 10_000_000 * (c + 1) + round_no * 100_000, seconds, start_at, queue),
        )
        for c in range(clients)
    ]
    for p in procs:
        p.start()
    outcomes = [queue.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    done = sum(o[0] for o in outcomes)
    errors = sum(o[1] for o in outcomes)
    elapsed = max(o[2] for o in outcomes)
    timings = [t for o in outcomes for t in o[3]]
    last_error = next((o[4] for o in outcomes if o[4]), "")
    return done / elapsed, errors, timings, last_error


# ---------------------------------------------------------------- the section


def run_sqlite_single(results, args) -> None:
    label = "4 api sqlite 1 client"
    with sqlite_url() as (url, tmp):
        _prepare(url, tmp)
        port = free_port()
        server = Server(
            [str(VENV_BIN / "rma"), "serve", "--port", str(port)], _server_env(url, tmp), port, tmp / "server.log"
        )
        try:
            server.wait_ready()
            client = Client(port)
            tokens = staff_tokens(client)
            timings: list[float] = []
            rates = repeat_rate(lambda n: lifecycle(client, tokens, n, timings), args.repeats, args.seconds)
            client.close()
            rss = server.peak_rss_mb()
        except Exception:
            print(server.tail(), file=sys.stderr)
            raise
        finally:
            server.stop()
    ms = [t * 1000 for t in timings]
    results.add(label, "full lifecycles (rma serve)", rates, "lifecycles/s", note="target >= 30", key="api_sqlite")
    results.add(
        label,
        "task completion p50",
        statistics.median(ms),
        "ms",
        note=f"p95 {percentile(ms, 95):.2f} ms; target p50 < 6",
    )
    results.add(
        "6 footprint web",
        "peak RSS, rma serve process (SQLite)",
        max(rss.values()),
        "MiB",
        note="after section 4's single-client run",
    )


def run_postgres_concurrent(results, args) -> None:
    label = f"4 api postgresql {args.clients} clients"
    if why := postgres_available():
        results.skip(label, "task completions", why)
        return
    with postgres_url() as (url, tmp):
        _prepare(url, tmp)
        port = free_port()
        argv = [
            str(VENV_BIN / "gunicorn"),
            "-w",
            str(args.workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "web:create_app()",
        ]
        if args.threads:
            argv[1:1] = ["-k", "gthread", "--threads", str(args.threads), "--keep-alive", "5"]
        server = Server(argv, {**_server_env(url, tmp), "RMA_RUN_WORKER": "0"}, port, tmp / "gunicorn.log")
        try:
            server.wait_ready()
            client = Client(port)
            tokens = staff_tokens(client)
            client.close()
            # Warm every worker (spec cache, connection pool) before measuring.
            concurrent_round(port, tokens, args.clients, min(2.0, args.seconds), 0)
            rates, errors, timings, last_error = [], 0, [], ""
            for r in range(args.repeats):
                rate, errs, tms, err = concurrent_round(port, tokens, args.clients, args.seconds, r + 1)
                rates.append(rate)
                errors += errs
                timings += tms
                last_error = last_error or err
            rss = server.peak_rss_mb()
        except Exception:
            print(server.tail(), file=sys.stderr)
            raise
        finally:
            server.stop()
    ms = [t * 1000 for t in timings]
    results.add(
        label,
        f"task completions, gunicorn -w {args.workers}",
        rates,
        "completions/s",
        note=f"{errors} errors; target >= 150, 0 errors" + (f"; last: {last_error}" if last_error else ""),
        key="api_pg",
    )
    results.add(label, "lifecycle equivalent", [r / COMPLETIONS_PER_LIFECYCLE for r in rates], "lifecycles/s")
    results.add(label, "task completion p50", statistics.median(ms), "ms", note=f"p95 {percentile(ms, 95):.2f} ms")
    workers = {pid: mb for pid, mb in rss.items() if pid != server.proc.pid}
    if workers:
        results.add(
            "6 footprint web",
            "peak RSS, gunicorn worker (PostgreSQL)",
            max(workers.values()),
            "MiB",
            note=f"max of {len(workers)} workers after section 4's concurrent run",
        )


def run(results, args) -> None:
    run_sqlite_single(results, args)
    run_postgres_concurrent(results, args)
