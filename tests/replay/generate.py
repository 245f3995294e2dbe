"""Write the replay fixtures: RMAs stopped at several waits, stored exactly as the code this runs with stores them.

Each fixture (tests/replay/fixtures/<name>.json) keeps what an RMA in flight leaves in the database: the
bundle it runs on (files as in the `bundles` table, and their hash), the RMA row, the instance row (the
SpiffWorkflow state, decoded JSON, with its serializer version and version counter), the open task rows and
the RMA's quotes; and, to read it by, the commit and the steps that brought it there. tests/replay/test_replay.py
restores each into a database of the current code and finishes it.

Run it from a checkout of the code whose states are to be kept (older code: a worktree of an earlier commit),
so that `engine` is imported from that checkout:

    git worktree add /tmp/old <commit>
    PYTHONPATH=/tmp/old .venv/bin/python tests/replay/generate.py --out tests/replay/fixtures

Only the public API is used to walk the RMAs (engine.Orchestrator, engine.Settings, engine.Actor and
engine.services.*), so the script runs on older and newer layouts of the engine alike; the rows are read back
from tables reflected by name. Nothing from tests/ is imported: that would be the newer code's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import MetaData, create_engine, select

import engine
from engine import Actor, Orchestrator, Settings
from engine.services import portal, processes, rmas, tasks, users

FORMAT = 1  # of the fixture file itself

CENTRES = [
    ("SG", "Singapore Service Centre", "SGD", 60, "Asia/Singapore"),
    ("DE", "Berlin Service Centre", "EUR", 75, "Europe/Berlin"),
]
STAFF = [("reception", "reception"), ("tech", "technician"), ("qa", "qa")]
ROLE_USER = {"reception": "reception", "technician": "tech", "qa": "qa"}

# Standard form data per task (the same as tests/driver.py's, written out here: the script must not import tests/)
INTAKE = {
    "condition_grade": "A",
    "condition_notes": "Clean unit",
    "accessories": "Charger",
    "customer_acknowledged": True,
}
DIAGNOSIS = {"diagnosis": "Dead board", "fault_category": "electronic", "parts_cost": 100, "labour_hours": 2}
LONG_DIAGNOSIS = {"diagnosis": "Shutter jammed", "fault_category": "mechanical", "parts_cost": 80, "labour_hours": 6}
REPAIR = {"repair_notes": "Board replaced", "parts_used": "MB-100"}
QA_FAILED = {"qa_passed": False, "qa_notes": "Still resets after an hour"}
APPROVED = ("customer", True)


# name -> (centre, months since purchase, description, steps): a step is (task name, form data), or APPROVED
# for the customer's decision on the quote through the tracking link.
SCENARIOS = {
    "sg_intake": ("SG", 30, "(a) just opened: waits at record_condition (intake)", []),
    "sg_diagnose": ("SG", 30, "(b) intake recorded: waits at diagnose", [("record_condition", INTAKE)]),
    "sg_customer_approval": (
        "SG",
        30,
        "(c) out of warranty, quoted: the customer's decision on the quote is pending (customer_approval)",
        [("record_condition", INTAKE), ("diagnose", DIAGNOSIS)],
    ),
    "sg_repair_after_approval": (
        "SG",
        30,
        "(d) quote approved (a short repair: no loan offered): waits at repair",
        [("record_condition", INTAKE), ("diagnose", DIAGNOSIS), APPROVED],
    ),
    "sg_qa_rework": (
        "SG",
        30,
        "(e) QA failed once, repaired again: waits at qa_check the second time",
        [
            ("record_condition", INTAKE),
            ("diagnose", DIAGNOSIS),
            APPROVED,
            ("repair", REPAIR),
            ("qa_check", QA_FAILED),
            ("repair", {"repair_notes": "Reflowed the power IC"}),
        ],
    ),
    "sg_loan_offer": (
        "SG",
        40,
        "(f) centre SG's approval variant: a long repair approved, waits at offer_loan_unit",
        [("record_condition", INTAKE), ("diagnose", LONG_DIAGNOSIS), APPROVED],
    ),
    "de_decide_repair_site": (
        "DE",
        30,
        "(f) centre DE's repair variant: quote approved, waits at decide_repair_site",
        [("record_condition", INTAKE), ("diagnose", DIAGNOSIS), APPROVED],
    ),
    "de_factory_report": (
        "DE",
        6,
        "(f) centre DE's repair variant, in warranty: sent to the factory, waits at record_factory_report",
        [
            ("record_condition", INTAKE),
            ("diagnose", DIAGNOSIS),
            ("decide_repair_site", {"factory_only": True, "factory_reason": "Sealed optics"}),
            ("ship_to_factory", {"factory_carrier": "DHL", "factory_tracking_number": "FAC-001"}),
        ],
    ),
}


def _git(root: Path, *args: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _code_version() -> dict:
    root = Path(engine.__file__).resolve().parent.parent
    dirty = _git(root, "status", "--porcelain", "--", "engine", "processes")
    return {
        "commit": _git(root, "rev-parse", "HEAD") or None,
        "subject": _git(root, "log", "-1", "--format=%s"),
        "dirty": bool(dirty),
    }


def _payload(centre: str, months_old: int, serial: str) -> dict:
    purchase = date.today() - timedelta(days=int(months_old * 30.6))
    return {
        "centre": centre,
        "customer": {"name": "Kim Tan", "email": "kim@example.com", "phone": "+65 9000 0000"},
        "product": {
            "model": "Vista X100 Camera",
            "serial_number": serial,
            "purchase_date": purchase.isoformat(),
            "category": "camera",
        },
        "fault_description": "Does not power on",
    }


def _setup(orc) -> None:
    orc.migrate()
    for code, name, currency, rate, tz in CENTRES:
        users.upsert_centre(orc, code, name, currency, rate, tz)
    shared = users.hash_password("demo")
    for code, *_ in CENTRES:
        for suffix, role in STAFF:
            users.add_user(orc, f"{code.lower()}.{suffix}", role, code, None, password_hash=shared)
    users.add_user(orc, "manager", "manager", None, None, password_hash=shared)
    processes.deploy_directory(orc, Actor.system(), [code for code, *_ in CENTRES])


def _complete(orc, centre: str, rma_id: int, name: str, data: dict) -> None:
    manager = users.actor_by_username(orc, "manager")
    open_tasks = [t for t in tasks.list_tasks(orc, manager, rma_id=rma_id)["items"] if t["name"] == name]
    if len(open_tasks) != 1:
        raise SystemExit(f"expected one open task {name} on RMA {rma_id}, found {open_tasks}")
    task = open_tasks[0]
    worker = users.actor_by_username(orc, f"{centre.lower()}.{ROLE_USER[task['role']]}")
    tasks.claim_task(orc, worker, task["id"])
    tasks.complete_task(orc, worker, task["id"], data)


def _plain(value):
    """A column value as JSON: datetimes and dates in ISO form, decimals as strings."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # the schema stores UTC
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        raise TypeError("binary column")
    return value


