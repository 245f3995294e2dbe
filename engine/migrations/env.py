"""Alembic environment: the engine comes from the caller (engine.store.db.upgrade) or RMA_DATABASE_URL.

On SQLite a migration that alters a table copies it into a new one and drops the old ("batch" mode), which the
foreign keys of the rows pointing at it would refuse (DROP TABLE is a DELETE for them). So foreign keys are off
while the migrations run, outside their transaction as SQLite requires, and checked once they are done: a
migration that left a dangling reference fails instead of committing it.
"""

from alembic import context

from engine.config import Settings
from engine.store.db import make_engine
from engine.store.model import Base

config = context.config
engine = config.attributes.get("engine") or make_engine(Settings.from_env().database_url)


def _foreign_keys(connection, on: bool) -> None:
    """Before any statement of the connection's transaction: SQLite ignores this pragma inside one."""
    connection.connection.driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _foreign_keys(connection, False)
    try:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite)
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if dangling:
                    raise RuntimeError(f"the migration left rows pointing at nothing: {dangling[:5]}")
        connection.commit()
    finally:
        if sqlite:
            connection.rollback()
            _foreign_keys(connection, True)
