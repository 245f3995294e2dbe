"""A World (tests/web/access_world.py) on either backend, for module-scoped fixtures that serve many requests:
a migrated SQLite file or a throwaway PostgreSQL schema, with the demo and matrix users and the shipped
processes deployed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine import Orchestrator, Settings
from engine.demo import create_centres_and_users
from tests.conftest import database
from tests.web.access_world import World, add_matrix_users
from web.cli import init_database

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def world_on(backend: str, path: Path) -> Iterator[World]:
    """A World on `backend` ("sqlite" or "postgresql"), its app in TESTING mode."""
    from web import create_app

    with database(backend, path, prefix="t_world_") as url:
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
