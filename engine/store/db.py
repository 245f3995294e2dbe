"""Database engine and schema migrations (Alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str, **kwargs) -> Engine:
    """An engine tuned per backend: WAL and a busy timeout on SQLite, pre-ping on PostgreSQL."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below manage transactions
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # BEGIN IMMEDIATE takes the write lock up front, so two writers queue instead of
            # failing with "database is locked" when one upgrades a read lock.
            if not conn.get_execution_options().get(_SINGLE_READ):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    url = url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
    return create_engine(url, pool_pre_ping=True, **kwargs)


_SINGLE_READ = "rma_single_read"
_INSERT_IGNORING: dict = {}


def insert_ignoring(session, table: Table, *unique: str, returning: str | None = None):
    """`INSERT ... ON CONFLICT (unique) DO NOTHING [RETURNING returning]` for the session's backend.

    One statement instead of reading the keys first, also right when two transactions insert the same
    key; RETURNING gives the rows that were new. Built once per table, backend and columns.
    """
    dialect = session.get_bind().dialect.name
    key = (dialect, table.name, unique, returning)
    stmt = _INSERT_IGNORING.get(key)
    if stmt is None:
        build = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = build(table).on_conflict_do_nothing(index_elements=list(unique))
        if returning:
            stmt = stmt.returning(table.c[returning])
        _INSERT_IGNORING[key] = stmt
    return stmt


def single_read(engine: Engine) -> Connection:
    """A connection for one read-only statement outside a transaction (`with single_read(e) as conn`).

    One statement reads one consistent snapshot by itself, so it needs neither BEGIN nor ROLLBACK:
    autocommit on PostgreSQL (two round trips fewer), and on SQLite no BEGIN IMMEDIATE, so the read
    neither takes nor waits for the write lock. The pool restores the connection's usual mode.
    """
    conn = engine.connect()
    if engine.dialect.name == "sqlite":
        return conn.execution_options(**{_SINGLE_READ: True})
    return conn.execution_options(isolation_level="AUTOCOMMIT")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    command.upgrade(alembic_config(engine), "head")
