"""The background worker: fire due timers and send the outbox, in a loop, safe to run several at once."""
from __future__ import annotations

import logging
import threading

from .notify import send_pending, senders_from_settings
from .scheduler import fire_due_timers

log = logging.getLogger("rma.worker")


def run_once(orc, senders: dict | None = None) -> dict:
    """One sweep: timers first (they may enqueue messages), then the outbox."""
    senders = senders_from_settings(orc.settings) if senders is None else senders
    timers = fire_due_timers(orc)
    sent = send_pending(orc, senders) if senders else {"sent": 0, "failed": 0}
    return {"timers": timers, **sent}


def run_forever(orc, stop: threading.Event, interval: float = 2.0) -> None:
    senders = senders_from_settings(orc.settings)
    while not stop.is_set():
        try:
            result = run_once(orc, senders)
            if any(result.values()):
                log.info("worker sweep: %s", result)
        except Exception:  # keep sweeping; the failed unit of work was rolled back
            log.exception("worker sweep failed")
        stop.wait(interval)


def start_in_thread(orc, interval: float = 2.0) -> tuple[threading.Thread, threading.Event]:
    """Run the worker inside this process (the embedded default for SQLite)."""
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(orc, stop, interval), name="rma-worker", daemon=True)
    thread.start()
    return thread, stop
