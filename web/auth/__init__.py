"""Staff login (session cookie, CSRF-protected form) and bearer tokens for the API."""

from __future__ import annotations

from functools import wraps

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


class StaffUser(UserMixin):
    """Flask-Login's view of an engine Actor."""

    def __init__(self, actor: Actor):
        self.actor = actor

    def get_id(self) -> str:
        return self.actor.username


def orchestrator():
    return current_app.extensions["rma"]


@login_manager.user_loader
def _load_user(username: str):
    actor = user_service.actor_by_username(orchestrator(), username)
    return StaffUser(actor) if actor else None


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


def _safe_next(target: str) -> str | None:
    """Only a path on this site: browsers read `//host` and `/\\host` as another site."""
    if not target.startswith("/") or target.startswith("//") or target.startswith("/\\") or "\\" in target:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        try:
            actor = user_service.login(
                orchestrator(),
                request.form.get("username", ""),
                request.form.get("password", ""),
                address=request.remote_addr,
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
        session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME, checked on every request
        login_user(StaffUser(actor))
        return redirect(_safe_next(request.args.get("next", "")) or url_for("staff.inbox"))
    return render_template("login.html", username="")


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


def register_auth(app) -> None:
    login_manager.init_app(app)
    app.register_blueprint(bp)
    guards.register(app)
