"""A real HTTP server on a loopback port that records what it is sent: the other side of webhooks, the SMS
gateway and service tasks in tests.

    with HttpReceiver(statuses=[503]) as receiver:   # answers 503 once, then `status`
        ... receiver.url ..., receiver.requests[0].json

The outbound address policy (engine/adapters/address_policy.py) refuses loopback addresses for service tasks
and webhooks unless the operator names the host: tests that call a receiver name it, as an operator names the
ERP on the LAN (`RECEIVER_HOSTS` in the settings, or `allow_receivers(orc)`).
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from engine.adapters.service_tasks import HttpServices

RECEIVER_HOSTS = ("127.0.0.1",)  # RMA_SERVICE_TASK_HOSTS naming the receivers' host


def allow_receivers(orc) -> None:
    """Let a running orchestrator's service tasks, deploys and webhooks reach the receivers on 127.0.0.1."""
    orc.settings = dataclasses.replace(orc.settings, service_task_hosts=RECEIVER_HOSTS)
    orc.runtime.script_engine.services = HttpServices.from_settings(orc.settings)


@dataclass
class Received:
    method: str
    path: str
    headers: Message  # case-insensitive, as HTTP header names are
    body: bytes

    @property
    def json(self):
        return json.loads(self.body) if self.body else None


class HttpReceiver:
    """Answers every request with the next of `statuses`, then `status` (and `reply` as JSON when 2xx)."""

    def __init__(self, status: int = 204, statuses=(), reply=None, path: str = "/hook", port: int = 0):
        self.status, self.statuses, self.reply = status, list(statuses), reply
        self.requests: list[Received] = []
        self.failed = 0  # requests answered with an error status
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.status
                    if status >= 300:
                        receiver.failed += 1
                    else:
                        receiver.requests.append(Received(self.command, self.path, self.headers, body))
                payload = json.dumps(receiver.reply).encode() if receiver.reply is not None and status < 300 else b""
                self.send_response(status)
                if payload:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}{path}"

    def __enter__(self) -> HttpReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
