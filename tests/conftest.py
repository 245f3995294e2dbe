"""Shared fixtures: an Orchestrator on a fresh database (SQLite, or a PostgreSQL schema), the Flask app trio."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from engine import Orchestrator, Settings
from engine.demo import create_centres_and_users
from web.cli import init_database

POSTGRES_URL = os.environ.get("RMA_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("RMA_TEST_REQUIRE_POSTGRES") == "1"


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def database(backend: str, path: Path, prefix: str = "t_") -> Iterator[str]:
    """A fresh, empty database on `backend` ("sqlite" or "postgresql"): a SQLite file under `path`, or a
    throwaway PostgreSQL schema dropped afterwards. Skips (or fails, when PostgreSQL is required) without one."""
    if backend == "sqlite":
        yield f"sqlite:///{path / 'rma.sqlite3'}"
        return
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("RMA_TEST_POSTGRES_URL is not set but PostgreSQL tests are required")
        pytest.skip("set RMA_TEST_POSTGRES_URL to run PostgreSQL tests")
    schema = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _pg_schema_url(POSTGRES_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A fresh, empty database on each backend: a SQLite file, or a throwaway PostgreSQL schema."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    return Settings.from_env(
        {},
        database_url=db_url,
        instance_dir=tmp_path,
        upload_dir=tmp_path / "uploads",
        secret_key="test-secret",
        run_worker=False,
    )


@pytest.fixture
def orc(settings):
    """Migrated database with the demo centres and users and the shipped processes deployed."""
    orchestrator = Orchestrator(settings)
    orchestrator.migrate()
    create_centres_and_users(orchestrator)
    init_database(orchestrator)
    yield orchestrator
    orchestrator.dispose()


@pytest.fixture
def sqlite_orc(tmp_path):
    """Like `orc`, on SQLite only (for tests whose subject is not the database)."""
    s = Settings.from_env(
        {},
        database_url=f"sqlite:///{tmp_path / 'rma.sqlite3'}",
        instance_dir=tmp_path,
        upload_dir=tmp_path / "uploads",
        secret_key="test-secret",
        run_worker=False,
    )
    orchestrator = Orchestrator(s)
    orchestrator.migrate()
    create_centres_and_users(orchestrator)
    init_database(orchestrator)
    yield orchestrator
    orchestrator.dispose()


@pytest.fixture
def app(orc, request):
    """The app on `orc`; with `pytest.mark.without_csrf`, its forms take posts without a CSRF token."""
    from web import create_app

    config = {"RMA_ORCHESTRATOR": orc, "TESTING": True}
    if request.node.get_closest_marker("without_csrf"):
        config["WTF_CSRF_ENABLED"] = False
    return create_app(config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


PROCESSES_DIR = Path(__file__).resolve().parent.parent / "processes"


def pytest_terminal_summary(terminalreporter) -> None:
    """Issue 20's report: per family of the attack suite, the attempts (test cases), how many held, failed, skipped."""
    from tests.security import FAMILIES, family_of

    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "error", "skipped", "xfailed"):
        for report in terminalreporter.stats.get(outcome, []):
            family = family_of(getattr(report, "nodeid", ""))
            if family is None or (outcome != "error" and report.when not in ("call", "setup")):
                continue
            if outcome == "passed" and report.when != "call":
                continue
            row = counts.setdefault(family, {"held": 0, "failed": 0, "skipped": 0})
            row["held" if outcome in ("passed", "xfailed") else "skipped" if outcome == "skipped" else "failed"] += 1
    if not counts:
        return
    terminalreporter.section("attack suite (issue 20): attempts per family")
    order = [*FAMILIES, "(not in a family)"]
    width = max(len(f) for f in counts)
    terminalreporter.write_line(f"{'family':<{width}}  attempts  held  failed  skipped")
    for family in sorted(counts, key=order.index):
        row = counts[family]
        attempts = sum(row.values())
        terminalreporter.write_line(
            f"{family:<{width}}  {attempts:>8}  {row['held']:>4}  {row['failed']:>6}  {row['skipped']:>7}"
        )
