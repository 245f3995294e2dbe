"""The path of one task completion from HTTP to commit: which of our modules it enters and which functions it calls.

    .venv/bin/python -m bench.command_path

Opens an RMA on a fresh SQLite database (demo centres and users, the shipped processes), then completes its
`record_condition` task through the Flask test client with a bearer token, tracing calls with sys.setprofile.
Counts only code under engine/ and web/ (not Flask, SQLAlchemy or SpiffWorkflow), in the order first entered.
It uses only the public surface (engine.Orchestrator, engine.Settings, engine.services, web.create_app), so the
same file runs on older commits of the code for a before/after comparison.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = (str(ROOT / "engine") + "/", str(ROOT / "web") + "/")


def main() -> int:
    from engine import Actor, Orchestrator, Settings, demo
    from engine.services import rmas, tasks
    from web import create_app

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(
            {},
            database_url=f"sqlite:///{tmp}/rma.sqlite3",
            instance_dir=Path(tmp),
            upload_dir=Path(tmp) / "uploads",
            secret_key="command-path",
            run_worker=False,
        )
        orc = Orchestrator(settings)
        orc.migrate()
        demo.create_centres_and_users(orc)
        _deploy(orc)
        reception = Actor("sg.reception", "reception", "SG")
        rma = rmas.open_rma(orc, reception, _payload())
        app = create_app({"RMA_ORCHESTRATOR": orc, "TESTING": True, "WTF_CSRF_ENABLED": False})
        client = app.test_client()
        headers = _login_headers(client)
        task = tasks.list_tasks(orc, reception, rma_id=rma["id"])["items"][0]
        form = {"condition_grade": "B", "condition_notes": "Scratches", "accessories": ""}
        form["customer_acknowledged"] = True
        client.post(f"/api/tasks/{task['id']}/claim", headers=headers)  # warm: imports, caches, the first request

        rma2 = rmas.open_rma(orc, reception, _payload("SN-2"))
        task2 = tasks.list_tasks(orc, reception, rma_id=rma2["id"])["items"][0]
        client.post(f"/api/tasks/{task2['id']}/claim", headers=headers)
        modules: list[str] = []
        calls: Counter[str] = Counter()

        def profile(frame, event, arg):
            if event != "call":
                return
            path = frame.f_code.co_filename
            if not path.startswith(OURS):
                return
            module = Path(path).relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
            if module not in calls_by_module:
                calls_by_module[module] = set()
                modules.append(module)
            name = f"{module}.{frame.f_code.co_qualname}"
            calls_by_module[module].add(name)
            calls[name] += 1

        calls_by_module: dict[str, set[str]] = {}
        sys.setprofile(profile)
        try:
            answer = client.post(f"/api/tasks/{task2['id']}/complete", json={"data": form}, headers=headers)
        finally:
            sys.setprofile(None)
        assert answer.status_code == 200, answer.get_json()
        orc.dispose()
    print(
        f"one task completion (POST /api/tasks/<id>/complete): {len(modules)} of our modules entered, "
        f"{len(calls)} distinct functions, {sum(calls.values())} calls"
    )
    print(f"{'module':<44} {'functions':>9} {'calls':>7}")
    for module in modules:
        names = calls_by_module[module]
        print(f"{module:<44} {len(names):>9} {sum(calls[n] for n in names):>7}")
    return 0


def _deploy(orc) -> None:
    try:
        from web.cli import init_database
    except ImportError:  # before the CLI moved to web/
        from engine.cli import init_database
    init_database(orc)


def _payload(serial: str = "SN-1") -> dict:
    return {
        "centre": "SG",
        "customer": {"name": "Kim Tan", "email": "kim@example.com"},
        "product": {"model": "Vista X100 Camera", "serial_number": serial, "purchase_date": "2023-01-10"},
        "fault_description": "Does not power on",
    }


def _login_headers(client) -> dict:
    answer = client.post("/api/auth/token", json={"username": "sg.reception", "password": "demo"})
    return {"Authorization": f"Bearer {answer.get_json()['token']}"}


if __name__ == "__main__":
    os.environ.setdefault("RMA_SECRET_KEY", "command-path")
    raise SystemExit(main())
