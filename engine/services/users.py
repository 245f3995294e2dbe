"""Centres, staff accounts (with the e-mail address SLA escalations go to), password login and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import Row, bindparam, select, update

from engine.actors import ROLES, Actor
from engine.errors import InvalidInput, NotAllowed, NotFound, Unauthenticated
from engine.services import throttle
from engine.store.audit import audit
from engine.store.db import single_read
from engine.store.model import ApiToken, Centre, User, utcnow

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
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role}; choose one of {', '.join(ROLES)}")
    address = check_email(email) if email is not None else None
    if role in ("reception", "technician", "qa") and not centre:
        raise InvalidInput(f"role {role} needs a centre")
    with orc.uow() as uow:
        s = uow.session
        if centre and s.get(Centre, centre) is None:
            raise InvalidInput(f"unknown centre {centre}")
        user = s.scalar(select(User).where(User.username == username)) or User(username=username)
        user.role, user.centre_code, user.full_name = role, centre or None, full_name or username
        if password_hash:
            new_hash = password_hash
        elif password is not None:
            new_hash = _hasher.hash(password)
        else:
            raise InvalidInput("give a password or a password hash")
        if user.id is not None and user.password_hash != new_hash:
            # A reset password also ends every token issued under the old one.
            s.execute(
                update(ApiToken)
                .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
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


def authenticate(orc: Orchestrator, username: str, password: str) -> Actor:
    """The actor for a correct username and password, else Unauthenticated."""
    with orc.uow() as uow:
        user = None
        if username and "\x00" not in username:  # no stored name has one; PostgreSQL would refuse the query
            user = uow.session.scalar(select(User).where(User.username == username, User.active))
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password or "")
        except VerificationError:
            user = None
        if user is None:
            raise Unauthenticated("wrong username or password")
        return _actor(user)


def login(orc: Orchestrator, username: str, password: str, address: str | None = None) -> Actor:
    """authenticate() behind the login throttle: per username and per client address (429 when locked)."""
    user_key, address_key = throttle.login_user_key(username), throttle.login_address_key(address)
    throttle.hit(orc, {user_key: throttle.LOGIN_PER_USER, address_key: throttle.LOGIN_PER_ADDRESS})
    actor = authenticate(orc, username, password)  # a wrong password stays counted
    throttle.forget(orc, user_key)
    throttle.refund(orc, address_key, throttle.LOGIN_PER_ADDRESS)
    return actor


def _actor(user: User | Row) -> Actor:
    """From a User, or a row of its username, role, centre_code and id."""
    return Actor(user.username, user.role, user.centre_code, user.id)


_ACTIVE_USER = select(User.username, User.role, User.centre_code, User.id).where(
    User.username == bindparam("username"), User.active
)


def actor_by_username(orc: Orchestrator, username: str) -> Actor | None:
    """The actor of an active account (the staff pages load it on every request: one read, no ORM session)."""
    with single_read(orc.db) as conn:
        row = conn.execute(_ACTIVE_USER, {"username": username}).first()
    return _actor(row) if row else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(orc: Orchestrator, actor: Actor) -> dict:
    """A new bearer token; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(hours=orc.settings.token_ttl_hours)
    with orc.uow() as uow:
        uow.session.add(ApiToken(user_id=actor.user_id, token_hash=_digest(token), expires_at=expires))
        uow.commit()
    return {"token": token, "expires_at": expires}


# The token with its user in one indexed read: it runs before every API call, so no ORM session.
_TOKEN_WITH_USER = (
    select(ApiToken.revoked_at, ApiToken.expires_at, User.active, User.username, User.role, User.centre_code, User.id)
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
