"""Centres, staff accounts (with the e-mail address SLA escalations go to), password login and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, cast

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import CursorResult, Row, bindparam, delete, select, update
from sqlalchemy.orm import Session

from engine.actors import ROLES, Actor
from engine.errors import InvalidInput, NotAllowed, NotFound, Unauthenticated, text_refusal
from engine.services import throttle
from engine.store.audit import audit
from engine.store.db import single_read
from engine.store.model import ApiToken, Centre, KnownLoginAddress, User, utcnow

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
# Who may see staff accounts and set their e-mail: managers (a centre's manager only his centre's staff) and the
# system (the `rma users` command).
STAFF_MANAGERS = ("manager", "system")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EMAIL_MAX = 254  # users.email's length
# An address an account logged in from stays known this long after its last login there: the login throttle's
# account- and address-wide delays, which strangers' failures can set, do not hold it (engine.services.throttle).
KNOWN_ADDRESS_FOR = timedelta(days=90)
# Failed logins since the account's last login on the staff pages: from NOTICE_AFTER its owner is told there (a
# typo or two is no news); the audit trail records `login_failures` at AUDIT_FAILURES, twice that, four times, ...
NOTICE_AFTER, AUDIT_FAILURES = 3, 5


def upsert_centre(
    orc: Orchestrator, code: str, name: str, currency: str, labour_rate: Decimal | float | str, timezone: str = "UTC"
) -> None:
    with orc.uow() as uow:
        centre = uow.session.get(Centre, code) or Centre(code=code)
        centre.name, centre.currency, centre.labour_rate, centre.timezone = (
            name,
            currency,
            Decimal(str(labour_rate)),
            timezone,
        )
        uow.session.add(centre)
        uow.commit()


def list_centres(orc: Orchestrator) -> list[dict]:
    with orc.reading() as s:
        return [
            {
                "code": c.code,
                "name": c.name,
                "currency": c.currency,
                "labour_rate": c.labour_rate,
                "timezone": c.timezone,
            }
            for c in s.scalars(select(Centre).order_by(Centre.code))
        ]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_text(**values: str | None) -> None:
    """InvalidInput naming each field whose text no column can store (a NUL, a lone surrogate): a username or a
    password entered at the login form, the token API, the staff page or the command line."""
    errors = {
        field: [why] for field, value in values.items() if isinstance(value, str) and (why := text_refusal(value))
    }
    if errors:
        raise InvalidInput(f"{', '.join(errors)}: {next(iter(errors.values()))[0]}", errors)


def add_user(
    orc: Orchestrator,
    username: str,
    role: str,
    centre: str | None,
    password: str | None,
    full_name: str = "",
    password_hash: str | None = None,
    email: str | None = None,
) -> None:
    """Create or reset a staff account (give `password`, or a `password_hash` from hash_password).

    `email`: where SLA escalation mails reach a manager (see set_staff_email); None keeps the one it has."""
    check_text(username=username, centre=centre, password=password, full_name=full_name, email=email)
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role}; choose one of {', '.join(ROLES)}")
    address = check_email(email) if email is not None else None
    if role in ("reception", "technician", "qa") and not centre:
        raise InvalidInput(f"role {role} needs a centre")
    with orc.uow() as uow:
        s = uow.session
        if centre and s.get(Centre, centre) is None:
            raise InvalidInput(f"unknown centre {centre}")
        # locked: a login verifying the old password waits, then sees the new one (sign_in)
        user = s.scalar(select(User).where(User.username == username).with_for_update()) or User(username=username)
        user.role, user.centre_code, user.full_name = role, centre or None, full_name or username
        user.organisation_id = None  # a staff account belongs to no partner (engine.services.partners)
        if password_hash:
            new_hash = password_hash
        elif password is not None:
            new_hash = _hasher.hash(password)
        else:
            raise InvalidInput("give a password or a password hash")
        if user.id is not None and user.password_hash != new_hash:
            # A reset password also ends every token and every session issued under the old one.
            _revoke_tokens(s, user.id)
            user.session_epoch += 1  # the row is locked: no concurrent change is lost
        user.password_hash = new_hash
        user.active = True
        if email is not None:
            user.email = address
        s.add(user)
        uow.commit()


def check_email(email: str | None) -> str | None:
    """A staff member's e-mail address without surrounding blanks, None when empty; InvalidInput unless it
    looks like one address (name@domain.tld, at most 254 characters)."""
    address = (email or "").strip()
    if not address:
        return None
    if len(address) > EMAIL_MAX or not _EMAIL.match(address):
        raise InvalidInput(
            f"not an e-mail address: {address[:80]}", {"email": ["Enter one address, like name@example.com."]}
        )
    return address


def _staff_view(user: User) -> dict:
    return {
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role,
        "centre": user.centre_code,
        "email": user.email,
        "active": user.active,
    }


def _may_manage(actor: Actor, user: User) -> bool:
    """A global manager (or the system) manages every account, a centre's manager those of his centre."""
    return actor.is_global or (user.centre_code is not None and user.centre_code == actor.centre)


