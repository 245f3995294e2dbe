"""The manager's staff page: he sets the e-mail addresses SLA escalations go to, for the staff of his centres
only, through a CSRF-protected form; other roles get 403."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from engine import Orchestrator
from engine.demo import DEMO_PASSWORD, create_centres_and_users
from engine.services import users
from engine.store.model import User
from tests.helpers import staff_session


@pytest.fixture
def orc(settings):
    """The demo centres and staff and a manager of centre SG (the page needs no processes)."""
    orchestrator = Orchestrator(settings)
    orchestrator.migrate()
    create_centres_and_users(orchestrator)
    users.add_user(orchestrator, "sg.manager", "manager", "SG", DEMO_PASSWORD)
    yield orchestrator
    orchestrator.dispose()


def logged_in(app, username: str):
    client = app.test_client()
    with client.session_transaction() as session:
        staff_session(session, app, username)
    return client


def form_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def email_of(orc, username: str) -> str | None:
    with orc.reading() as s:
        return s.scalar(select(User.email).where(User.username == username))


def test_a_manager_sets_an_address_on_the_staff_page(app, orc):
    client = logged_in(app, "manager")
    page = client.get("/manager/staff")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-username="de.tech"' in html and 'data-username="manager"' in html
    assert 'href="/manager/staff"' in html  # in the main navigation
    saved = client.post(
        "/manager/staff/email",
        data={"csrf_token": form_token(html), "username": "manager", "email": " managers@example.com "},
    )
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/manager/staff")
    assert email_of(orc, "manager") == "managers@example.com"
    shown = client.get("/manager/staff").get_data(as_text=True)
    assert "E-mail of manager set to managers@example.com." in shown
    assert 'value="managers@example.com"' in shown
    cleared = client.post("/manager/staff/email", data={"csrf_token": form_token(shown), "username": "manager"})
    assert cleared.status_code == 302 and email_of(orc, "manager") is None


def test_an_invalid_address_is_shown_again_with_its_error_and_nothing_is_saved(app, orc):
    client = logged_in(app, "manager")
    token = form_token(client.get("/manager/staff").get_data(as_text=True))
    refused = client.post("/manager/staff/email", data={"csrf_token": token, "username": "sg.tech", "email": "sg.tech"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'value="sg.tech"' in html and "Enter one address" in html and 'aria-invalid="true"' in html
    assert email_of(orc, "sg.tech") is None


def test_the_form_needs_its_csrf_token(app, orc):
    client = logged_in(app, "manager")
    refused = client.post("/manager/staff/email", data={"username": "manager", "email": "managers@example.com"})
    assert refused.status_code == 400
    assert email_of(orc, "manager") is None


def test_a_centre_manager_sees_and_edits_only_his_centre_s_staff(app, orc):
    client = logged_in(app, "sg.manager")
    html = client.get("/manager/staff").get_data(as_text=True)
    listed = set(re.findall(r'data-username="([^"]+)"', html))
    assert listed == {"sg.reception", "sg.tech", "sg.qa", "sg.manager"}
    token = form_token(html)
    assert (
        client.post(
            "/manager/staff/email", data={"csrf_token": token, "username": "sg.qa", "email": "qa@sg.example.com"}
        ).status_code
        == 302
    )
    assert email_of(orc, "sg.qa") == "qa@sg.example.com"
    for username in ("de.tech", "manager"):
        other = client.post(
            "/manager/staff/email", data={"csrf_token": token, "username": username, "email": "x@example.com"}
        )
        assert other.status_code == 404
        assert email_of(orc, username) is None


@pytest.mark.parametrize("username", ["sg.reception", "sg.tech", "sg.qa", "owner"])
def test_other_roles_get_403(app, orc, username):
    client = logged_in(app, username)
    assert client.get("/manager/staff").status_code == 403
    token = form_token(client.get("/inbox").get_data(as_text=True))  # any page's token: the form is refused anyway
    refused = client.post("/manager/staff/email", data={"csrf_token": token, "username": username, "email": "me@x.io"})
    assert refused.status_code == 403
    assert email_of(orc, username) is None
    assert 'href="/manager/staff"' not in client.get("/inbox").get_data(as_text=True)
