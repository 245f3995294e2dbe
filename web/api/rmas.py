"""Open, list and show RMAs."""

from __future__ import annotations

from flask import url_for
from marshmallow import Schema, fields

from engine.services import process_messages, rmas
from web.schemas import RmaCreateSchema, RmaListArgsSchema, RmaPageSchema, RmaSchema, RmaStateSchema

from . import idempotency
from .common import Blueprint, caller, orchestrator, secured


class DeliverMessageSchema(Schema):
    data = fields.Dict(
        keys=fields.String(),
        load_default=dict,
        metadata={"description": "The message's payload: lands in the task data as the catching event says"},
    )


class DeliveredMessageSchema(Schema):
    message = fields.String()
    rma = fields.Nested(RmaStateSchema)


blp = Blueprint(
    "api_rmas",
    __name__,
    url_prefix="/api/rmas",
    description="Return merchandise authorisations: one repair case each, run by a BPMN process.",
)


@blp.route("", methods=["POST"])
@secured(blp, 403)
@blp.arguments(RmaCreateSchema)
@blp.response(201, RmaSchema)
@blp.doc(**idempotency.DOC)
def open_rma(payload):
    """Register a unit at a centre and start its repair process (reception or manager)."""
    orc, actor = orchestrator(), caller()
    view = _with_awaited(orc, actor, rmas.open_rma(orc, actor, payload, idempotency.key()))
    return view, {"Location": url_for("api_rmas.get_rma", rma_id=view["id"])}


def _with_awaited(orc, actor, view: dict) -> dict:
    """The RMA as GET /api/rmas/<id> answers it: with the messages its process waits for now."""
    return {**view, "awaiting_messages": process_messages.awaited(orc, actor, view["id"])}


@blp.route("", methods=["GET"])
@secured(blp)
@blp.arguments(RmaListArgsSchema, location="query")
@blp.response(200, RmaPageSchema)
def list_rmas(args):
    """RMAs the caller may see, newest first; filter by status, centre or a search term."""
    return rmas.list_rmas(orchestrator(), caller(), **args)


@blp.route("/<int:rma_id>")
@secured(blp, 404)
@blp.response(200, RmaSchema)
def get_rma(rma_id):
    """One RMA with its open tasks, history and process version, and the messages its process waits for now
    (`awaiting_messages`, each with the endpoint that delivers it); 404 for another centre's RMA."""
    orc, actor = orchestrator(), caller()
    return _with_awaited(orc, actor, rmas.get_rma(orc, actor, rma_id))


@blp.route("/<int:rma_id>/messages/<string:message_name>", methods=["POST"])
@secured(blp, 403, 404, 409)
@blp.arguments(DeliverMessageSchema)
@blp.response(202, DeliveredMessageSchema)
def deliver_message(body, rma_id, message_name):
    """Deliver a BPMN message the RMA's process waits for (staff of its centre, e.g. an integrator's account).

    202 when the RMA was waiting for it (the process has moved on), 409 when it is not waiting for that message
    (or for it with these correlation values), 404 for an unknown RMA or another centre's."""
    return process_messages.deliver(orchestrator(), caller(), rma_id, message_name, body["data"])