def _rows(conn, statement) -> list[dict]:
    return [{k: _plain(v) for k, v in row._mapping.items()} for row in conn.execute(statement)]


def _snapshot(db_url: str, rma_id: int) -> dict:
    """The RMA's rows as stored: bundle, RMA, instance (state decoded), open tasks, quotes.

    The tables are reflected from the database (typed columns: datetimes, booleans, decimals and JSON come back
    as such on SQLite too) rather than taken from the engine's model, whose module may move between versions."""
    db = create_engine(db_url)
    try:
        with db.connect() as conn:
            meta = MetaData()
            meta.reflect(bind=conn, only=["bundles", "rmas", "instances", "tasks", "quotes"])
            instances, bundles, rmas_, tasks_, quotes_ = (
                meta.tables[name] for name in ("instances", "bundles", "rmas", "tasks", "quotes")
            )
            instance = conn.execute(select(instances).where(instances.c.rma_id == rma_id)).one()._mapping
            bundle = conn.execute(select(bundles).where(bundles.c.id == instance["bundle_id"])).one()._mapping
            rma = _rows(conn, select(rmas_).where(rmas_.c.id == rma_id))[0]
            open_tasks = _rows(
                conn,
                select(tasks_)
                .where(tasks_.c.rma_id == rma_id, tasks_.c.status == "open")
                .order_by(tasks_.c.created_at, tasks_.c.id),
            )
            quotes = _rows(conn, select(quotes_).where(quotes_.c.rma_id == rma_id).order_by(quotes_.c.version))
    finally:
        db.dispose()
    state = bytes(instance["state"])
    return {
        "bundle": {
            "version": bundle["version"],
            "centre": bundle["centre_code"],
            "hash": bundle["hash"],
            "note": bundle["note"],
            "files": bundle["files"],
        },
        "rma": rma,
        "instance": {
            "serializer_version": instance["serializer_version"],
            "version": instance["version"],
            "completed": instance["completed"],
            "next_timer_at": _plain(instance["next_timer_at"]),
            "state_sha256": hashlib.sha256(state).hexdigest(),
            "state_bytes": len(state),
            "state": json.loads(state),
        },
        "open_tasks": open_tasks,
        "quotes": quotes,
    }


