"""Restored workflows kept between commands, so a busy RMA is not deserialized again on every click.

The stored state stays the only truth: an entry is the very object whose dump was committed as the
instance's version N, and it is used only by a command that reads version N from the database and
the same parsed specs (a migrated workflow is on the new ones). Any other writer, in this process or
another, moves the version on and the entry is simply not used again. An entry is taken out while a
command runs and put back only after that command's transaction commits: a rolled-back command, a
conflict or a crash never leaves a half-applied object behind, and two threads never hold the same one.

Restoring costs about as much as SpiffWorkflow's own work for a step (see bench/), so this halves the
engine's part of a task completion. An open RMA's workflow takes about 170 KB in memory, so the default
of 128 entries is about 20 MB per process; `RMA_INSTANCE_CACHE_SIZE` sets it (0 turns it off).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from sqlalchemy import inspect

if TYPE_CHECKING:
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

    from engine.process.definitions import ParsedBundle

_STAGED = "rma_instance_cache_staged"


class InstanceCache:
    """Workflows by RMA id, each with the instance version it was committed as (its specs are its own)."""

    def __init__(self, max_entries: int = 128):
        self.max_entries = max_entries
        self._items: OrderedDict[int, tuple[int, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def take(self, rma_id: int, version: int, parsed: ParsedBundle) -> BpmnWorkflow | None:
        """The workflow committed as `version` on `parsed`'s specs, removed from the cache; None if not held."""
        with self._lock:
            entry = self._items.pop(rma_id, None)
            if entry is not None and entry[0] == version and entry[1].spec is parsed.spec:
                self.hits += 1
                return entry[1]
            self.misses += 1
            return None

    def stage(self, session, instance, workflow) -> None:
        """Keep `workflow` once `session` commits; its version is read then (the flush sets it)."""
        if self.max_entries > 0:
            session.info.setdefault(_STAGED, []).append((instance, workflow))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, rma_id: int) -> bool:
        return rma_id in self._items

    def committed(self, session) -> None:
        """Keep what was staged on `session`, whose transaction has just committed (the unit of work calls it)."""
        staged = session.info.pop(_STAGED, None)
        if not staged:
            return
        with self._lock:
            for instance, workflow in staged:
                loaded = inspect(instance).dict  # what the commit wrote; never a lazy load after it
                version = loaded.get("version")
                if version is None or loaded.get("completed"):  # a closed RMA is rarely changed again
                    self._items.pop(instance.rma_id, None)
                    continue
                self._items[instance.rma_id] = (version, workflow)
                self._items.move_to_end(instance.rma_id)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def discard(self, session) -> None:
        """Forget what was staged on `session`: its transaction was rolled back."""
        session.info.pop(_STAGED, None)
