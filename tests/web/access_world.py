"""A small world for access tests: centres SG and DE, a user per role, RMAs at each stage on demand.

Resources are made through the engine's services (fast, no HTTP); the tests then ask the HTTP
layer who may see or do what with them.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from datetime import date, timedelta

from engine import Orchestrator, Settings
from engine.actors import Actor
from engine.demo import DEMO_PASSWORD, create_centres_and_users
from engine.services import catalogue, centres, goodwill, integrations, portal, processes, rmas, users
from engine.services import requests as request_service
from engine.store.model import OutboxMessage
from engine.store.outbox import MAX_ATTEMPTS
from tests.driver import complete_open_task
from tests.helpers import INTAKE, rma_payload
from web.cli import init_database

DIAGNOSIS_IN_WARRANTY = {
    "diagnosis": "Dead main board",
    "fault_category": "electronic",
    "parts_cost": 100,
    "labour_hours": 2,
}
# Role label -> the username acting in it (centre SG, or no centre for ":all"); None is anonymous.
ROLES = {
    "reception": "sg.reception",
    "technician": "sg.tech",
    "qa": "sg.qa",
    "process_owner": "sg.owner",
    "manager": "sg.manager",
    "process_owner:all": "owner",
    "manager:all": "manager",
    "anonymous": None,
}
TASK_ROLES = ("reception", "technician", "qa")
SCOPES = ("own", "other")
CENTRE = {"own": "SG", "other": "DE"}
# The open task each stage waits on, and the data that completes it.
STAGE_TASK = {
    "received": ("record_condition", "reception"),
    "diagnosing": ("diagnose", "technician"),
    "quality_check": ("qa_check", "qa"),
}
ROLE_STAGE = {role: stage for stage, (_name, role) in STAGE_TASK.items()}
COMPLETION = {
    "record_condition": INTAKE,
    "diagnose": DIAGNOSIS_IN_WARRANTY,
    "qa_check": {"qa_passed": True},
    # Berlin's variant (processes/variants/DE): repair in house, not at the factory
    "decide_repair_site": {"factory_only": False},
    # an online request the self-help steps did not solve: reception asks for the unit
    "review_request": {"review_decision": "ship_in"},
}
# Tasks a centre's regional variant asks before a step of the standard process.
VARIANT_STEPS = {"DE": {"repair": ["decide_repair_site"]}}
# An incident: the approval stage's quote script divides by zero (as in tests/integration/test_incidents.py).
APPROVAL = "stages/rma_approval.bpmn"
QUOTE = "round(parts_cost + labour_hours * labour_rate, 2)"
# Online requests: a catalogue model with a self-help question, and a proof of purchase.
REQUEST_MODEL = {
    "model": "Matrix Cam",
    "category": "camera",
    "warranty_months": 24,
    "replacement_value": 400,
    "currency": "SGD",
    "known_issues": [
        {
            "code": "no_power",
            "question": "Does the power LED stay dark?",
            "steps": ["Charge the battery for two hours."],
        }
    ],
}
PROOF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def add_matrix_users(orc) -> None:
    """Centre-bound manager and process owner beside the demo users (which cover the rest)."""
    shared = users.hash_password(DEMO_PASSWORD)
    users.add_user(orc, "sg.manager", "manager", "SG", None, password_hash=shared)
    users.add_user(orc, "sg.owner", "process_owner", "SG", None, password_hash=shared)


@contextmanager
def sqlite_world(path, **app_config):
    """A migrated SQLite database with the demo and matrix users, the processes deployed, and an app."""
    from web import create_app

    settings = Settings.from_env(
        {},
        database_url=f"sqlite:///{path / 'rma.sqlite3'}",
        instance_dir=path,
        upload_dir=path / "uploads",
        secret_key="test-secret",
        run_worker=False,
    )
    orc = Orchestrator(settings)
    try:
        orc.migrate()
        create_centres_and_users(orc)
        add_matrix_users(orc)
        init_database(orc)
        centres.seed_demo_locations(orc)  # the centre finder: both centres take online requests
        catalogue.save_model(orc, Actor("matrix", "manager"), REQUEST_MODEL)
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
        rma = rmas.open_rma(
            self.orc,
            self.actor(f"{prefix}.reception"),
            rma_payload(centre=centre, months_old=months, serial=f"SN-M{next(self._serial)}"),
        )
        path = {
            "received": [],
            "diagnosing": ["record_condition"],
            "quality_check": ["record_condition", "diagnose", "repair"],
            "awaiting_approval": ["record_condition", "diagnose"],
        }[stage]
        for step in path:
            for name in [*VARIANT_STEPS.get(centre, {}).get(step, []), step]:
                self.complete(rma["id"], name)
        return rmas.get_rma(self.orc, self.actor(f"{prefix}.reception"), rma["id"])

    def complete(self, rma_id: int, name: str) -> None:
        """Complete the RMA's open task `name`, worked by its role at the RMA's centre (sg.tech, de.qa, ...)."""
        complete_open_task(self.orc, None, rma_id, name, COMPLETION.get(name, {"repair_notes": "Board replaced"}))

    def open_task(self, centre: str, role: str, fresh: bool = False) -> dict:
        """An open task of `role`'s lane (reception's for roles that work no tasks) at `centre`."""
        stage = ROLE_STAGE.get(role, "received")
        rma = self.rma(centre, stage, fresh=fresh)
        name = STAGE_TASK[stage][0]
        return next(t for t in rma["open_tasks"] if t["name"] == name)

    def decide(self, token: str, approve: bool = True) -> dict:
        return portal.record_customer_decision(self.orc, token, approve)

    # --- what process owners and operations work with ---------------------------------------------

    def variant_version(self, centre: str) -> int:
        """The latest version of `centre`'s process variant (one is deployed, as the base, if it has none)."""
        with self.orc.uow() as uow:
            bundle = processes.latest_bundle(uow.session, centre) or processes.current_bundle(uow.session, centre)
            if bundle.centre_code == centre:
                return bundle.version
            files = dict(bundle.files)
        return processes.deploy_bundle(self.orc, self.actor("owner"), files, centre, "variant for the matrix")[
            "version"
        ]

    def current_files(self, centre: str) -> dict[str, str]:
        with self.orc.uow() as uow:
            return dict(processes.current_bundle(uow.session, centre).files)

    def incident(self, centre: str) -> dict:
        """An RMA at `centre` in incident: its quote script failed (and fails again on every retry)."""
        key = (centre, "incident")
        if key not in self._rmas:
            owner, files = self.actor("owner"), self.current_files(centre)
            assert QUOTE in files[APPROVAL]
            broken = {**files, APPROVAL: files[APPROVAL].replace(QUOTE, "round(parts_cost / 0, 2)")}
            processes.deploy_bundle(self.orc, owner, broken, centre, "a broken quote, for the access matrix")
            try:
                made = self._make(centre, "awaiting_approval")  # the quote runs after the diagnosis, and fails
            finally:
                processes.deploy_bundle(self.orc, owner, files, centre, "the quote mended")
            assert made["status"] == "incident", made["status"]
            self._rmas[key] = made
        return self._rmas[key]

    def undelivered(self, centre: str) -> int:
        """The id of a new message about an RMA at `centre` that the outbox gave up on after every retry."""
        rma = self.rma(centre, "received")
        with self.orc.uow() as uow:
            message = OutboxMessage(
                rma_id=rma["id"],
                rma_number=rma["number"],
                channel="email",
                recipient="customer@example.com",
                subject="Your repair",
                body="...",
                idempotency_key=f"matrix-undelivered-{next(self._serial)}",
                attempts=MAX_ATTEMPTS,
                last_error="550 mailbox unavailable",
            )
            uow.session.add(message)
            uow.commit()
            return message.id

    def goodwill(self, centre: str) -> dict:
        """An RMA at `centre` whose pending quote has a goodwill proposal waiting for a manager."""
        key = (centre, "goodwill")
        if key not in self._rmas:
            rma = self.rma(centre, "awaiting_approval", fresh=True)
            goodwill.propose_goodwill(
                self.orc, self.actor(f"{centre.lower()}.reception"), rma["id"], "discount", "A loyal customer", "10.00"
            )
            self._rmas[key] = rma
        return self._rmas[key]

    def request(self, centre: str, stage: str = "requested", fresh: bool = False) -> dict:
        """An online request to `centre`: `requested` (self-help pending) or `awaiting_parcel` (shipment agreed)."""
        key = (centre, f"request:{stage}")
        if fresh or key not in self._rmas:
            made = request_service.submit_request(
                self.orc,
                {
                    "centre": centre,
                    "customer": {"name": "Kim Tan", "email": "kim@example.com", "language": "en"},
                    "product": {
                        "model": REQUEST_MODEL["model"],
                        "serial_number": f"SN-R{next(self._serial)}",
                        "purchase_date": (date.today() - timedelta(days=200)).isoformat(),
                    },
                    "fault_description": "Does not power on",
                },
                "receipt.pdf",
                PROOF,
                self.address(),
            )
            if stage == "awaiting_parcel":
                request_service.answer_troubleshooting(self.orc, made["tracking_token"], {"troubleshoot_solved": False})
                [rma] = rmas.list_rmas(self.orc, self.actor("manager"), q=made["number"])["items"]
                self.complete(rma["id"], "review_request")
            if fresh:
                return made
            self._rmas[key] = made
        return self._rmas[key]

    def subscription(self, centre: str) -> dict:
        """A new webhook subscription for `centre`'s RMAs."""
        return integrations.create_subscription(
            self.orc, self.actor("manager"), f"https://erp.example.com/{centre}", centre=centre, description="matrix"
        )
