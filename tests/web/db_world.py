"""A World (tests/web/access_world.py) on either backend, for module-scoped fixtures that serve many requests:
a migrated SQLite file or a throwaway PostgreSQL schema, with the demo and matrix users and the shipped
processes deployed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine import Orchestrator, Settings
from engine.demo import create_centres_and_users
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, _pg_schema_url
from tests.web.access_world import World, add_matrix_users
from web.cli import init_database

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def _database(backend: str, path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{path / 'rma.sqlite3'}"
        return
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("RMA_TEST_POSTGRES_URL is not set but PostgreSQL tests are required")
        pytest.skip("set RMA_TEST_POSTGRES_URL to run PostgreSQL tests")
    schema = f"t_world_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _pg_schema_url(POSTGRES_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextmanager
def world_on(backend: str, path: Path) -> Iterator[World]:
    """A World on `backend` ("sqlite" or "postgresql"), its app in TESTING mode."""
    from web import create_app

    with _database(backend, path) as url:
        orc = Orchestrator(
            Settings.from_env(
                {},
                database_url=url,
                instance_dir=path,
                upload_dir=path / "uploads",
                secret_key="test-secret",
                run_worker=False,
            )
        )
        try:
            orc.migrate()
            create_centres_and_users(orc)
            add_matrix_users(orc)
            init_database(orc)
            yield World(orc, create_app({"RMA_ORCHESTRATOR": orc, "TESTING": True}))
        finally:
            orc.dispose()
