"""The customer's side through the API: intake photos, estimate, messages, history, loan units, receipt."""

from __future__ import annotations

from flask import Response, request
from marshmallow import Schema, fields, validate

from engine.adapters.uploads import read_upload
from engine.services import customers, loans, photos, receipts
from web.converters import BIGINT_MAX
from web.schemas import DecisionSchema, Money, PortalViewSchema, StrictBoolean, Text

from .common import Blueprint, caller, orchestrator, secured

blp = Blueprint(
    "api_customer",
    __name__,
    url_prefix="/api",
    description="The customer's side of an RMA: photos, estimate, messages, history, loan units.",
)


class IntakePhotoSchema(Schema):
    sha256 = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    filename = fields.String()
    task = fields.String(allow_none=True)
    uploaded_at = fields.DateTime()
    uploaded_by = fields.String()


class CompletionEstimateSchema(Schema):
    earliest = fields.Date()
    latest = fields.Date()
    source = fields.String(metadata={"description": "history, defaults or done"})
    samples = fields.Integer()
    basis = fields.String(metadata={"description": "What the estimate is based on, in words"})
    range = fields.String()
    computed_at = fields.DateTime()
    low_days = fields.Float(allow_none=True)
    high_days = fields.Float(allow_none=True)


class QuoteLineSchema(Schema):
    kind = fields.String()
    description = fields.String()
    hours = fields.String()
    rate = fields.String()
    amount = fields.String()


class QuoteVersionSchema(Schema):
    version = fields.Integer()
    lines = fields.List(fields.Nested(QuoteLineSchema))
    total = Money()
    currency = fields.String()
    status = fields.String(metadata={"description": "pending, approved, declined, expired or void"})
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    decided_ip = fields.String(allow_none=True)


class PortalQuoteVersionSchema(Schema):
    version = fields.Integer()
    lines = fields.List(fields.Nested(QuoteLineSchema))
    total = Money()
    currency = fields.String()
    status = fields.String()
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)


class MessageDeliverySchema(Schema):
    id = fields.Integer()
    channel = fields.String()
    recipient = fields.String()
    subject = fields.String()
    state = fields.String(metadata={"description": "sent, queued, retrying, undelivered, or not_sent (not configured)"})
    state_text = fields.String(metadata={"description": "The state in words, e.g. 'not sent: email is not configured'"})
    body = fields.String(metadata={"description": "The message as rendered for the customer"})
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)


class EarlierRmaSchema(Schema):
    id = fields.Integer()
    number = fields.String()
    centre = fields.String()
    status = fields.String()
    outcome = fields.String(allow_none=True)
    product_model = fields.String()
    serial_number = fields.String()
    customer_name = fields.String()
    created_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)


class EarlierRmasSchema(Schema):
    customer = fields.List(fields.Nested(EarlierRmaSchema))
    unit = fields.List(fields.Nested(EarlierRmaSchema))


class LoanUnitSchema(Schema):
    id = fields.Integer(dump_only=True)
    centre = fields.String(dump_only=True)
    code = Text(required=True, validate=validate.Length(min=1, max=40))
    model = Text(required=True, validate=validate.Length(min=1, max=200))
    serial_number = Text(load_default="", validate=validate.Length(max=120))
    active = fields.Boolean(dump_only=True)
    lent_to_rma_id = fields.Integer(dump_only=True, allow_none=True)


class LoanSchema(Schema):
    id = fields.Integer()
    rma_id = fields.Integer()
    unit = fields.Nested(LoanUnitSchema)
    issued_at = fields.DateTime()
    issued_by = fields.String()
    returned_at = fields.DateTime(allow_none=True)
    returned_by = fields.String(allow_none=True)
    note = fields.String()


class LoanPanelSchema(Schema):
    loans = fields.List(fields.Nested(LoanSchema))
    out = fields.Nested(LoanSchema, allow_none=True)
    available = fields.List(fields.Nested(LoanUnitSchema))
    offer = fields.Boolean(metadata={"description": "The estimate runs longer than RMA_LOAN_OFFER_DAYS: offer a loan"})
    threshold_days = fields.Integer()
    days_left = fields.Integer(allow_none=True)


class CustomerSideSchema(Schema):
    eta = fields.Nested(CompletionEstimateSchema, allow_none=True)
    photos = fields.List(fields.Nested(IntakePhotoSchema))
    quotes = fields.List(fields.Nested(QuoteVersionSchema))
    deliveries = fields.List(fields.Nested(MessageDeliverySchema))
    milestones = fields.List(fields.Dict())
    earlier = fields.Nested(EarlierRmasSchema)
    repeat_of = fields.Nested(EarlierRmaSchema, allow_none=True)
    sms_opt_out = fields.Boolean()
    loans = fields.Nested(LoanPanelSchema)


class IssueLoanSchema(Schema):
    unit_id = fields.Integer(required=True, validate=validate.Range(min=1, max=BIGINT_MAX))
    note = Text(load_default="", validate=validate.Length(max=2000))


class PortalMilestoneSchema(Schema):
    at = fields.DateTime()
    text = fields.String()
    kind = fields.String()


