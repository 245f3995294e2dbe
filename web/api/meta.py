"""Liveness and reference data."""

from __future__ import annotations

from engine.services import users
from web.schemas import CentreSchema, HealthSchema

from .common import Blueprint, orchestrator, secured

blp = Blueprint("api_meta", __name__, url_prefix="/api", description="Health check and reference data.")


@blp.route("/health")
@blp.response(200, HealthSchema)
def health():
    """Liveness probe; needs no credentials."""
    return {"status": "ok"}


@blp.route("/centres")
@secured(blp)
@blp.response(200, CentreSchema(many=True))
def list_centres():
    """Service centres with their currency and labour rate."""
    return users.list_centres(orchestrator())
