"""Demo centres, staff and RMAs at different stages (password `demo`: for trying the product only)."""

from __future__ import annotations

import functools
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from engine.actors import Actor
from engine.demo_history import Customer, Planned, create_history
from engine.errors import NotFound
from engine.services import catalogue, centres, portal, register, rmas, tasks, users
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


# The demo's customers: each their own email and phone number in the centre's country, and language.
CUSTOMERS = {
    "Mei Ling Tan": Customer("Mei Ling Tan", "meiling.tan@example.com", "+65 9123 4501"),
    "Arjun Nair": Customer("Arjun Nair", "arjun.nair@example.com", "+65 8234 7702"),
    "Sarah Lim": Customer("Sarah Lim", "sarah.lim@example.com", "+65 9345 1203"),
    "Jonas Weber": Customer("Jonas Weber", "jonas.weber@example.com", "+49 151 2345604"),
    "Lena Fischer": Customer("Lena Fischer", "lena.fischer@example.com", "+49 170 3456705"),
}
# Their earlier RMAs in the demo history: Mei Ling's camera came in two months ago (no fault found), Arjun's
# recorder four months ago (a warranty repair), Lena had her DomeCam repaired. The purchase dates agree with
# those of the open RMAs below (an earlier RMA's unit was as old then as its template says).
EARLIER = [
    Planned("sg_x100_no_fault", CUSTOMERS["Mei Ling Tan"], "VX100-55012", 61, "Autofocus hunts and never locks"),
    Planned("sg_nvr_warranty", CUSTOMERS["Arjun Nair"], "NVR8-20931", 122, "Recorder reboots every few minutes"),
    Planned("de_dome_warranty", CUSTOMERS["Lena Fischer"], "DC4K-40417", 97, "Bild bleibt nachts schwarz"),
]


def _open(orc: Orchestrator, centre: str, name: str, model: str, serial: str, months_old: int, fault: str) -> dict:
    reception = _staff(orc, f"{centre.lower()}.reception")
    purchase = date.today() - timedelta(days=int(months_old * 30.5))
    who = CUSTOMERS[name]
    return rmas.open_rma(
        orc,
        reception,
        {
            "centre": centre,
            "customer": {
                "name": who.name,
                "email": who.email,
                "phone": who.phone,
                "language": "de" if centre == "DE" else "en",
            },
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


OPEN_DEMO_RMAS = 5
# The one open demo RMA whose unit is not in the register of units sold (a grey import, say): its page shows the
# flag "Serial … is not in the register of units sold"; every other demo unit is registered (register_demo_units).
UNREGISTERED_SERIAL = "VX100-61877"
SHIPPED_BEFORE_PURCHASE = timedelta(days=30)  # the maker shipped a demo unit a month before it was sold


def register_demo_units(orc: Orchestrator) -> int:
    """Register the units of the demo's RMAs as sold (serial, model, ship date a month before the purchase date),
    all but UNREGISTERED_SERIAL; no demo unit has a registered installation, so each warranty still counts from
    its proof of purchase. Returns how many units are registered."""
    with orc.reading() as s:
        rows = s.execute(select(Rma.serial_number, Rma.product_model, Rma.purchase_date).order_by(Rma.id)).all()
    units: dict[str, dict] = {}
    for serial, model, bought in rows:
        key = register.serial_key(serial)
        if key and key != register.serial_key(UNREGISTERED_SERIAL) and key not in units:
            units[key] = {
                "serial_number": serial,
                "model": model,
                "ship_date": (bought - SHIPPED_BEFORE_PURCHASE).isoformat(),
            }
    if units:
        register.import_units(orc, _staff(orc, "manager"), list(units.values()))
    return len(units)


INTAKE = {
    "condition_grade": "B",
    "condition_notes": "Light scuffs on the grip",
    "accessories": "Battery, strap",
    "customer_acknowledged": True,
}


def create_demo_rmas(orc: Orchestrator, history: bool = True) -> int:
    """Six months of closed RMAs (engine.demo_history; `history`), then a handful of open RMAs at different
    stages; skipped when RMAs already exist. Returns how many RMAs were created."""
    with orc.uow() as uow:
        if uow.session.scalar(select(func.count(Rma.id))):
            return 0
    closed = create_history(orc, EARLIER) if history else 0
    _open(
        orc,
        "SG",
        "Mei Ling Tan",
        "Vista X100 Camera",
        "VX100-55012",
        8,
        "Autofocus hunts and never locks",
    )
    r = _open(
        orc,
        "SG",
        "Arjun Nair",
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
    r = _open(orc, "DE", "Jonas Weber", "DomeCam 4K", "DC4K-77120", 5, "Infrared LEDs do not switch on")
    _do(orc, r, "de.reception", INTAKE)
    _do(
        orc,
        r,
        "de.tech",
        {"diagnosis": "IR board failed", "fault_category": "electronic", "parts_cost": 40.0, "labour_hours": 1.0},
    )
    r = _open(orc, "DE", "Lena Fischer", "Vista Lens 50mm", "VL50-11873", 40, "Aperture blades sticky")
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
    register_demo_units(orc)
    return closed + OPEN_DEMO_RMAS
