"""The migrations form one line, and the schema they build is the one engine/store/model.py declares.

One line: exactly one head, so `alembic revision` has a single parent to write the next revision on.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from engine.store.db import MIGRATIONS_DIR, make_engine, upgrade
from engine.store.model import Base


def test_the_migrations_have_exactly_one_head():
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    heads = script.get_heads()
    assert len(heads) == 1, f"several Alembic heads {sorted(heads)}: add a merge revision"


def test_migrations_build_the_model(settings):
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
            # the database is at the one head, not at several branch tips
            assert set(MigrationContext.configure(conn).get_current_heads()) == set(
                ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
            )
        assert differences == []
    finally:
        engine.dispose()