def _require_staff_manager(actor: Actor) -> None:
    if actor.role not in STAFF_MANAGERS:
        raise NotAllowed("only a manager may manage staff accounts")


def list_staff(orc: Orchestrator, actor: Actor) -> list[dict]:
    """The staff accounts the manager manages: all for a manager of all centres, else his centre's."""
    _require_staff_manager(actor)
    query = select(User).order_by(User.username)
    if not actor.is_global:
        query = query.where(User.centre_code == actor.centre)
    with orc.reading() as s:
        return [_staff_view(u) for u in s.scalars(query)]


def set_staff_email(orc: Orchestrator, actor: Actor, username: str, email: str | None) -> dict:
    """Set the address a staff member is mailed at (SLA escalations go to managers'); empty or None removes it.

    By a manager (the staff page) or the system (`rma users set-email`); an account the manager does not
    manage is NotFound, as if it did not exist. The change is audited (`staff_email_changed`)."""
    _require_staff_manager(actor)
    check_text(username=username, email=email)
    address = check_email(email)
    with orc.uow() as uow:
        s = uow.session
        user = s.scalar(select(User).where(User.username == username))
        if user is None or not _may_manage(actor, user):
            raise NotFound(f"no user {username}")
        if user.email != address:
            before, user.email = user.email, address
            audit(
                s,
                None,
                actor,
                "staff_email_changed",
                f"e-mail of {username} {'set' if address else 'removed'}",
                data={"username": username, "email": address, "previous": before},
            )
        view = _staff_view(user)
        uow.commit()
        return view


@dataclass(frozen=True)
class SignIn:
    """A correct login: the actor, the session epoch a staff session carries (web/auth), and the bearer token
    when one was asked for (issued in the transaction that checked the password, under the user's row lock, so
    a disable or password change committed meanwhile either comes first and refuses it or revokes it)."""

    actor: Actor
    session_epoch: int
    token: dict | None = None
    # failed logins on the account since its last login on the staff pages (count, last_at, last_from), when
    # there were NOTICE_AFTER or more and the login asked for the notice
    failures: dict | None = None


def _verified_user(s: Session, username: str, password: str) -> User:
    """The active user with this password, its row locked until the transaction ends; else Unauthenticated."""
    user = None
    if username and "\x00" not in username:  # no stored name has one; PostgreSQL would refuse the query
        user = s.scalar(select(User).where(User.username == username, User.active).with_for_update())
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password or "")
    except VerificationError:
        user = None
    if user is None:  # a disabled account answers like a wrong password
        raise Unauthenticated("wrong username or password")
    return user


def authenticate(orc: Orchestrator, username: str, password: str) -> Actor:
    """The actor for a correct username and password, else Unauthenticated."""
    check_text(username=username, password=password)
    with orc.uow() as uow:
        return _actor(_verified_user(uow.session, username, password))


def _sign_in(orc: Orchestrator, username: str, password: str, address: str | None, token: bool, notice: bool) -> SignIn:
    with orc.uow() as uow:
        s = uow.session
        user = _verified_user(s, username, password)
        if address is not None:
            _remember_address(s, user.id, address)
        failures = None
        if notice:
            if user.failed_logins >= NOTICE_AFTER:
                failures = {
                    "count": user.failed_logins,
                    "last_at": user.last_failed_login_at,
                    "last_from": user.last_failed_login_from,
                }
            user.failed_logins, user.last_failed_login_at, user.last_failed_login_from = 0, None, None
        issued = _new_token(orc, s, user.id) if token else None
        result = SignIn(_actor(user), user.session_epoch, issued, failures)
        uow.commit()
    return result


def _remember_address(s: Session, user_id: int, address: str) -> None:
    """The user logged in from `address` now (the user's row is locked: no two logins insert it at once)."""
    now = utcnow()
    known = s.get(KnownLoginAddress, (user_id, address))
    if known is not None:
        known.last_login_at = now
        return
    s.execute(
        delete(KnownLoginAddress).where(
            KnownLoginAddress.user_id == user_id, KnownLoginAddress.last_login_at < now - KNOWN_ADDRESS_FOR
        )
    )
    s.add(KnownLoginAddress(user_id=user_id, address=address, last_login_at=now))


