"""The schema the migrations build is the one engine/store/model.py declares (tables, columns, types, indexes)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.store.db import make_engine, upgrade
from engine.store.model import Base


def test_migrations_build_the_model(settings):
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert differences == []
    finally:
        engine.dispose()
