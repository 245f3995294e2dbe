"""A small world for access tests: centres SG and DE, a user per role, RMAs at each stage on demand.

Resources are made through the engine's services (fast, no HTTP); the tests then ask the HTTP
layer who may see or do what with them.
"""
from __future__ import annotations

import itertools
from contextlib import contextmanager

from engine import Orchestrator, Settings
from engine.cli import init_database
from engine.demo import DEMO_PASSWORD, create_centres_and_users
from engine.services import portal, rmas, tasks, users
from tests.helpers import INTAKE, rma_payload

DIAGNOSIS_IN_WARRANTY = {"diagnosis": "Dead main board", "fault_category": "electronic", "parts_cost": 100,
                         "labour_hours": 2}
# Role label -> the username acting in it (centre SG, or no centre for ":all"); None is anonymous.
ROLES = {"reception": "sg.reception", "technician": "sg.tech", "qa": "sg.qa", "process_owner": "sg.owner",
         "manager": "sg.manager", "process_owner:all": "owner", "manager:all": "manager", "anonymous": None}
TASK_ROLES = ("reception", "technician", "qa")
SCOPES = ("own", "other")
CENTRE = {"own": "SG", "other": "DE"}
# The open task each stage waits on, and the data that completes it.
STAGE_TASK = {"received": ("record_condition", "reception"), "diagnosing": ("diagnose", "technician"),
              "quality_check": ("qa_check", "qa")}
ROLE_STAGE = {role: stage for stage, (_name, role) in STAGE_TASK.items()}
COMPLETION = {"record_condition": INTAKE, "diagnose": DIAGNOSIS_IN_WARRANTY, "qa_check": {"qa_passed": True}}
USER_PREFIX = {"reception": "reception", "technician": "tech", "qa": "qa"}


def add_matrix_users(orc) -> None:
    """Centre-bound manager and process owner beside the demo users (which cover the rest)."""
    shared = users.hash_password(DEMO_PASSWORD)
    users.add_user(orc, "sg.manager", "manager", "SG", None, password_hash=shared)
    users.add_user(orc, "sg.owner", "process_owner", "SG", None, password_hash=shared)


@contextmanager
def sqlite_world(path, **app_config):
    """A migrated SQLite database with the demo and matrix users, the processes deployed, and an app."""
    from web import create_app
    settings = Settings.from_env({}, database_url=f"sqlite:///{path / 'rma.sqlite3'}", instance_dir=path,
                                 upload_dir=path / "uploads", secret_key="test-secret", run_worker=False)
    orc = Orchestrator(settings)
    try:
        orc.migrate()
        create_centres_and_users(orc)
        add_matrix_users(orc)
        init_database(orc)
        yield World(orc, create_app({"RMA_ORCHESTRATOR": orc, "TESTING": True, **app_config}))
    finally:
        orc.dispose()


class World:
    def __init__(self, orc, app):
        self.orc, self.app, self.client = orc, app, app.test_client()
        self._tokens: dict[str, str] = {}
        self._rmas: dict[tuple, dict] = {}
        self._serial = itertools.count(1)
        self._address = itertools.count(1)

    def actor(self, username: str):
        return users.actor_by_username(self.orc, username)

    def token(self, username: str, fresh: bool = False) -> str:
        if fresh or username not in self._tokens:
            token = users.issue_token(self.orc, self.actor(username))["token"]
            if fresh:
                return token
            self._tokens[username] = token
        return self._tokens[username]

    def address(self) -> str:
        """A client address of its own per request, so throttling never links two cases."""
        n = next(self._address)
        return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"

    def rma(self, centre: str, stage: str, fresh: bool = False) -> dict:
        """An RMA at `centre` waiting at `stage` (received, diagnosing, quality_check, awaiting_approval)."""
        key = (centre, stage)
        if fresh or key not in self._rmas:
            made = self._make(centre, stage)
            if fresh:
                return made
            self._rmas[key] = made
        return self._rmas[key]

    def _make(self, centre: str, stage: str) -> dict:
        prefix = centre.lower()
        months = 30 if stage == "awaiting_approval" else 6
        rma = rmas.open_rma(self.orc, self.actor(f"{prefix}.reception"),
                            rma_payload(centre=centre, months_old=months, serial=f"SN-M{next(self._serial)}"))
        path = {"received": [], "diagnosing": ["record_condition"],
                "quality_check": ["record_condition", "diagnose", "repair"],
                "awaiting_approval": ["record_condition", "diagnose"]}[stage]
        for name in path:
            self.complete(rma["id"], centre, name)
        return rmas.get_rma(self.orc, self.actor(f"{prefix}.reception"), rma["id"])

    def complete(self, rma_id: int, centre: str, name: str) -> None:
        role = {"record_condition": "reception", "diagnose": "technician", "repair": "technician",
                "qa_check": "qa"}[name]
        worker = self.actor(f"{centre.lower()}.{USER_PREFIX[role]}")
        task = next(t for t in tasks.list_tasks(self.orc, worker, rma_id=rma_id)["items"] if t["name"] == name)
        data = COMPLETION.get(name, {"repair_notes": "Board replaced"})
        tasks.complete_task(self.orc, worker, task["id"], data)

    def open_task(self, centre: str, role: str, fresh: bool = False) -> dict:
        """An open task of `role`'s lane (reception's for roles that work no tasks) at `centre`."""
        stage = ROLE_STAGE.get(role, "received")
        rma = self.rma(centre, stage, fresh=fresh)
        name = STAGE_TASK[stage][0]
        return next(t for t in rma["open_tasks"] if t["name"] == name)

    def decide(self, token: str, approve: bool = True) -> dict:
        return portal.record_customer_decision(self.orc, token, approve)