_KNOWN_ADDRESS = (
    select(KnownLoginAddress.last_login_at)
    .join(User, User.id == KnownLoginAddress.user_id)
    .where(User.username == bindparam("username"), KnownLoginAddress.address == bindparam("address"))
)


def _known_address(orc: Orchestrator, username: str, address: str | None) -> bool:
    """Whether the account logged in from `address` within KNOWN_ADDRESS_FOR (one read)."""
    if address is None or not username or "\x00" in username:
        return False
    with single_read(orc.db) as conn:
        row = conn.execute(_KNOWN_ADDRESS, {"username": username, "address": address}).first()
    return row is not None and row.last_login_at > utcnow() - KNOWN_ADDRESS_FOR


def _record_failure(orc: Orchestrator, username: str, address: str | None) -> None:
    """A wrong password for an existing account: counted for its owner's notice; audited at 5, 10, 20, ..."""
    if not username or "\x00" in username:
        return
    with orc.uow() as uow:
        s = uow.session
        user = s.scalar(select(User).where(User.username == username).with_for_update())
        if user is None:
            return
        user.failed_logins += 1
        user.last_failed_login_at, user.last_failed_login_from = utcnow(), address
        count, times = user.failed_logins, user.failed_logins // AUDIT_FAILURES
        if count % AUDIT_FAILURES == 0 and times & (times - 1) == 0:  # 5, 10, 20, 40, ...
            audit(
                s,
                None,
                Actor.system(),
                "login_failures",
                f"{count} failed logins on {username} since its last login, the last from "
                f"{address or 'an unknown address'}",
                data={"username": username, "failures": count, "last_from": address},
            )
        uow.commit()


def sign_in(
    orc: Orchestrator,
    username: str,
    password: str,
    address: str | None = None,
    *,
    token: bool = False,
    notice: bool = False,
) -> SignIn:
    """A login behind the login throttle (a growing delay per account and address: 429 while it lasts, see
    engine.services.throttle); with `token`, a new bearer token too; with `notice` (the staff login page), the
    failed logins since the last such login (SignIn.failures), whose count it then resets."""
    check_text(username=username, password=password)  # 422: no account has such a name, none such a password
    address = throttle.client_address(address)
    counted = throttle.count_login(orc, username, address, _known_address(orc, username, address))
    try:
        result = _sign_in(orc, username, password, address, token, notice)  # a wrong password stays counted
    except Unauthenticated:
        _record_failure(orc, username, address)
        raise
    throttle.login_succeeded(orc, counted)
    return result


def login(orc: Orchestrator, username: str, password: str, address: str | None = None) -> Actor:
    """sign_in()'s actor: authenticate() behind the login throttle."""
    return sign_in(orc, username, password, address).actor


def _actor(user: User | Row) -> Actor:
    """From a User, or a row of its username, role, centre_code, id and organisation_id."""
    return Actor(user.username, user.role, user.centre_code, user.id, user.organisation_id)


_ACTIVE_USER = select(User.username, User.role, User.centre_code, User.id, User.organisation_id).where(
    User.username == bindparam("username"), User.active
)


def actor_by_username(orc: Orchestrator, username: str) -> Actor | None:
    """The actor of an active account (the staff pages load it on every request: one read, no ORM session)."""
    with single_read(orc.db) as conn:
        row = conn.execute(_ACTIVE_USER, {"username": username}).first()
    return _actor(row) if row else None


_SESSION_USER = select(
    User.username, User.role, User.centre_code, User.id, User.organisation_id, User.session_epoch
).where(User.username == bindparam("username"), User.active)


def session_actor(orc: Orchestrator, username: str, epoch: int | None) -> Actor | None:
    """The actor of a staff session signed at `epoch`: None once the account is disabled, or its sessions were
    ended since (logout, a new password, a disable). The staff pages call it on every request: one read."""
    if epoch is None:
        return None
    with single_read(orc.db) as conn:
        row = conn.execute(_SESSION_USER, {"username": username}).first()
    return _actor(row) if row is not None and row.session_epoch == epoch else None


def end_sessions(orc: Orchestrator, actor: Actor) -> None:
    """End every staff session of the actor's account, on every web process (logging out)."""
    if actor.user_id is None:
        return
    with orc.uow() as uow:
        uow.session.execute(update(User).where(User.id == actor.user_id).values(session_epoch=User.session_epoch + 1))
        uow.commit()


