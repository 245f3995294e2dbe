"""Bearer tokens and who the caller is."""
from __future__ import annotations

from flask_smorest import Blueprint
from werkzeug.exceptions import BadRequest

from engine.services import users
from web.schemas import MeSchema, TokenRequestSchema, TokenSchema

from .common import bearer_token, caller, errors, orchestrator, secured

blp = Blueprint("api_auth", __name__, url_prefix="/api", description="Bearer tokens and the caller's identity.")
NO_STORE = {"Cache-Control": "no-store"}


@blp.route("/auth/token", methods=["POST"])
@blp.arguments(TokenRequestSchema)
@blp.response(200, TokenSchema)
@errors(blp, 401)
def issue_token(credentials):
    """Exchange a staff username and password for a bearer token."""
    actor = users.authenticate(orchestrator(), credentials["username"], credentials["password"])
    return users.issue_token(orchestrator(), actor), NO_STORE


@blp.route("/auth/revoke", methods=["POST"])
@secured(blp, 400)
@blp.response(204)
def revoke_token():
    """Revoke the bearer token this request carries; it stops working at once."""
    token = bearer_token()
    if token is None:
        raise BadRequest("send the token to revoke as Authorization: Bearer <token>")
    users.revoke_token(orchestrator(), token)


@blp.route("/me")
@secured(blp)
@blp.response(200, MeSchema)
def me():
    """The caller's username, role and centre (null for managers and owners of every centre)."""
    actor = caller()
    return {"username": actor.username, "role": actor.role, "centre": actor.centre}