class PortalStepSchema(Schema):
    key = fields.String()
    title = fields.String()
    state = fields.String()
    at = fields.DateTime(allow_none=True)


class PortalSmsSchema(Schema):
    available = fields.Boolean()
    opted_out = fields.Boolean()
    phone = fields.String(allow_none=True, metadata={"description": "Masked: only the last four digits"})


class PortalShipmentSchema(Schema):
    carrier = fields.String()
    tracking_number = fields.String()


class PortalContactSchema(Schema):
    name = fields.String()
    address = fields.String()
    phone = fields.String()
    email = fields.String()
    opening_hours = fields.List(fields.String())


class PortalSlipSchema(Schema):
    promised = fields.Date(metadata={"description": "The latest date the customer had been given"})
    stage = fields.String(metadata={"description": "The step the RMA was at when it slipped"})
    text = fields.String(metadata={"description": "The slip in the customer's words (the tracking page's)"})


class CustomerPortalViewSchema(PortalViewSchema):
    """The issue-2 portal view plus the customer's-side detail (all additions; nothing renamed)."""

    quote_detail = fields.Nested(PortalQuoteVersionSchema, allow_none=True)
    milestones = fields.List(fields.Nested(PortalMilestoneSchema))
    steps = fields.List(fields.Nested(PortalStepSchema))
    eta = fields.Nested(CompletionEstimateSchema, allow_none=True)
    slip = fields.Nested(
        PortalSlipSchema,
        allow_none=True,
        metadata={"description": "The estimate given is about to be missed: the latest slip, while the RMA is open"},
    )
    sms = fields.Nested(PortalSmsSchema)
    receipt_available = fields.Boolean()
    diagnosis = fields.String(allow_none=True, metadata={"description": "The fault found, in the customer's words"})
    prices_include_tax = fields.Boolean(metadata={"description": "The centre's quotes include tax"})
    shipment = fields.Nested(PortalShipmentSchema, allow_none=True)
    held_up = fields.Boolean(metadata={"description": "An incident holds the repair up (status_text says so)"})
    contact = fields.Nested(PortalContactSchema, allow_none=True)


class PortalDecisionSchema(DecisionSchema):
    quote_version = fields.Integer(
        load_default=None,
        allow_none=True,
        metadata={"description": "The quote version the customer saw; 409 quote_changed when another one is pending"},
    )


class SmsChoiceSchema(Schema):
    opt_out = StrictBoolean(required=True)


@blp.route("/rmas/<int:rma_id>/photos", methods=["POST"])
@secured(blp, 403, 404, 422)
@blp.response(201, IntakePhotoSchema(many=True))
def add_photos(rma_id):
    """Upload intake photos (multipart field `photos`, JPEG or PNG); cite their sha256 in record_condition's
    `photos`."""
    files = [read_upload(f) for f in request.files.getlist("photos")]
    return photos.add_photos(orchestrator(), caller(), rma_id, files)


@blp.route("/rmas/<int:rma_id>/customer-side")
@secured(blp, 404)
@blp.response(200, CustomerSideSchema)
def customer_side(rma_id):
    """Estimate, photos, quote versions, delivery log, the customer's and the unit's earlier RMAs, loans."""
    return customers.customer_side(orchestrator(), caller(), rma_id)


@blp.route("/rmas/<int:rma_id>/receipt.pdf")
@secured(blp, 404)
@blp.response(200, description="The intake receipt as PDF", content_type="application/pdf")
def receipt_pdf(rma_id):
    """The intake receipt (after record_condition), in the customer's language."""
    data = receipts.for_staff(orchestrator(), caller(), rma_id)
    return Response(receipts.pdf(data, orchestrator().settings.upload_dir), mimetype="application/pdf")


@blp.route("/rmas/<int:rma_id>/loans", methods=["POST"])
@secured(blp, 403, 404, 409)
@blp.arguments(IssueLoanSchema)
@blp.response(201, LoanSchema)
def issue_loan(payload, rma_id):
    """Lend a unit of the centre's pool to the RMA's customer (reception or manager)."""
    return loans.issue(orchestrator(), caller(), rma_id, payload["unit_id"], payload["note"])


@blp.route("/rmas/<int:rma_id>/loans/return", methods=["POST"])
@secured(blp, 403, 404, 409)
@blp.response(200, LoanSchema)
def return_loan(rma_id):
    """Record that the loan unit came back; until then the RMA cannot close (409 loan_outstanding)."""
    return loans.return_unit(orchestrator(), caller(), rma_id)


@blp.route("/centres/<centre>/loan-units", methods=["GET"])
@secured(blp, 403)
@blp.response(200, LoanUnitSchema(many=True))
def list_loan_units(centre):
    """The centre's pool of loan units and which are lent out."""
    return loans.pool(orchestrator(), caller(), centre)


@blp.route("/centres/<centre>/loan-units", methods=["POST"])
@secured(blp, 403, 404, 422)
@blp.arguments(LoanUnitSchema)
@blp.response(201, LoanUnitSchema)
def add_loan_unit(payload, centre):
    """Add a unit to the centre's pool (reception or manager of that centre)."""
    return loans.add_unit(orchestrator(), caller(), centre, payload["code"], payload["model"], payload["serial_number"])
