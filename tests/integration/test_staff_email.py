"""Staff e-mail addresses (where SLA escalations reach managers): the service, with its checks and centre scope,
and the `rma users` commands that set them."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine import Actor, Orchestrator
from engine.demo import DEMO_PASSWORD, create_centres_and_users
from engine.errors import InvalidInput, NotAllowed, NotFound
from engine.services import users
from engine.store.model import AuditEvent, User
from web import cli

SG_MANAGER = Actor("sg.manager", "manager", "SG")
GLOBAL_MANAGER = Actor("manager", "manager")


@pytest.fixture
def accounts(settings):
    """The demo centres and staff, and a manager of centre SG (no processes: none are needed here)."""
    orc = Orchestrator(settings)
    orc.migrate()
    create_centres_and_users(orc)
    users.add_user(orc, "sg.manager", "manager", "SG", DEMO_PASSWORD)
    yield orc
    orc.dispose()


def email_of(orc, username: str) -> str | None:
    with orc.reading() as s:
        return s.scalar(select(User.email).where(User.username == username))


def test_a_manager_sets_and_removes_an_address_and_each_change_is_audited(accounts):
    saved = users.set_staff_email(accounts, GLOBAL_MANAGER, "manager", "  service-managers@example.com ")
    assert saved["email"] == "service-managers@example.com" == email_of(accounts, "manager")
    users.set_staff_email(accounts, GLOBAL_MANAGER, "manager", "service-managers@example.com")  # unchanged
    assert users.set_staff_email(accounts, GLOBAL_MANAGER, "manager", "")["email"] is None
    assert email_of(accounts, "manager") is None
    with accounts.reading() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.kind == "staff_email_changed")).all()
        assert [(e.actor, e.rma_id, e.data["email"]) for e in events] == [
            ("manager", None, "service-managers@example.com"),
            ("manager", None, None),
        ]


@pytest.mark.parametrize(
    "address", ["not-an-address", "two@example.com, three@example.com", "a@b", "x" * 250 + "@example.com", "a @b.co"]
)
def test_an_address_that_is_not_one_is_refused_and_nothing_changes(accounts, address):
    users.set_staff_email(accounts, GLOBAL_MANAGER, "sg.tech", "tech@example.com")
    with pytest.raises(InvalidInput) as refused:
        users.set_staff_email(accounts, GLOBAL_MANAGER, "sg.tech", address)
    assert list(refused.value.errors) == ["email"]
    assert email_of(accounts, "sg.tech") == "tech@example.com"


def test_a_centre_manager_sees_and_sets_only_his_centre_s_staff(accounts):
    listed = users.list_staff(accounts, SG_MANAGER)
    assert {p["username"] for p in listed} == {"sg.reception", "sg.tech", "sg.qa", "sg.manager"}
    assert users.set_staff_email(accounts, SG_MANAGER, "sg.qa", "qa@sg.example.com")["centre"] == "SG"
    # another centre's staff and the managers of all centres are not his: as if they did not exist
    for username in ("de.tech", "manager", "owner", "nobody"):
        with pytest.raises(NotFound):
            users.set_staff_email(accounts, SG_MANAGER, username, "x@example.com")
        assert email_of(accounts, username) is None
    everyone = {p["username"] for p in users.list_staff(accounts, GLOBAL_MANAGER)}
    assert {"de.tech", "manager", "owner", "sg.qa"} <= everyone
    assert users.set_staff_email(accounts, GLOBAL_MANAGER, "de.tech", "tech@de.example.com")["email"]


@pytest.mark.parametrize("who", [Actor("sg.reception", "reception", "SG"), Actor("owner", "process_owner")])
def test_only_managers_manage_staff_accounts(accounts, who):
    with pytest.raises(NotAllowed):
        users.set_staff_email(accounts, who, who.username, "me@example.com")
    with pytest.raises(NotAllowed):
        users.list_staff(accounts, who)
    assert email_of(accounts, who.username) is None


def test_add_user_sets_an_address_and_a_reset_without_one_keeps_it(accounts):
    users.add_user(accounts, "de.manager", "manager", "DE", "pw-1", email="de-managers@example.com")
    assert email_of(accounts, "de.manager") == "de-managers@example.com"
    users.add_user(accounts, "de.manager", "manager", "DE", "pw-2")
    assert email_of(accounts, "de.manager") == "de-managers@example.com"
    with pytest.raises(InvalidInput):
        users.add_user(accounts, "de.manager", "manager", "DE", "pw-3", email="nope")
    assert email_of(accounts, "de.manager") == "de-managers@example.com"


def rma(orc, monkeypatch, *args):
    monkeypatch.setattr(cli, "_orchestrator", lambda: orc)
    return CliRunner().invoke(cli.main, list(args))


def test_cli_users_add_with_email(accounts, monkeypatch):
    add = "users add de.manager --role manager --centre DE --password pw-1 --email de-managers@example.com"
    result = rma(accounts, monkeypatch, *add.split())
    assert result.exit_code == 0, result.output
    assert "de.manager (manager @ DE <de-managers@example.com>) saved" in result.output
    assert email_of(accounts, "de.manager") == "de-managers@example.com"
    refused = rma(accounts, monkeypatch, *"users add de.manager --role manager --password x --email x@".split())
    assert refused.exit_code != 0 and "not an e-mail address" in refused.output


def test_cli_users_set_email(accounts, monkeypatch):
    result = rma(accounts, monkeypatch, "users", "set-email", "manager", "service-managers@example.com")
    assert result.exit_code == 0, result.output
    assert "e-mail of manager set to service-managers@example.com" in result.output
    assert email_of(accounts, "manager") == "service-managers@example.com"
    removed = rma(accounts, monkeypatch, "users", "set-email", "manager", "")
    assert removed.exit_code == 0 and "e-mail of manager removed" in removed.output
    assert email_of(accounts, "manager") is None
    unknown = rma(accounts, monkeypatch, "users", "set-email", "nobody", "x@example.com")
    assert unknown.exit_code != 0 and "no user nobody" in unknown.output
    invalid = rma(accounts, monkeypatch, "users", "set-email", "manager", "not-an-address")
    assert invalid.exit_code != 0 and "not an e-mail address" in invalid.output
