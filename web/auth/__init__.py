"""Staff login (session cookie, CSRF-protected form) and bearer tokens for the API."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import MutableMapping
from datetime import timedelta
from functools import wraps
from urllib.parse import unquote, urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user

from engine import Actor
from engine.errors import NotAllowed, Unauthenticated
from engine.services import throttle
from engine.services import users as user_service

from . import guards

bp = Blueprint("auth", __name__, template_folder="templates")
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."


# However active, a staff session ends this long after its login (a working day); idle, earlier
# (PERMANENT_SESSION_LIFETIME, web/__init__.py).
SESSION_MAX_AGE = timedelta(hours=12)


class StaffUser(UserMixin):
    """Flask-Login's view of an engine Actor."""

    def __init__(self, actor: Actor):
        self.actor = actor

    def get_id(self) -> str:
        return self.actor.username


def orchestrator():
    return current_app.extensions["rma"]


# What a login keeps in the signed session cookie besides Flask-Login's `_user_id`: the account's session epoch
# (a logout, a new password or a disable moves it on, ending the session on every web process at once) and when
# it signed in (the absolute lifetime: the cookie's idle lifetime renews on every request, this does not).
EPOCH, SIGNED_IN_AT = "rma_epoch", "rma_signed_in_at"


def stamp_session(target: MutableMapping, username: str, epoch: int) -> None:
    """Fill a fresh session as a login does (the login view; tests that skip the login form)."""
    target["_user_id"], target["_fresh"] = username, True
    target[EPOCH], target[SIGNED_IN_AT] = epoch, int(time.time())


def _within_lifetime(signed_in_at) -> bool:
    if not isinstance(signed_in_at, int):  # a session from before the epoch existed: log in again
        return False
    age = time.time() - signed_in_at
    return -60 <= age <= current_app.config["RMA_SESSION_MAX_AGE"].total_seconds()


@login_manager.user_loader
def _load_user(username: str):
    """Every request of a staff session: refused once older than its absolute lifetime, once its account is
    disabled, or once the account's sessions were ended (the epoch moved on)."""
    actor = None
    if _within_lifetime(session.get(SIGNED_IN_AT)):
        epoch = session.get(EPOCH)
        actor = user_service.session_actor(orchestrator(), username, epoch if isinstance(epoch, int) else None)
    if actor is None:
        for key in ("_user_id", "_fresh", "_id", EPOCH, SIGNED_IN_AT):  # the dead login leaves the cookie
            session.pop(key, None)
        return None
    return StaffUser(actor)


def api_actor() -> Actor:
    """The caller of an API request: a bearer token, or a logged-in browser session."""
    if "actor" in g:
        return g.actor
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        g.actor = user_service.actor_for_token(orchestrator(), header[7:].strip())
    elif current_user.is_authenticated:
        g.actor = current_user.actor
    else:
        raise Unauthenticated("log in, or send Authorization: Bearer <token>")
    return g.actor


def staff_actor() -> Actor:
    return current_user.actor


def refuse_staff_credentials() -> None:
    """Only the customer decides on their quote: a decision carrying a staff session or a bearer token is 403, so
    nobody at a centre can act as the customer with the tracking link they were shown."""
    if request.headers.get("Authorization", "").lower().startswith("bearer ") or current_user.is_authenticated:
        raise NotAllowed("staff may not decide for the customer: the customer answers from their own tracking link")


def roles_required(*roles):
    """Page decorator: logged in, with one of `roles`."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if roles and current_user.actor.role not in roles:
                raise NotAllowed("your role may not open this page")
            return view(*args, **kwargs)

        return wrapped

    return decorator


# Characters that never belong in a path we follow: controls (CR and LF would split the Location header),
# format characters, and every kind of space, which browsers strip or read as a separator (tab, U+3000, ...).
# Once percent-decoded a path may hold a space (a search term), never a control or a line separator.
_CONTROLS = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
NEXT_MAX = 2000


def _on_this_site(path: str, decoded: bool = False) -> bool:
    for c in path:
        if unicodedata.category(c) in _CONTROLS or (not decoded and (c.isspace() or unicodedata.category(c) == "Zs")):
            return False
    # `//host` and `/\host` are another site to a browser, and it reads any backslash as a slash
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return False
    parts = urlsplit(path)
    return not parts.scheme and not parts.netloc


def safe_next(target: str | None, default: str, within: str = "/") -> str:
    """`target` if it is a path on this site (under `within`), else `default`: the one check for every `next`
    the app follows (after login, claim and release, cancel). Refused, not repaired: a scheme or a host, a
    start of `//` or `/\\`, a backslash, control characters and whitespace (tab, CR, LF, U+3000), the same once
    percent-decoded, and anything longer than NEXT_MAX."""
    if not target or len(target) > NEXT_MAX or not target.startswith(within) or not _on_this_site(target):
        return default
    decoded = target
    for _ in range(3):  # what a proxy or a server further on may decode, up to three times
        decoded, before = unquote(decoded), decoded
        if decoded == before:
            break
        if not _on_this_site(decoded, decoded=True):
            return default
    return target


# Where each role starts its day: process owners on their processes, managers on the dashboard, the rest on tasks.
LANDING = {"process_owner": "owners.versions_page", "manager": "ops.dashboard", "partner": "partner.home"}


def landing_url(actor: Actor) -> str:
    return url_for(LANDING.get(actor.role, "staff.inbox"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        try:
            signed_in = user_service.sign_in(
                orchestrator(),
                request.form.get("username", ""),
                request.form.get("password", ""),
                address=request.remote_addr,
                notice=True,
            )
        except Unauthenticated:
            flash("Wrong username or password.", "error")
            return render_template("login.html", username=request.form.get("username", "")), 401
        except throttle.TooManyAttempts as exc:
            flash(f"Too many login attempts: try again in {exc.retry_after // 60 + 1} minutes.", "error")
            return (
                render_template("login.html", username=request.form.get("username", "")),
                429,
                {"Retry-After": str(exc.retry_after)},
            )
        # A fresh session (and so a fresh CSRF token): nothing planted before login carries over.
        session.clear()
        session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME idle, checked on every request
        login_user(StaffUser(signed_in.actor))
        stamp_session(session, signed_in.actor.username, signed_in.session_epoch)
        if signed_in.failures:
            flash(_failures_notice(signed_in.failures), "warning")
        return redirect(safe_next(request.args.get("next"), landing_url(signed_in.actor)))
    return render_template("login.html", username="")


def _failures_notice(failures: dict) -> str:
    last_at, last_from = failures["last_at"], failures["last_from"] or "an unknown address"
    when = f" at {last_at:%Y-%m-%d %H:%M} UTC" if last_at else ""
    return (
        f"{failures['count']} failed login attempts on your account since your last login, the last{when} from "
        f"{last_from}. If they were not yours, tell your manager."
    )


@bp.route("/logout", methods=["POST"])
def logout():
    """Ends every session of the account at once, on every web process and in every browser."""
    if current_user.is_authenticated:
        user_service.end_sessions(orchestrator(), current_user.actor)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


def register_auth(app) -> None:
    app.config.setdefault("RMA_SESSION_MAX_AGE", SESSION_MAX_AGE)
    login_manager.init_app(app)
    app.register_blueprint(bp)
    guards.register(app)
