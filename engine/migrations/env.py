"""Alembic environment: the engine comes from the caller (engine.store.db.upgrade) or RMA_DATABASE_URL."""

from alembic import context

from engine.config import Settings
from engine.store.db import make_engine
from engine.store.model import Base

config = context.config
engine = config.attributes.get("engine") or make_engine(Settings.from_env().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection, target_metadata=Base.metadata, render_as_batch=connection.dialect.name == "sqlite"
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