def _revoke_tokens(s: Session, user_id: int) -> int:
    """Revoke every live token of the user; how many were revoked."""
    result = s.execute(
        update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    return cast(CursorResult, result).rowcount  # an UPDATE's result (Session.execute is typed for rows)


def _managed_user(s: Session, actor: Actor, username: str) -> User:
    """The account, its row locked; NotFound unless the actor manages it."""
    _require_staff_manager(actor)
    check_text(username=username)
    user = s.scalar(select(User).where(User.username == username).with_for_update())
    if user is None or not _may_manage(actor, user):
        raise NotFound(f"no user {username}")
    return user


def disable_user(orc: Orchestrator, actor: Actor, username: str) -> dict:
    """Disable an account: its logins are refused (401), every API token is revoked for good (re-enabling does
    not revive one) and every staff session ends at once. `changed` is False when it was disabled already (only
    the disable that changed it is audited, `user_disabled`); tokens are revoked either way."""
    with orc.uow() as uow:
        s = uow.session
        user = _managed_user(s, actor, username)
        if actor.user_id is not None and actor.user_id == user.id:
            raise InvalidInput("you cannot disable your own account")
        revoked, changed = _revoke_tokens(s, user.id), user.active
        if changed:
            user.active = False
            user.session_epoch += 1
            audit(
                s,
                None,
                actor,
                "user_disabled",
                f"{username} disabled: {revoked} token(s) revoked, sessions ended",
                data={"username": username, "tokens_revoked": revoked},
            )
        view = {**_staff_view(user), "changed": changed, "tokens_revoked": revoked}
        uow.commit()
        return view


def enable_user(orc: Orchestrator, actor: Actor, username: str) -> dict:
    """Let a disabled account log in again (with its password; tokens revoked by the disable stay revoked).
    `changed` is False when it was enabled already; only the enable that changed it is audited (`user_enabled`)."""
    with orc.uow() as uow:
        s = uow.session
        user = _managed_user(s, actor, username)
        changed = not user.active
        if changed:
            user.active = True
            audit(s, None, actor, "user_enabled", f"{username} enabled", data={"username": username})
        view = {**_staff_view(user), "changed": changed}
        uow.commit()
        return view


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(orc: Orchestrator, s: Session, user_id: int) -> dict:
    token = secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(hours=orc.settings.token_ttl_hours)
    s.add(ApiToken(user_id=user_id, token_hash=_digest(token), expires_at=expires))
    return {"token": token, "expires_at": expires}


def issue_token(orc: Orchestrator, actor: Actor) -> dict:
    """A new bearer token for an active account (Unauthenticated for a disabled one); only its hash is stored."""
    with orc.uow() as uow:
        user = uow.session.get(User, actor.user_id, with_for_update=True) if actor.user_id is not None else None
        if user is None or not user.active:
            raise Unauthenticated("this account is disabled")
        issued = _new_token(orc, uow.session, user.id)
        uow.commit()
    return issued


# The token with its user in one indexed read: it runs before every API call, so no ORM session.
_TOKEN_WITH_USER = (
    select(
        ApiToken.revoked_at,
        ApiToken.expires_at,
        User.active,
        User.username,
        User.role,
        User.centre_code,
        User.id,
        User.organisation_id,
    )
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


def actor_for_token(orc: Orchestrator, token: str) -> Actor:
    """The actor of a bearer token, read afresh on every call: a revoked token or a disabled user is refused at once."""
    with single_read(orc.db) as conn:
        row = conn.execute(_TOKEN_WITH_USER, {"token_hash": _digest(token)}).first()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow() or not row.active:
        raise Unauthenticated("invalid or expired token")
    return _actor(row)


def list_tokens(orc: Orchestrator, actor: Actor, current: str | None = None) -> list[dict]:
    """The actor's own tokens, newest first (never the token itself: only its hash is stored)."""
    now, current_hash = utcnow(), _digest(current) if current else None
    with orc.reading() as s:
        rows = s.scalars(
            select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.id.desc()).limit(200)
        )
        return [
            {
                "id": t.id,
                "created_at": t.created_at,
                "expires_at": t.expires_at,
                "revoked_at": t.revoked_at,
                "active": t.revoked_at is None and t.expires_at > now,
                "current": t.token_hash == current_hash,
            }
            for t in rows
        ]


def revoke_token_by_id(orc: Orchestrator, actor: Actor, token_id: int) -> None:
    """Revoke one of the actor's own tokens; another user's token is 404, as if it did not exist."""
    with orc.uow() as uow:
        row = uow.session.get(ApiToken, token_id)
        if row is None or row.user_id != actor.user_id:
            raise NotFound(f"token {token_id} not found")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        uow.commit()


def revoke_token(orc: Orchestrator, token: str) -> None:
    with orc.uow() as uow:
        row = uow.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()
        uow.commit()
