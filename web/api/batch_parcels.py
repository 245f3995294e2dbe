"""A batch's parcels and quotes (issue 17, points 3 and 4): book in one parcel, send ready units back together,
and the partner's quote decisions one by one or all at once."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine.services import batch_parcels, batch_quotes
from web.schemas import StrictBoolean, Text

from .common import Blueprint, caller, orchestrator, secured

blp = Blueprint(
    "api_batch_parcels",
    __name__,
    url_prefix="/api/batches",
    description="A batch's parcels in and out, the serial flags of its units, and its quotes decided at once.",
)
_ID = validate.Range(min=1, max=2**63 - 1)


class TickedUnitSchema(Schema):
    rma_id = fields.Integer(required=True, strict=True, validate=_ID)
    serial = Text(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=120),
        metadata={"description": "The serial on the unit's label, when it differs from the declared one"},
    )


class ArrivalInSchema(Schema):
    scans = fields.List(
        Text(validate=validate.Length(min=1, max=120)),
        load_default=list,
        validate=validate.Length(max=1000),
        metadata={"description": "What the scanner typed: RMA numbers (the slip's barcodes) or serials"},
    )
    units = fields.List(fields.Nested(TickedUnitSchema), load_default=list, validate=validate.Length(max=1000))


class ArrivalSchema(Schema):
    id = fields.Integer()
    arrived = fields.List(fields.String(), metadata={"description": "RMA numbers that moved on into intake"})
    missing = fields.List(fields.String(), metadata={"description": "Declared serials still awaited"})
    unexpected = fields.List(fields.String(), metadata={"description": "Scanned, but no unit of the batch"})
    already_arrived = fields.List(fields.String())
    received_by = fields.String()
    received_at = fields.DateTime()


class ShipmentInSchema(Schema):
    rma_ids = fields.List(
        fields.Integer(strict=True, validate=_ID), required=True, validate=validate.Length(min=1, max=1000)
    )
    carrier = Text(required=True, validate=validate.Length(min=1, max=80))
    tracking_number = Text(required=True, validate=validate.Length(min=1, max=120))


class ShipmentSchema(Schema):
    id = fields.Integer()
    carrier = fields.String()
    tracking_number = fields.String()
    units = fields.List(fields.String())
    created_by = fields.String()
    created_at = fields.DateTime()


class FlagSchema(Schema):
    code = fields.String(metadata={"description": "serial_in_open_rmas, serial_differs or serial_not_registered"})
    message = fields.String()
    rmas = fields.List(fields.String())


class ParcelsSchema(Schema):
    arrivals = fields.List(fields.Nested(ArrivalSchema))
    shipments = fields.List(fields.Nested(ShipmentSchema))
    awaiting = fields.List(fields.Integer(), metadata={"description": "Units not yet arrived (RMA ids)"})
    ready_to_ship = fields.List(fields.Integer(), metadata={"description": "Units waiting to go back (RMA ids)"})
    flags = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.Nested(FlagSchema)),
        metadata={"description": "RMA id -> its serial flags (staff only)"},
    )


class DecisionInSchema(Schema):
    rma_id = fields.Integer(required=True, strict=True, validate=_ID)
    approve = StrictBoolean(required=True)
    quote_version = fields.Integer(load_default=None, allow_none=True, strict=True, validate=_ID)


class QuoteDecisionsInSchema(Schema):
    decisions = fields.List(
        fields.Nested(DecisionInSchema), load_default=None, validate=validate.Length(min=1, max=500)
    )
    all = StrictBoolean(
        load_default=None,
        allow_none=True,
        metadata={"description": "true approves, false declines every quote waiting"},
    )


class DecidedSchema(Schema):
    rma_id = fields.Integer()
    number = fields.String()
    approve = fields.Boolean()
    reason = fields.String()


class QuoteDecisionsSchema(Schema):
    decided = fields.List(fields.Nested(DecidedSchema))
    skipped = fields.List(fields.Nested(DecidedSchema))


@blp.route("/<int:batch_id>/arrivals", methods=["POST"])
@secured(blp, 403, 404, 422)
@blp.arguments(ArrivalInSchema)
@blp.response(200, ArrivalSchema)
def book_in(payload, batch_id):
    """Book in one parcel of the batch (reception): every scanned or ticked unit moves on through its own inbound
    step; the declared units not in it are `missing` (they keep waiting), scanned serials of no unit `unexpected`."""
    return batch_parcels.book_in(orchestrator(), caller(), batch_id, payload["scans"], payload["units"])


@blp.route("/<int:batch_id>/shipments", methods=["POST"])
@secured(blp, 403, 404, 409, 422)
@blp.arguments(ShipmentInSchema)
@blp.response(201, ShipmentSchema)
def ship_back(payload, batch_id):
    """Send ready units back in one parcel (reception): each unit's own return step is completed with the carrier
    and tracking number; 409 names the units not ready."""
    return batch_parcels.ship_back(
        orchestrator(), caller(), batch_id, payload["rma_ids"], payload["carrier"], payload["tracking_number"]
    )


@blp.route("/<int:batch_id>/parcels")
@secured(blp, 404, partners=True)
@blp.response(200, ParcelsSchema)
def parcels(batch_id):
    """The batch's arrivals and shipments, the units awaited and ready to go back, and (staff) the serial flags."""
    return batch_parcels.parcels_of(orchestrator(), caller(), batch_id)


@blp.route("/<int:batch_id>/quotes", methods=["POST"])
@secured(blp, 403, 404, 409, 422, partners=True)
@blp.arguments(QuoteDecisionsInSchema)
@blp.response(200, QuoteDecisionsSchema)
def decide_quotes(payload, batch_id):
    """The partner approves or declines its units' quotes: `decisions` one by one, or `all` at once. Each is that
    unit's own customer decision (the process's approval gate); units decided meanwhile are `skipped`."""
    return batch_quotes.decide_quotes(orchestrator(), caller(), batch_id, payload["decisions"], payload["all"])
