"""Batches: many units a partner sends at once, each an RMA of its own (issue 17, point 2)."""

from __future__ import annotations

from flask import url_for

from engine.services import batches
from web.api.partner_schemas import (
    BatchCreatedSchema,
    BatchCreateSchema,
    BatchListArgsSchema,
    BatchPageSchema,
    BatchSchema,
)

from . import idempotency
from .common import Blueprint, caller, orchestrator, secured

blp = Blueprint(
    "api_batches",
    __name__,
    url_prefix="/api/batches",
    description="Batches of units from partners: one RMA and one process instance per unit.",
)


@blp.route("", methods=["POST"])
@secured(blp, 403, partners=True)
@blp.arguments(BatchCreateSchema)
@blp.response(201, BatchCreatedSchema)
@blp.doc(**idempotency.DOC)
def open_batch(payload):
    """Open a batch and one RMA per unit in one transaction (a partner for its organisation; reception or a
    manager naming the `organisation`). Every bad unit is listed under `errors.units.<index>`; nothing is stored
    while any remains (unknown model, a serial twice in the batch, more than 500 units)."""
    view = batches.open_batch(orchestrator(), caller(), payload, idempotency.key())
    return view, {"Location": url_for("api_batches.get_batch", batch_id=view["id"])}


@blp.route("", methods=["GET"])
@secured(blp, partners=True)
@blp.arguments(BatchListArgsSchema, location="query")
@blp.response(200, BatchPageSchema)
def list_batches(args):
    """The batches the caller may see, newest first, with their units per status."""
    return batches.list_batches(orchestrator(), caller(), **args)


@blp.route("/<int:batch_id>")
@secured(blp, 404, partners=True)
@blp.response(200, BatchSchema)
def get_batch(batch_id):
    """One batch: its units (status, stage, estimate, quote), units per status and the rolled-up estimate (404 for
    another organisation's or centre's batch)."""
    return batches.get_batch(orchestrator(), caller(), batch_id)
