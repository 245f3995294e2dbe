"""`rma serve`: the app in one process that keeps HTTP/1.1 connections open, requests served by threads.

Werkzeug's development server closes the connection after every response and starts a thread per
connection, which cost about as much as the API call itself. This is gunicorn's threaded worker
(gunicorn is what production runs), one process so that the embedded background worker on SQLite
stays the only one; several processes are `gunicorn -w N 'web:create_app()'` (README).
"""

from __future__ import annotations

import sys

from gunicorn.app.base import BaseApplication

THREADS = 8  # concurrent requests; connections waiting between requests hold none
KEEPALIVE_SECONDS = 5


class _Server(BaseApplication):
    def __init__(self, options: dict, run_worker: bool, settings=None):
        self._options, self._run_worker, self._settings = options, run_worker, settings
        super().__init__()

    def load_config(self):
        # Only these settings: no gunicorn.conf.py from the current folder, no GUNICORN_CMD_ARGS.
        for key, value in self._options.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25.1: no socket in $HOME per server
            self.cfg.set("control_socket_disable", True)
        self.cfg.set("post_worker_init", self._post_worker_init)

    def load(self):
        from web import create_app

        return create_app({"RMA_SETTINGS": self._settings} if self._settings is not None else None)

    def _post_worker_init(self, worker) -> None:
        if self._run_worker:
            from engine.worker import start_in_thread

            start_in_thread(worker.wsgi.extensions["rma"])
            print("background worker running in-process (RMA_RUN_WORKER)", flush=True)


def serve(host: str, port: int, run_worker: bool, settings=None) -> None:
    """Serve until interrupted; `run_worker` starts the background worker (timers, outbox) in the process;
    `settings` (engine.config.Settings): the app's, when not those of the environment."""
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": THREADS,
        "keepalive": KEEPALIVE_SECONDS,
        "graceful_timeout": 10,
        "proc_name": "rma serve",
        "errorlog": "-",
        "loglevel": "info",
    }
    sys.stdout.flush()
    _Server(options, run_worker, settings).run()
