"""Service tasks: a BPMN service task calls an outside system over HTTP; a failed call is an incident.

A process owner adds a `bpmn:serviceTask` with a `spiffworkflow:serviceTaskOperator` (the modeler's
service task panel, or SpiffArena's; the operator ids are those of SpiffArena's HTTP connector, so
diagrams move between the two):

    <spiffworkflow:serviceTaskOperator id="http/PostRequest" resultVariable="erp_reply">
      <spiffworkflow:parameters>
        <spiffworkflow:parameter id="url" type="str" value="'https://erp.example.com/rma-events'" />
        <spiffworkflow:parameter id="data" type="any" value="{'rma': rma_number, 'grade': condition_grade}" />
      </spiffworkflow:parameters>
    </spiffworkflow:serviceTaskOperator>

Parameter values are expressions over the task's data, evaluated in the script sandbox.

| operator           | parameters                                  | request                                  |
|--------------------|---------------------------------------------|------------------------------------------|
| `http/PostRequest` | `url` (required), `data`, `headers`         | POST, `data` as the JSON body            |
| `http/PutRequest`  | `url` (required), `data`, `headers`         | PUT, `data` as the JSON body             |
| `http/GetRequest`  | `url` (required), `params`, `headers`       | GET, `params` as the query string        |

Every request carries `Idempotency-Key: <task instance id>` (the same on every retry of the task, so a
receiver can drop a repeat) and, when `RMA_SERVICE_TASK_SECRET` is set, the webhooks' HMAC headers
(`X-RMA-Timestamp`, `X-RMA-Signature`; see engine/adapters/webhooks.py). Redirects are not followed.

The result variable (default `spiff__<task id>_result`) receives `{"http_status": 200, "body": ...}`,
the body parsed as JSON when it is JSON, else its text. A refused connection, a timeout
(`RMA_SERVICE_TASK_TIMEOUT`, seconds), an answer outside 2xx, a host that `RMA_SERVICE_TASK_HOSTS`
does not allow, or an address the outbound address policy refuses (engine/adapters/address_policy.py: a
loopback, private, link-local or metadata address unless `RMA_SERVICE_TASK_HOSTS` names the host) raises:
the task goes to ERROR, the RMA to `incident` with the error, and an operator retries it from the operations
page once the other side is back (the call runs again), or cancels the RMA. Nothing is skipped: the process
does not pass the service task until a call succeeded. A URL written as a literal is checked at deploy too.
"""

from __future__ import annotations

import http
import http.client
import json
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException

from engine.adapters.address_policy import OutboundPolicy, allowlist, refusal_of
from engine.adapters.signing import sign
from engine.process.operators import OPERATORS

MAX_BODY = 1_000_000  # bytes of an answer kept in the task data
EXCERPT = 300  # characters of a failed call's answer an operator sees in the incident's detail


class ServiceCallFailed(Exception):
    """The outside system could not be reached or did not accept the call.

    The message names the call and the status code, never what the other side said (staff see it on the RMA);
    `detail` holds that, as an `excerpt`, for the incident's operators."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail


class ServiceTaskFailed(WorkflowTaskException):
    """A service task's call failed: the message names the task; `detail` goes to the incident (operators)."""

    def __init__(self, message: str, task, detail: str | None = None):
        super().__init__(message, task=task)
        self.error_msg = message  # what the incident shows (str() would append SpiffWorkflow's notes)
        self.detail = detail


def excerpt(text: str | bytes, limit: int = EXCERPT) -> str:
    """At most `limit` characters of what another system said: control and format characters removed (no
    terminal escapes, no bidi overrides), each run of whitespace one space."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    kept = "".join(" " if c.isspace() else c for c in text if c.isspace() or unicodedata.category(c)[0] != "C")
    kept = " ".join(kept.split())
    return kept if len(kept) <= limit else kept[: limit - 1] + "\u2026"


def _shown(url: str) -> str:
    """The URL as an error names it: without credentials or query string (either may carry a secret)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _phrase(code: int) -> str:
    """The standard reason phrase of a status code (the answer's own phrase is the other side's words)."""
    try:
        return f" ({http.HTTPStatus(code).phrase})"
    except ValueError:
        return ""


