"""Small helpers shared by tests (no fixtures here)."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

from engine.services import users

INTAKE = {
    "condition_grade": "A",
    "condition_notes": "Clean unit",
    "accessories": "Charger",
    "customer_acknowledged": True,
}


def actor(orc, username):
    return users.actor_by_username(orc, username)


def staff_session(sess, app, username):
    """Fill a test client's session as logging in does (web.auth.stamp_session): for tests that skip the form."""
    from sqlalchemy import select

    from engine.store.model import User
    from web.auth import stamp_session

    with app.extensions["rma"].reading() as s:
        epoch = s.scalar(select(User.session_epoch).where(User.username == username))
    stamp_session(sess, username, epoch or 0)


def rma_payload(centre="SG", months_old=6, serial="SN-1", email="kim@example.com", name="Kim Tan"):
    purchase = date.today() - timedelta(days=int(months_old * 30.6))
    return {
        "centre": centre,
        "customer": {"name": name, "email": email, "phone": "+65 9000 0000"},
        "product": {
            "model": "Vista X100 Camera",
            "serial_number": serial,
            "purchase_date": purchase.isoformat(),
            "category": "camera",
        },
        "fault_description": "Does not power on",
    }


def race(*calls, delays=None, timeout: float = 120):
    """Run the calls at the same instant (each after its delay, if given), one thread each; results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, fn):
        barrier.wait()
        if delays and delays[i]:
            time.sleep(delays[i])
        try:
            results[i] = fn()
        except Exception as exc:  # reported, not swallowed: the asserts below see it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results


CAMERA_MODEL = {
    "model": "Vista X100 Camera",
    "category": "camera",
    "warranty_months": 24,
    "replacement_value": 400,
    "currency": "SGD",
    "known_issues": [],
}


def seed_request_form(orc) -> None:
    """What the public request form needs to be filled in: the demo centres' locations and a catalogue model."""
    from engine.services import catalogue, centres

    centres.seed_demo_locations(orc)
    catalogue.save_model(orc, actor(orc, "manager"), CAMERA_MODEL)
