"""Partner organisations for tests (issue 17): two in Singapore, one in Berlin, each with one account."""

from __future__ import annotations

from engine.actors import Actor
from engine.demo import create_catalogue_and_locations
from engine.services import partners, users

PASSWORD = "partner-pass"
MANAGER = Actor("manager", "manager")
ORGS = {
    "lion": ("Lion CCTV Distribution", "distributor", "SG", "ops@lion.example"),
    "kopi": ("Kopi Security Installers", "installer", "SG", "hello@kopi.example"),
    "spree": ("Spree Sicherheit", "dealer", "DE", "service@spree.example"),
}
MODEL = "Vista X200 Camera"


def seed_partners(orc) -> dict[str, int]:
    """The catalogue, and per key above an organisation with the account `<key>.ops`; returns key -> id."""
    create_catalogue_and_locations(orc)
    ids = {}
    for key, (name, kind, centre, email) in ORGS.items():
        org = partners.create_organisation(
            orc, MANAGER, {"name": name, "type": kind, "centre": centre, "contact_email": email}
        )
        partners.add_partner_user(orc, MANAGER, org["id"], f"{key}.ops", PASSWORD, f"{name} operations")
        ids[key] = org["id"]
    return ids


def partner(orc, key: str) -> Actor:
    return users.login(orc, f"{key}.ops", PASSWORD)


def units(n: int, prefix: str = "SN", model: str = MODEL) -> list[dict]:
    return [
        {
            "model": model,
            "serial_number": f"{prefix}-{i:05d}",
            "fault_description": "No video after power cut",
            "site": f"Site {i % 7}",
            "customer_reference": f"T-{i}",
        }
        for i in range(n)
    ]
