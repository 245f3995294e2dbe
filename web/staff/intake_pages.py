"""An online request as staff see it: the proof of purchase to open, the customer's troubleshooting answers."""

from __future__ import annotations

import io

from flask import send_file

from engine.services import intake
from engine.services import requests as request_service

from ..auth import orchestrator, roles_required, staff_actor
from . import bp


@bp.context_processor
def _online_request_panel() -> dict:
    """`online_request(rma_id)` for the RMA page's panel (None for an RMA opened at the counter)."""
    return {"online_request": lambda rma_id: intake.online_request(orchestrator(), staff_actor(), rma_id)}


@bp.get("/rmas/<int:rma_id>/proof")
@roles_required()
def proof_of_purchase(rma_id: int):
    """The customer's proof of purchase (PDF, PNG or JPEG, checked by its bytes at upload), opened in the browser."""
    data, content_type, filename = request_service.proof_of(orchestrator(), staff_actor(), rma_id)
    response = send_file(io.BytesIO(data), mimetype=content_type or "application/octet-stream", download_name=filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
