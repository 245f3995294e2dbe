"""The background worker: fire due timers and send the outbox, in a loop, safe to run several at once."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING

from engine.adapters.senders import senders_from_settings
from engine.services.promises import SWEEP_EVERY, notify_slipped_promises
from engine.services.scheduler import WORKER_ID, fire_due_timers
from engine.store.outbox import send_pending

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

log = logging.getLogger("rma.worker")
TIMER_BATCH, SEND_BATCH = 100, 50


_promises_checked: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # orc -> when promises were last checked


def run_once(orc: Orchestrator, senders: dict | None = None, promises: bool | None = None) -> dict:
    """One sweep: timers first (they may enqueue messages), the estimates about to be missed (every
    SWEEP_EVERY, or when `promises` is True; engine.services.promises), then the outbox."""
    senders = senders_from_settings(orc.settings) if senders is None else senders
    timers = fire_due_timers(orc, limit=TIMER_BATCH)
    slipped = 0
    now = time.monotonic()
    if promises is None:
        last = _promises_checked.get(orc)
        promises = last is None or now - last >= SWEEP_EVERY.total_seconds()
    if promises:
        _promises_checked[orc] = now
        slipped = notify_slipped_promises(orc)
    sent = send_pending(orc, senders, limit=SEND_BATCH) if senders else {"sent": 0, "failed": 0}
    return {"timers": timers, "slipped": slipped, **sent}


def run_forever(orc: Orchestrator, stop: threading.Event, interval: float = 2.0) -> None:
    senders = senders_from_settings(orc.settings)
    log.info("worker %s sweeping every %.1fs; channels: %s", WORKER_ID, interval, ", ".join(senders) or "none")
    while not stop.is_set():
        busy = False
        try:
            result = run_once(orc, senders)
            if any(result.values()):
                log.info("worker sweep: %s", result)
            # a full batch means more is due: sweep again at once instead of sleeping
            busy = result["timers"] >= TIMER_BATCH or result["sent"] + result["failed"] >= SEND_BATCH
        except Exception:  # keep sweeping; the failed unit of work was rolled back
            log.exception("worker sweep failed")
        if not busy:
            stop.wait(interval)


def start_in_thread(orc: Orchestrator, interval: float = 2.0) -> tuple[threading.Thread, threading.Event]:
    """Run the worker inside this process (the embedded default for SQLite)."""
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(orc, stop, interval), name="rma-worker", daemon=True)
    thread.start()
    return thread, stop
