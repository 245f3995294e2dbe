"""Goodwill through the API: propose on a pending quote, list an RMA's proposals, the managers' sums."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine.services import goodwill
from web.schemas import Money, Text

from .common import Blueprint, caller, orchestrator, secured

blp = Blueprint(
    "api_goodwill",
    __name__,
    url_prefix="/api",
    description="Goodwill discounts and fee waivers; a manager decides each as the approve_goodwill task.",
)


class ProposeGoodwillSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(goodwill.KINDS))
    reason = Text(strip=False, required=True, validate=validate.Length(min=1, max=2000))
    amount = fields.Decimal(
        load_default=None,
        allow_none=True,
        places=2,
        as_string=True,
        metadata={"description": "The discount; a fee waiver waives the quote's labour"},
    )


class GoodwillProposalSchema(Schema):
    id = fields.Integer()
    rma_id = fields.Integer()
    centre = fields.String()
    kind = fields.String()
    amount = Money()
    currency = fields.String()
    reason = fields.String()
    status = fields.String(metadata={"description": "pending, approved or rejected"})
    proposed_by = fields.String()
    proposed_at = fields.DateTime()
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_notes = fields.String(allow_none=True)


class GoodwillSummarySchema(Schema):
    centre = fields.String()
    currency = fields.String()
    approved = fields.Integer()
    rejected = fields.Integer()
    pending = fields.Integer()
    approved_total = Money()
    proposed_total = Money()


@blp.route("/rmas/<int:rma_id>/goodwill", methods=["POST"])
@secured(blp, 403, 404, 409, 422)
@blp.arguments(ProposeGoodwillSchema)
@blp.response(201, GoodwillProposalSchema)
def propose(payload, rma_id):
    """Propose goodwill on a quote waiting for the customer (reception, technician or manager)."""
    return goodwill.propose_goodwill(
        orchestrator(), caller(), rma_id, payload["kind"], payload["reason"], payload["amount"]
    )


@blp.route("/rmas/<int:rma_id>/goodwill")
@secured(blp, 404)
@blp.response(200, GoodwillProposalSchema(many=True))
def list_proposals(rma_id):
    """The RMA's goodwill proposals and their decisions."""
    return goodwill.proposals_for(orchestrator(), caller(), rma_id)


@blp.route("/goodwill/summary")
@secured(blp, 403)
@blp.response(200, GoodwillSummarySchema(many=True))
def summary():
    """Per centre and currency: approved, rejected and waiting proposals and the sums given (managers)."""
    return goodwill.goodwill_summary(orchestrator(), caller())
