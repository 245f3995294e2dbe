"""Demo centres, staff and RMAs at different stages (password `demo`: for trying the product only)."""

from __future__ import annotations

import functools
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from engine.actors import Actor
from engine.errors import NotFound
from engine.services import catalogue, centres, portal, rmas, tasks, users
from engine.store.model import Rma

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

CENTRES = [
    ("SG", "Singapore Service Centre", "SGD", 60, "Asia/Singapore"),
    ("DE", "Berlin Service Centre", "EUR", 75, "Europe/Berlin"),
]
USERS = [
    ("sg.reception", "reception", "SG"),
    ("sg.tech", "technician", "SG"),
    ("sg.qa", "qa", "SG"),
    ("de.reception", "reception", "DE"),
    ("de.tech", "technician", "DE"),
    ("de.qa", "qa", "DE"),
    ("owner", "process_owner", None),
    ("manager", "manager", None),
]
DEMO_PASSWORD = "demo"


@functools.cache
def _demo_password_hash() -> str:
    """One slow hash of the public demo password for all demo accounts, made once per process (the test suite
    creates the demo accounts for every test's own database)."""
    return users.hash_password(DEMO_PASSWORD)


def create_centres_and_users(orc: Orchestrator) -> None:
    for code, name, currency, rate, tz in CENTRES:
        users.upsert_centre(orc, code, name, currency, rate, tz)
    shared_hash = _demo_password_hash()
    for username, role, centre in USERS:
        users.add_user(orc, username, role, centre, None, password_hash=shared_hash)


def _issue(code: str, question: str, *steps: str) -> dict:
    return {"code": code, "question": question, "steps": list(steps)}


CATALOGUE = [
    {
        "model": "Vista X200 Camera",
        "category": "camera",
        "warranty_months": 24,
        "replacement_value": 1500,
        "currency": "SGD",
        "known_issues": [],
    },
    {
        "model": "Vista X100 Camera",
        "category": "camera",
        "warranty_months": 24,
        "replacement_value": 1200,
        "currency": "SGD",
        "successor_model": "Vista X200 Camera",
        "known_issues": [
            _issue(
                "autofocus_hunts",
                "Does the autofocus hunt and never lock?",
                "Update the camera to the latest firmware (Menu > Setup > Firmware).",
                "Clean the lens contacts with a dry cloth and re-attach the lens.",
            )
        ],
    },
    {
        "model": "NightGuard NVR-8",
        "category": "cctv",
        "warranty_months": 36,
        "replacement_value": 450,
        "currency": "SGD",
        "known_issues": [
            _issue(
                "reboot_loop",
                "Does the recorder restart by itself every few minutes?",
                "Use the power adapter that came with the recorder (12 V, 2 A); weaker adapters cause restarts.",
                "Disconnect the hard disk and start the recorder: if it stays on, the disk needs replacing.",
            )
        ],
    },
    {
        "model": "DomeCam 4K",
        "category": "cctv",
        "warranty_months": 24,
        "replacement_value": 320,
        "currency": "EUR",
        "known_issues": [
            _issue(
                "ir_off",
                "Does the picture stay dark at night?",
                "Set Night mode to Auto in the camera's web page (Image > Day/Night).",
            )
        ],
    },
    {
        "model": "Vista Lens 50mm",
        "category": "camera",
        "warranty_months": 12,
        "replacement_value": 400,
        "currency": "EUR",
        "known_issues": [],
    },
]


def create_catalogue_and_locations(orc: Orchestrator) -> None:
    """A small product catalogue and the centres' finder entries, so online requests work out of the box."""
    manager = _staff(orc, "manager")
    if not catalogue.count(orc):
        for model in CATALOGUE:
            catalogue.save_model(orc, manager, model)
    centres.seed_demo_locations(orc)
    for code in ("SG", "DE"):  # consumer prices there include GST / VAT: the tracking page says so under quotes
        centres.set_customer_facing(orc, code, prices_include_tax=True)


