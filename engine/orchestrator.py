"""The engine's composition root: settings, database, spec cache and runtime in one object."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.adapters.service_tasks import HttpServices
from engine.config import Settings
from engine.errors import NotFound
from engine.execution.runtime import CommandLimits, Runtime
from engine.process.definitions import ParsedBundle, SpecCache
from engine.store.db import make_engine, single_read, upgrade
from engine.store.instance_cache import InstanceCache
from engine.store.model import Bundle
from engine.store.unit_of_work import UnitOfWork


class Orchestrator:
    """Built once per process; services take it as their first argument."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.from_env()
        self.db = make_engine(self.settings.database_url)
        self.session_factory = sessionmaker(self.db, expire_on_commit=False)
        self.specs = SpecCache()
        self.instances = InstanceCache(self.settings.instance_cache_size)
        limits = CommandLimits(
            self.settings.command_max_steps, self.settings.command_max_script_seconds, self.settings.command_max_tasks
        )
        self.runtime = Runtime(HttpServices.from_settings(self.settings), limits)
        self._bundle_hashes: dict[int, str] = {}

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.instances)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only, each statement its own snapshot (engine.store.db.single_read).

        No transaction around them: on SQLite no BEGIN IMMEDIATE, so the read neither takes nor waits for
        the write lock; on PostgreSQL autocommit, no BEGIN and ROLLBACK round trips. For a read of one
        statement (or where a second one, such as a page's total count, may see a moment later).
        """
        with single_read(self.db) as conn, Session(bind=conn, expire_on_commit=False) as session:
            yield session

    def migrate(self) -> None:
        upgrade(self.db)

    def parsed_bundle(self, session: Session, bundle_id: int) -> ParsedBundle:
        """The parsed specs of a stored bundle, from the cache when its hash was seen before."""

        def load_files() -> dict:
            bundle = session.get(Bundle, bundle_id)
            if bundle is None:
                raise NotFound(f"no process version with id {bundle_id}")
            return bundle.files

        files_hash = self._bundle_hashes.get(bundle_id)
        if files_hash is None:
            files_hash = session.scalar(select(Bundle.hash).where(Bundle.id == bundle_id))
            if files_hash is None:
                raise NotFound(f"no process version with id {bundle_id}")
            self._bundle_hashes[bundle_id] = files_hash
        return self.specs.get(files_hash, load_files)

    def dispose(self) -> None:
        self.db.dispose()
