"""What every API view shares: the orchestrator, the authenticated caller, documented errors."""

from __future__ import annotations

from functools import wraps

from flask import current_app, request
from flask_smorest import Blueprint as SmorestBlueprint

from engine import Actor
from engine.errors import NotAllowed
from web import csrf
from web.auth import api_actor
from web.json_body import ArgumentsParser
from web.schemas import ErrorSchema

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY = [{"bearerAuth": []}]
ERROR_TEXT = {
    400: "Malformed request",
    401: "Missing, invalid, expired or revoked credentials",
    403: "The caller's role or centre may not do this",
    404: "Not found (or not visible to the caller)",
    409: "Conflict with the current state (task no longer open, claimed by someone else, nothing pending)",
    422: "Invalid input: `errors` maps each field to its messages",
    429: "Too many failed attempts: wait the seconds given in the Retry-After header",
}


class Blueprint(SmorestBlueprint):
    """flask-smorest's Blueprint whose `arguments` schemas are built once, when the view is declared.

    Given a Schema class, webargs would build a new instance on every request; the instance is
    stateless between loads, so one serves every request (the OpenAPI document is the same).
    """

    ARGUMENTS_PARSER = ArgumentsParser()  # JSON bodies read as Flask reads them (web/json_body.py)

    def arguments(self, schema, **kwargs):
        return super().arguments(schema() if isinstance(schema, type) else schema, **kwargs)


def orchestrator():
    return current_app.extensions["rma"]


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    return header[7:].strip() or None


def caller() -> Actor:
    """The authenticated actor (401 otherwise).

    The API blueprints are CSRF-exempt so bearer-token clients need no CSRF token; a caller riding
    on a browser session cookie must still pass the CSRF check on unsafe methods.
    """
    actor = api_actor()
    if actor.is_partner and not getattr(current_app.view_functions.get(request.endpoint or ""), "partners", False):
        # A partner's credentials open only the views marked for partners (secured(..., partners=True)): every
        # other endpoint reads or changes centres' RMAs, which a partner never sees.
        raise NotAllowed("a partner account may use only the partner endpoints (/api/organisations, /api/batches)")
    if (
        request.method not in SAFE_METHODS
        and bearer_token() is None
        and current_app.config.get("WTF_CSRF_ENABLED", True)
    ):
        csrf.protect()
    return actor


def errors(blp, *statuses: int):
    """Document the error responses a view can give, all with the one Error schema."""

    def decorate(view):
        for status in statuses:
            view = blp.alt_response(status, schema=ErrorSchema, description=ERROR_TEXT[status])(view)
        return view

    return decorate


def secured(blp, *statuses: int, partners: bool = False):
    """Authenticate before the request body is parsed (401 beats 422); document bearerAuth and errors.

    Place it right under `@blp.route`. `partners=True`: a partner's credentials may call it too (the service
    scopes what they see to their organisation); every other view answers them 403.
    """

    def decorate(view):
        @wraps(view)
        def authenticated(*args, **kwargs):
            caller()
            return view(*args, **kwargs)

        authenticated = errors(blp, 401, *statuses)(authenticated)
        authenticated = blp.doc(security=SECURITY)(authenticated)
        authenticated.partners = partners
        return authenticated

    return decorate