def _open(
    orc: Orchestrator, centre: str, name: str, email: str, model: str, serial: str, months_old: int, fault: str
) -> dict:
    reception = _staff(orc, f"{centre.lower()}.reception")
    purchase = date.today() - timedelta(days=int(months_old * 30.5))
    return rmas.open_rma(
        orc,
        reception,
        {
            "centre": centre,
            "customer": {"name": name, "email": email, "phone": "+65 8123 4567"},
            "product": {
                "model": model,
                "serial_number": serial,
                "purchase_date": purchase.isoformat(),
                "category": "camera" if "Cam" in model or "Lens" in model else "cctv",
            },
            "fault_description": fault,
        },
    )


def _staff(orc: Orchestrator, username: str) -> Actor:
    actor = users.actor_by_username(orc, username)
    if actor is None:
        raise NotFound(f"no active user {username}; the demo's staff are created first")
    return actor


def _do(orc: Orchestrator, rma: dict, username: str, data: dict) -> dict:
    actor = _staff(orc, username)
    task = tasks.list_tasks(orc, actor, rma_id=rma["id"])["items"][0]
    return tasks.complete_task(orc, actor, task["id"], data)


INTAKE = {
    "condition_grade": "B",
    "condition_notes": "Light scuffs on the grip",
    "accessories": "Battery, strap",
    "customer_acknowledged": True,
}


def create_demo_rmas(orc: Orchestrator) -> int:
    """A handful of RMAs at different stages; skipped when RMAs already exist."""
    with orc.uow() as uow:
        if uow.session.scalar(select(func.count(Rma.id))):
            return 0
    _open(
        orc,
        "SG",
        "Mei Ling Tan",
        "meiling@example.com",
        "Vista X100 Camera",
        "VX100-55012",
        8,
        "Autofocus hunts and never locks",
    )
    r = _open(
        orc,
        "SG",
        "Arjun Nair",
        "arjun@example.com",
        "NightGuard NVR-8",
        "NVR8-20931",
        30,
        "Recorder reboots every few minutes",
    )
    _do(orc, r, "sg.reception", INTAKE)
    r = _open(
        orc,
        "SG",
        "Sarah Lim",
        "sarah@example.com",
        "Vista X100 Camera",
        "VX100-61877",
        36,
        "Shutter stuck after a fall",
    )
    _do(orc, r, "sg.reception", INTAKE)
    _do(
        orc,
        r,
        "sg.tech",
        {
            "diagnosis": "Shutter assembly bent",
            "fault_category": "mechanical",
            "parts_cost": 120.0,
            "labour_hours": 1.5,
        },
    )
    r = _open(
        orc, "DE", "Jonas Weber", "jonas@example.com", "DomeCam 4K", "DC4K-77120", 5, "Infrared LEDs do not switch on"
    )
    _do(orc, r, "de.reception", INTAKE)
    _do(
        orc,
        r,
        "de.tech",
        {"diagnosis": "IR board failed", "fault_category": "electronic", "parts_cost": 40.0, "labour_hours": 1.0},
    )
    r = _open(
        orc, "DE", "Lena Fischer", "lena@example.com", "Vista Lens 50mm", "VL50-11873", 40, "Aperture blades sticky"
    )
    _do(orc, r, "de.reception", INTAKE)
    _do(
        orc,
        r,
        "de.tech",
        {
            "diagnosis": "Oil on aperture blades",
            "fault_category": "mechanical",
            "parts_cost": 30.0,
            "labour_hours": 2.0,
        },
    )
    portal.record_customer_decision(orc, r["tracking_token"], True)
    # Berlin's repair stage (processes/variants/DE) first decides whether the factory must do it.
    _do(orc, r, "de.tech", {"factory_only": False})
    _do(orc, r, "de.tech", {"repair_notes": "Cleaned and re-lubricated the aperture", "parts_used": ""})
    return 5
