"""Partner organisations (installers, dealers, distributors) and their accounts (issue 17, point 1).

A manager of the organisation's centre (or of every centre) creates the organisation and its accounts; an account
has the role `partner`, no centre, and its organisation: every read below is scoped to that organisation, and an
RMA or a batch of another organisation is answered as if it did not exist (404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.actors import PARTNER, Actor
from engine.adapters import mail_address
from engine.errors import Conflict, InvalidInput, NotAllowed, NotFound, text_refusal
from engine.services.users import hash_password
from engine.store.audit import audit
from engine.store.model import Centre, Organisation, User, utcnow

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

TYPES = ("installer", "dealer", "distributor")
LANGUAGES = ("en", "de")
MANAGING_ROLES = ("manager",)
# column -> (longest value stored, required)
FIELDS = {
    "name": (200, True),
    "contact_name": (200, False),
    "contact_email": (254, True),
    "contact_phone": (40, False),
}
USERNAME_MAX, FULL_NAME_MAX, PASSWORD_MIN, PASSWORD_MAX = 120, 200, 8, 200


class OrganisationNotFound(NotFound):
    code = "organisation_not_found"


def _require_manager(actor: Actor, centre: str | None = None) -> None:
    if actor.role not in MANAGING_ROLES or (centre is not None and not actor.may_see_centre(centre)):
        raise NotAllowed("only a manager of the organisation's centre may manage partners")


def _text_errors(payload: dict) -> dict:
    errors: dict[str, list[str]] = {}
    for field, (longest, required) in FIELDS.items():
        value = payload.get(field)
        if value is None or value == "":
            if required:
                errors[field] = ["Required."]
            continue
        if not isinstance(value, str):
            errors[field] = ["Must be text."]
        elif (why := text_refusal(value)) is not None:
            errors[field] = [why]
        elif len(value) > longest:
            errors[field] = [f"At most {longest} characters."]
        elif not value.strip():
            errors[field] = ["Required."] if required else ["Must not be blank."]
    email = payload.get("contact_email")
    if "contact_email" not in errors and isinstance(email, str):
        try:
            mail_address.parse(email)
        except mail_address.AddressError as exc:
            errors["contact_email"] = [f"Not an address mail can be sent to: {exc}."]
    if payload.get("type") not in TYPES:
        errors["type"] = [f"One of {', '.join(TYPES)}."]
    if (payload.get("language") or "en") not in LANGUAGES:
        errors["language"] = [f"One of {', '.join(LANGUAGES)}."]
    return errors


def create_organisation(orc: Orchestrator, actor: Actor, payload: dict) -> dict:
    """A new partner organisation served by `centre` (a manager of that centre); 422 per field, 409 for a taken name."""
    centre = payload.get("centre")
    if not isinstance(centre, str) or not centre or len(centre) > 16 or text_refusal(centre):
        raise InvalidInput("the organisation has invalid fields", {"centre": ["Required."]})
    _require_manager(actor, centre)
    errors = _text_errors(payload)
    if errors:
        raise InvalidInput("the organisation has invalid fields", errors)
    name = " ".join(payload["name"].split())
    with orc.uow() as uow:
        s = uow.session
        if s.get(Centre, centre) is None:
            raise InvalidInput(f"unknown centre {centre}", {"centre": [f"Unknown centre '{centre}'."]})
        if s.scalar(select(Organisation.id).where(func.lower(Organisation.name) == name.lower())) is not None:
            raise Conflict(f"an organisation named '{name}' exists already")
        org = Organisation(
            name=name,
            type=payload["type"],
            centre_code=centre,
            contact_name=(payload.get("contact_name") or "").strip(),
            contact_email=payload["contact_email"].strip(),
            contact_phone=(payload.get("contact_phone") or "").strip() or None,
            language=payload.get("language") or "en",
            active=True,
            created_by=actor.username,
            created_at=utcnow(),
        )
        s.add(org)
        try:
            uow.flush()
        except IntegrityError:  # a concurrent create of the same name committed first
            raise Conflict(f"an organisation named '{name}' exists already") from None
        audit(s, None, actor, "organisation_created", f"partner organisation {org.name} ({org.type}) at {centre}")
        view = organisation_view(org)
        uow.commit()
    return view


def organisation_view(org: Organisation, users: list[User] | None = None) -> dict:
    view = {
        "id": org.id,
        "name": org.name,
        "type": org.type,
        "centre": org.centre_code,
        "contact_name": org.contact_name,
        "contact_email": org.contact_email,
        "contact_phone": org.contact_phone,
        "language": org.language,
        "active": org.active,
        "created_at": org.created_at,
    }
    if users is not None:
        view["users"] = [
            {"username": u.username, "full_name": u.full_name, "email": u.email, "active": u.active} for u in users
        ]
    return view


def list_organisations(orc: Orchestrator, actor: Actor) -> list[dict]:
    """The organisations of the centres a manager sees (a partner: its own), by name."""
    query = select(Organisation).order_by(Organisation.name)
    if actor.is_partner:
        query = query.where(Organisation.id == actor.organisation)
    else:
        if actor.role not in MANAGING_ROLES + ("reception",):  # reception opens batches on a partner's behalf
            raise NotAllowed("only managers and reception read partner organisations")
        if not actor.is_global:
            query = query.where(Organisation.centre_code == actor.centre)
    with orc.reading() as s:
        return [organisation_view(o) for o in s.scalars(query)]


def visible_organisation(session: Session, actor: Actor, org_id: int) -> Organisation:
    """The organisation if the actor may see it (its partner, a manager of its centre); 404 otherwise."""
    org = session.get(Organisation, org_id)
    if org is None:
        raise OrganisationNotFound(f"organisation {org_id} not found")
    if actor.is_partner:
        if actor.organisation != org.id:
            raise OrganisationNotFound(f"organisation {org_id} not found")
    elif actor.role not in MANAGING_ROLES + ("reception",) or not actor.may_see_centre(org.centre_code):
        raise OrganisationNotFound(f"organisation {org_id} not found")
    return org


def get_organisation(orc: Orchestrator, actor: Actor, org_id: int) -> dict:
    with orc.reading() as s:
        org = visible_organisation(s, actor, org_id)
        users = s.scalars(select(User).where(User.organisation_id == org.id).order_by(User.username)).all()
        return organisation_view(org, list(users))


def add_partner_user(
    orc: Orchestrator,
    actor: Actor,
    org_id: int,
    username: str,
    password: str,
    full_name: str = "",
    email: str | None = None,
) -> dict:
    """A new account with the role `partner` in the organisation (a manager of its centre); 409 for a taken name."""
    errors: dict[str, list[str]] = {}
    for field, value, longest in (
        ("username", username, USERNAME_MAX),
        ("full_name", full_name, FULL_NAME_MAX),
        ("password", password, PASSWORD_MAX),
        ("email", email or "", 254),
    ):
        if not isinstance(value, str):
            errors[field] = ["Must be text."]
        elif (why := text_refusal(value)) is not None:
            errors[field] = [why]
        elif len(value) > longest:
            errors[field] = [f"At most {longest} characters."]
    if "username" not in errors and (not username.strip() or username != username.strip()):
        errors["username"] = ["Required, without spaces around it."]
    if "password" not in errors and len(password) < PASSWORD_MIN:
        errors["password"] = [f"At least {PASSWORD_MIN} characters."]
    if email and "email" not in errors:
        try:
            mail_address.parse(email)
        except mail_address.AddressError as exc:
            errors["email"] = [f"Not an address mail can be sent to: {exc}."]
    if errors:
        raise InvalidInput("the account has invalid fields", errors)
    password_hash = hash_password(password)
    with orc.uow() as uow:
        s = uow.session
        org = s.get(Organisation, org_id)
        if org is None:
            raise OrganisationNotFound(f"organisation {org_id} not found")
        _require_manager(actor, org.centre_code)
        if s.scalar(select(User.id).where(User.username == username)) is not None:
            raise Conflict(f"the username '{username}' is taken")
        user = User(
            username=username,
            password_hash=password_hash,
            role=PARTNER,
            centre_code=None,
            organisation_id=org.id,
            full_name=full_name.strip() or username,
            email=email or None,
            active=True,
            created_at=utcnow(),
        )
        s.add(user)
        try:
            uow.flush()
        except IntegrityError:  # a concurrent add of the same name committed first
            raise Conflict(f"the username '{username}' is taken") from None
        audit(s, None, actor, "partner_user_added", f"partner account {username} for {org.name}")
        uow.commit()
    return {"username": username, "organisation": org_id, "role": PARTNER}
