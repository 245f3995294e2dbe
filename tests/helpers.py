"""Small helpers shared by tests (no fixtures here)."""

from __future__ import annotations

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