def generate(out: Path, only: list[str] | None = None) -> list[tuple[str, int]]:
    out.mkdir(parents=True, exist_ok=True)
    code = _code_version()
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'replay.sqlite3'}"
        settings = Settings.from_env(
            {},
            database_url=db_url,
            instance_dir=Path(tmp),
            upload_dir=Path(tmp) / "uploads",
            secret_key="replay-secret",
            run_worker=False,
        )
        orc = Orchestrator(settings)
        try:
            _setup(orc)
            for number, (name, (centre, months_old, description, steps)) in enumerate(SCENARIOS.items(), start=1):
                if only and name not in only:
                    continue
                reception = users.actor_by_username(orc, f"{centre.lower()}.reception")
                rma = rmas.open_rma(orc, reception, _payload(centre, months_old, f"SN-RP-{number:02d}"))
                statuses = [rma["status"]]
                for step in steps:
                    if step == APPROVED:
                        portal.record_customer_decision(orc, rma["tracking_token"], True)
                    else:
                        _complete(orc, centre, rma["id"], *step)
                    statuses.append(rmas.get_rma(orc, users.actor_by_username(orc, "manager"), rma["id"])["status"])
                rows = _snapshot(db_url, rma["id"])
                fixture = {
                    "format": FORMAT,
                    "name": name,
                    "description": description,
                    "code": code,
                    "python": sys.version.split()[0],
                    "generated_at": datetime.now(UTC).isoformat(),
                    "serializer_version": rows["instance"]["serializer_version"],
                    "centre": centre,
                    "steps_done": [
                        {"customer_decision": True} if step == APPROVED else {"task": step[0], "data": step[1]}
                        for step in steps
                    ],
                    "statuses": statuses,
                    "open_task_names": [t["name"] for t in rows["open_tasks"]],
                    **rows,
                }
                path = out / f"{name}.json"
                path.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
                written.append((name, path.stat().st_size))
                print(f"{name}: {statuses[-1]} at {fixture['open_task_names']} ({path.stat().st_size // 1024} KB)")
        finally:
            orc.dispose()
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "fixtures")
    parser.add_argument("names", nargs="*", help=f"fixtures to write (default: all of {', '.join(SCENARIOS)})")
    args = parser.parse_args(argv)
    unknown = set(args.names) - SCENARIOS.keys()
    if unknown:
        parser.error(f"unknown fixtures: {', '.join(sorted(unknown))}")
    print(f"engine from {engine.__file__} at {_code_version()['commit']}")
    generate(args.out, args.names or None)


if __name__ == "__main__":
    main()
