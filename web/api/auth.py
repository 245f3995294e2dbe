"""Bearer tokens and who the caller is."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import BadRequest

from engine.services import users
from web.schemas import MeSchema, TokenInfoSchema, TokenRequestSchema, TokenSchema

from .common import Blueprint, bearer_token, caller, errors, orchestrator, secured

blp = Blueprint("api_auth", __name__, url_prefix="/api", description="Bearer tokens and the caller's identity.")
NO_STORE = {"Cache-Control": "no-store"}


@blp.route("/auth/token", methods=["POST"])
@blp.arguments(TokenRequestSchema)
@blp.response(200, TokenSchema)
@errors(blp, 401, 429)
def issue_token(credentials):
    """Exchange a staff username and password for a bearer token (failed tries are throttled: 429; a disabled
    account is 401)."""
    signed_in = users.sign_in(
        orchestrator(), credentials["username"], credentials["password"], address=request.remote_addr, token=True
    )
    return signed_in.token, NO_STORE


@blp.route("/auth/tokens")
@secured(blp, partners=True)
@blp.response(200, TokenInfoSchema(many=True))
def list_tokens():
    """The caller's own tokens, newest first: when each was issued, expires, or was revoked."""
    return users.list_tokens(orchestrator(), caller(), current=bearer_token())


@blp.route("/auth/tokens/<int:token_id>", methods=["DELETE"])
@secured(blp, 404, partners=True)
@blp.response(204)
def revoke_token_by_id(token_id):
    """Revoke one of the caller's own tokens, e.g. one left on a lost device."""
    users.revoke_token_by_id(orchestrator(), caller(), token_id)


@blp.route("/auth/revoke", methods=["POST"])
@secured(blp, 400, partners=True)
@blp.response(204)
def revoke_token():
    """Revoke the bearer token this request carries; it stops working at once."""
    token = bearer_token()
    if token is None:
        raise BadRequest("send the token to revoke as Authorization: Bearer <token>")
    users.revoke_token(orchestrator(), token)


@blp.route("/me")
@secured(blp, partners=True)
@blp.response(200, MeSchema)
def me():
    """The caller's username, role, centre (null for managers and owners of every centre) and, for a partner, its
    organisation's id."""
    actor = caller()
    return {"username": actor.username, "role": actor.role, "centre": actor.centre, "organisation": actor.organisation}
