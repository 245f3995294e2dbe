"""`python -m bench --profile services|api-server`: cProfile one path and say where the time goes.

services: service lifecycles on SQLite (or PostgreSQL with --backends postgresql).
api-server: the Flask app in-process through its WSGI test client (routing, auth, schemas, services;
no socket), on SQLite.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections import defaultdict

from .common import backend_orchestrator

# First match wins: where a function's own time (tottime) is counted.
BUCKETS = [
    ("SpiffWorkflow serializer", ("SpiffWorkflow/bpmn/serializer", "SpiffWorkflow/serializer")),
    ("SpiffWorkflow engine", ("SpiffWorkflow/",)),
    ("sandbox (scripts)", ("engine/sandbox.py",)),
    ("json encode/decode", ("json/encoder", "json/decoder", "json/__init__", "_json")),
    ("jsonschema (forms)", ("jsonschema/", "referencing/", "rpds")),
    ("SQLAlchemy ORM", ("sqlalchemy/orm/",)),
    ("SQLAlchemy core/engine", ("sqlalchemy/",)),
    ("DB driver (sqlite3/psycopg)", ("sqlite3", "psycopg", "method 'execute' of 'sqlite3", "method 'commit'")),
    ("Flask/Werkzeug/marshmallow", ("flask", "werkzeug", "marshmallow", "webargs", "apispec", "jinja2")),
    ("engine (ours)", ("engine/",)),
    ("web (ours)", ("web/",)),
    ("uuid/datetime/other stdlib", ("uuid", "datetime", "copy", "typing", "enum", "dataclasses", "functools")),
]


def _bucket(filename: str, funcname: str) -> str:
    key = f"{filename} {funcname}"
    if filename == "~":  # builtins: attribute by what they are
        if "sqlite3" in funcname or "psycopg" in funcname:
            return "DB driver (sqlite3/psycopg)"
        if "json" in funcname or "_json" in funcname:
            return "json encode/decode"
    for name, needles in BUCKETS:
        if any(n in key for n in needles):
            return name
    return "other"


def breakdown(stats: pstats.Stats) -> list[tuple[str, float]]:
    totals: dict[str, float] = defaultdict(float)
    for (filename, _line, funcname), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        totals[_bucket(filename, funcname)] += tottime
    return sorted(totals.items(), key=lambda kv: -kv[1])


def _report(profiler: cProfile.Profile, elapsed: float, lifecycles: int, completions: int) -> None:
    stats = pstats.Stats(profiler)
    total = sum(t for _, t in breakdown(stats))
    print(
        f"\n{lifecycles} lifecycles ({completions} task completions) in {elapsed:.2f} s "
        "under cProfile (CPU-time clock) "
        f"({elapsed / completions * 1000:.2f} ms per completion, profiler overhead included)\n"
    )
    print("own time by area:")
    for name, seconds in breakdown(stats):
        print(f"  {name:32s} {seconds:7.2f} s  {seconds / total:6.1%}")
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(30)
        print(f"\ntop 30 by {order}:")
        print("\n".join(out.getvalue().splitlines()[6:]))


def profile_services(args) -> None:
    from .services import lifecycle, staff_actors

    backend = args.backends[0]
    n = 60 if not args.quick else 20
    with backend_orchestrator(backend) as orc:
        actors = staff_actors(orc)
        for i in range(3):
            lifecycle(orc, actors, i)
        profiler = cProfile.Profile(time.process_time)  # CPU time: steadier while other work runs
        t0 = time.perf_counter()
        profiler.enable()
        for i in range(n):
            lifecycle(orc, actors, 100 + i)
        profiler.disable()
        elapsed = time.perf_counter() - t0
    print(f"services on {backend}")
    _report(profiler, elapsed, n, n * 6)


class _TestClient:
    """The bench's Client interface over Flask's test client (no sockets)."""

    def __init__(self, app):
        self.client = app.test_client()

    def call(self, method, path, body=None, token=None, expect=(200, 201)):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = self.client.open(path, method=method, json=body, headers=headers)
        if resp.status_code not in expect:
            raise RuntimeError(f"{method} {path} -> {resp.status_code}: {resp.get_data()[:300]!r}")
        return resp.get_json()

    def close(self):
        pass


def profile_api(args) -> None:
    from web import create_app

    from .api import lifecycle, staff_tokens

    n = 60 if not args.quick else 20
    with backend_orchestrator("sqlite") as orc:
        app = create_app({"RMA_ORCHESTRATOR": orc})
        client = _TestClient(app)
        tokens = staff_tokens(client)
        for i in range(3):
            lifecycle(client, tokens, i)
        profiler = cProfile.Profile(time.process_time)  # CPU time: steadier while other work runs
        t0 = time.perf_counter()
        profiler.enable()
        for i in range(n):
            lifecycle(client, tokens, 100 + i)
        profiler.disable()
        elapsed = time.perf_counter() - t0
    print("API in-process (Flask test client) on sqlite")
    _report(profiler, elapsed, n, n * 6)


def main(args) -> int:
    if args.profile == "services":
        profile_services(args)
    else:
        profile_api(args)
    return 0
