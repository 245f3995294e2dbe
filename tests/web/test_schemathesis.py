"""Schemathesis against our own OpenAPI document: no 500, and every response as documented, on both databases.

Every operation, on SQLite and on PostgreSQL (which refuses what SQLite lets through: NUL characters, integers
beyond 64 bits, over-long strings). The app runs in-process (WSGI) over one world per backend and worker.
Requests carry a bearer token; half of the generated ids are swapped for real ones, so the fuzzed bodies reach
form validation, the workflow and the database instead of stopping at 404. Bounded: a fixed number of examples
per operation keeps the whole run, both databases, well under three minutes.
"""

from __future__ import annotations

import os
import tempfile
import zlib
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import negated_parameters

from engine import Orchestrator, Settings
from engine.services import users
from tests.web.access_world import World
from tests.web.db_world import BACKENDS, world_on

MAX_EXAMPLES = int(os.environ.get("RMA_FUZZ_EXAMPLES", "30"))
CHECKS = [
    checks.not_a_server_error,  # no 500
    checks.status_code_conformance,  # only documented statuses
    checks.content_type_conformance,  # the documented media type
    checks.response_schema_conformance,  # bodies match their schemas
    checks.response_headers_conformance,
    checks.negative_data_rejection,  # invalid input is refused with a 4xx
    checks.ignored_auth,  # secured operations refuse a request without credentials
]


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_world(request, tmp_path_factory):
    with world_on(request.param, tmp_path_factory.mktemp(f"fuzz_{request.param}")) as world:
        yield world


@pytest.fixture(scope="module")
def api_schema(fuzz_world):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_world.app)


def _documented_operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation, read from the document at collection time (no database needed)."""
    from web import create_app

    with tempfile.TemporaryDirectory() as tmp:
        orc = Orchestrator(
            Settings.from_env(
                {},
                database_url=f"sqlite:///{tmp}/doc.sqlite3",
                instance_dir=Path(tmp),
                secret_key="doc",
                run_worker=False,
            )
        )
        try:
            doc = create_app({"RMA_ORCHESTRATOR": orc, "TESTING": True}).test_client().get("/api/openapi.json")
        finally:
            orc.dispose()
    return sorted(
        (method.upper(), path)
        for path, ops in doc.get_json()["paths"].items()
        for method in ops
        if method in {"get", "post", "put", "patch", "delete"}
    )


def _aim(world: World, case) -> str:
    """Swap generated ids for real ones in about half the cases; returns who should call."""
    params = case.path_parameters if case.path_parameters is not None else {}
    real = zlib.crc32(repr(sorted(params.items())).encode()) % 2 == 0
    if "task_id" in params and real:
        params["task_id"] = world.open_task("SG", "reception", fresh=True)["id"]
    if "rma_id" in params and real:
        params["rma_id"] = world.rma("SG", "received")["id"]
    if "tracking_token" in params and real:
        stage = "awaiting_approval" if case.method == "POST" else "received"
        params["tracking_token"] = world.rma("SG", stage, fresh=case.method == "POST")["tracking_token"]
    # Reception works the SG tasks; a manager of every centre reaches every other path furthest.
    return "sg.reception" if case.path.startswith("/api/tasks") else "manager"


@pytest.mark.parametrize("method, path", _documented_operations(), ids=lambda v: v)
def test_api_conforms_to_its_openapi_document(api_schema, fuzz_world, method, path):
    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case):
        username = _aim(fuzz_world, case)
        # A fresh token per case: a fuzzed revoke must not lock the rest of the run out. And an address
        # per case, so fuzzed wrong passwords and tracking tokens are not throttled into 429s everywhere.
        token = users.issue_token(fuzz_world.orc, fuzz_world.actor(username))["token"]
        # Credentials set on the case as the auth provider of a schemathesis run would: unless the
        # generated case deliberately left them out, and marked explicit, so `ignored_auth` probes
        # the operation without them (and with a made-up token) instead of trusting them.
        if ("Authorization", ParameterLocation.HEADER) not in set(negated_parameters(case.meta)):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            case._has_explicit_auth = True
        case.call_and_validate(checks=CHECKS, environ_base={"REMOTE_ADDR": fuzz_world.address()})

    run()