@dataclass(frozen=True)
class HttpServices:
    """Carries out service task calls; built from the settings (`from_settings`)."""

    timeout: float = 10.0
    # RMA_SERVICE_TASK_HOSTS: the only hosts service tasks may call (empty: any host the address policy lets
    # through); each is also let through the policy whatever it resolves to (the ERP on the LAN)
    allowed_hosts: frozenset[str] = frozenset()
    secret: str | None = None

    @classmethod
    def from_settings(cls, settings) -> HttpServices:
        return cls(
            timeout=settings.service_task_timeout,
            allowed_hosts=allowlist(settings.service_task_hosts),
            secret=settings.service_task_secret,
        )

    def call_task(self, task, operation_name: str, operation_params: dict) -> str:
        """The sandbox's hook for a service task: the call's result as JSON text, or a task error naming it."""
        params = {name: param.get("value") for name, param in (operation_params or {}).items()}
        try:
            result = self.call(operation_name, params, str(task.id))
        except ServiceCallFailed as exc:
            spec = task.task_spec
            name = getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None) or spec.name
            raise ServiceTaskFailed(f"service task '{name}' failed: {exc}", task, exc.detail) from None
        return json.dumps(result, default=str)

    def call(self, operation: str, params: dict, idempotency_key: str) -> dict:
        if operation not in OPERATORS:
            raise ServiceCallFailed(f"unknown service operator '{operation}' (known: {', '.join(sorted(OPERATORS))})")
        method, accepted, required = OPERATORS[operation]
        missing = sorted(required - params.keys())
        unknown = sorted(params.keys() - accepted)
        if missing or unknown:
            raise ServiceCallFailed(
                f"{operation}: "
                + "; ".join(
                    ([f"missing parameter {', '.join(missing)}"] if missing else [])
                    + ([f"unknown parameter {', '.join(unknown)}"] if unknown else [])
                )
            )
        url = self._url(params["url"], params.get("params") if method == "GET" else None)
        headers = {
            "Accept": "application/json",
            "Idempotency-Key": idempotency_key,
            "User-Agent": "rma-orchestrator service task",
        }
        extra = params.get("headers") or {}
        if not isinstance(extra, dict):
            raise ServiceCallFailed(f"{operation}: headers must be a dictionary")
        headers.update({str(k): str(v) for k, v in extra.items()})
        body = None
        if method != "GET":
            try:
                body = json.dumps(params.get("data"), separators=(",", ":"), default=str).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise ServiceCallFailed(f"{operation}: data is not JSON: {exc}") from None
            headers["Content-Type"] = "application/json"
        if self.secret:
            timestamp = str(int(time.time()))
            headers.update({"X-RMA-Timestamp": timestamp, "X-RMA-Signature": sign(self.secret, timestamp, body or b"")})
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        opener = OutboundPolicy(self.allowed_hosts).opener()  # checked, pinned addresses; no redirects
        shown = _shown(url)
        try:
            with opener.open(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read(MAX_BODY + 1)
        except urllib.error.HTTPError as exc:
            # staff see the status code; the answer's reason phrase and body are for operators, bounded
            with exc:
                answer = excerpt(f"{exc.code} {exc.reason}: " + exc.read(8 * EXCERPT).decode("utf-8", "replace"))
            raise ServiceCallFailed(f"{method} {shown} answered {exc.code}{_phrase(exc.code)}", answer) from None
        except (urllib.error.URLError, OSError) as exc:
            refused = refusal_of(exc)
            if refused is not None:
                raise ServiceCallFailed(f"{method} {shown} refused: {refused}") from None
            reason = excerpt(str(getattr(exc, "reason", exc)))
            raise ServiceCallFailed(f"{method} {shown} could not be reached: {reason}") from None
        except http.client.HTTPException as exc:  # not HTTP (a bad status line, an answer cut short): its words
            raise ServiceCallFailed(
                f"{method} {shown} did not answer in HTTP ({type(exc).__name__})", excerpt(str(exc))
            ) from None
        except ValueError as exc:  # what cannot be sent: a line break in a header, a host IDNA cannot encode
            raise ServiceCallFailed(f"{method} {shown} could not be sent: {excerpt(str(exc))}") from None
        if len(raw) > MAX_BODY:
            raise ServiceCallFailed(f"{method} {shown} answered more than {MAX_BODY} bytes")
        text = raw.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text.strip() else None
        except ValueError:
            parsed = text
        return {"http_status": status, "body": parsed}

    def _url(self, url, query) -> str:
        if not isinstance(url, str):
            raise ServiceCallFailed("url must be a string")
        policy = OutboundPolicy(self.allowed_hosts)
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ServiceCallFailed(f"'{url}' is not an http:// or https:// URL")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ServiceCallFailed(f"'{url}' is not a valid URL") from None
        if self.allowed_hosts and not policy.allows(parts.hostname, port):
            raise ServiceCallFailed(f"host {parts.hostname} is not in RMA_SERVICE_TASK_HOSTS")
        refusal = policy.url_refusal(url)
        if refusal is not None:
            raise ServiceCallFailed(refusal)
        if query:
            if not isinstance(query, dict):
                raise ServiceCallFailed("params must be a dictionary")
            url += ("&" if parts.query else "?") + urllib.parse.urlencode({str(k): v for k, v in query.items()})
        return url
