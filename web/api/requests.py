"""Before the repair through the API: online requests (no account), the centre finder, triage, choices, parcels."""

from __future__ import annotations

from flask import request
from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from engine.services import centres, parcels
from engine.services import requests as request_service
from web.requests.payload import FIELDS, nested
from web.schemas import StrictBoolean, Text

from . import idempotency
from .common import Blueprint, caller, errors, orchestrator, secured

blp = Blueprint(
    "api_requests",
    __name__,
    url_prefix="/api",
    description="Online RMA requests (public, no account), the centre finder, troubleshooting "
    "answers and repair-or-replace choices, by tracking token.",
)
# A separate blueprint: its 404s are mistyped RMA numbers, not tracking-token guesses (web.auth.guards).
parcels_blp = Blueprint("api_parcels", __name__, url_prefix="/api", description="Reception books in parcels.")


class RequestFormSchema(Schema):
    """Flat multipart fields; the engine checks them and answers 422 with nested field errors."""

    centre = Text(strip=False, metadata={"description": "A centre code from GET /api/centres/nearby"})
    name = Text(strip=False)
    email = Text(strip=False)
    phone = Text(strip=False)
    language = Text(strip=False, metadata={"description": "en or de"})
    model = Text(strip=False)
    serial_number = Text(strip=False)
    purchase_date = Text(strip=False, metadata={"description": "YYYY-MM-DD"})
    category = Text(strip=False)
    fault_description = Text(strip=False)


class RequestFilesSchema(Schema):
    proof_of_purchase = Upload(metadata={"description": "Receipt or invoice: PDF, PNG or JPEG, at most 5 MB"})


class RequestCreatedSchema(Schema):
    number = fields.String()
    status = fields.String()
    tracking_token = fields.String()
    request_url = fields.String()
    centre = fields.String()


class LeadTimeSchema(Schema):
    low_days = fields.Integer(allow_none=True)
    high_days = fields.Integer(allow_none=True)
    source = fields.String()
    samples = fields.Integer()


class FinderCentreSchema(Schema):
    code = fields.String()
    name = fields.String()
    currency = fields.String()
    address = fields.String()
    city = fields.String()
    postcode = fields.String()
    country = fields.String()
    latitude = fields.Float()
    longitude = fields.Float()
    opening_hours = fields.List(fields.String())
    phone = fields.String(allow_none=True)
    accepts_online = fields.Boolean()
    lead_time = fields.Nested(LeadTimeSchema)
    distance_km = fields.Float(metadata={"description": "Only when `near` was located"})


class LocatedSchema(Schema):
    label = fields.String()
    country = fields.String()


class FinderSchema(Schema):
    items = fields.List(fields.Nested(FinderCentreSchema))
    near = fields.String(allow_none=True)
    located = fields.Nested(LocatedSchema, allow_none=True)


class NearQuerySchema(Schema):
    near = Text(
        strip=False,
        load_default=None,
        validate=validate.Length(max=100),
        metadata={"description": "A city or postcode; nearest centre first"},
    )


class KnownIssueSchema(Schema):
    code = fields.String()
    question = fields.String()
    steps = fields.List(fields.String())


class OffersSchema(Schema):
    quote_total = fields.Float(allow_none=True)
    currency = fields.String(allow_none=True)
    offer_repair = fields.Boolean(allow_none=True)
    offer_replacement = fields.Boolean(allow_none=True)
    replacement_price = fields.Float(allow_none=True)
    offer_trade_in = fields.Boolean(allow_none=True)
    trade_in_credit = fields.Float(allow_none=True)
    trade_in_price = fields.Float(allow_none=True)
    successor_model = fields.String(allow_none=True)
    offer_rule = fields.String(allow_none=True)
    goodwill_total = fields.Float(allow_none=True)


class RequestViewSchema(Schema):
    number = fields.String()
    status = fields.String()
    status_text = fields.String()
    outcome = fields.String(allow_none=True)
    outcome_text = fields.String(allow_none=True)
    stage = fields.String(allow_none=True)
    language = fields.String()
    product = fields.Dict(keys=fields.String(), values=fields.String())
    centre = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))
    known_issues = fields.List(fields.Nested(KnownIssueSchema))
    troubleshooting_pending = fields.Boolean()
    awaiting_parcel = fields.Boolean()
    offers = fields.Nested(OffersSchema, allow_none=True)
    decision_pending = fields.Boolean()
    created_at = fields.DateTime()


class TroubleshootingSchema(Schema):
    troubleshoot_solved = StrictBoolean(required=True)
    answers = fields.Dict(
        keys=Text(strip=False), values=fields.String(validate=validate.OneOf(["yes", "no", "not_sure"]))
    )
    solved_by_issue = fields.String(validate=validate.Regexp(r"^[a-z0-9_]{1,40}$"))
    troubleshoot_notes = Text(strip=False, validate=validate.Length(max=2000))


class ChoiceSchema(Schema):
    choice = fields.String(required=True, validate=validate.OneOf(request_service.CHOICES))


class ParcelSchema(Schema):
    number = Text(
        strip=False,
        required=True,
        validate=validate.Length(min=1, max=80),
        metadata={"description": "The RMA number as scanned from the packing slip or typed"},
    )
    serial_number = Text(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=120),
        metadata={
            "description": "The serial read on the unit (optional): one that differs from the declared serial "
            "is kept on the RMA and flagged to staff"
        },
    )


class ParcelReceivedSchema(Schema):
    id = fields.Integer()
    number = fields.String()
    status = fields.String()
    stage = fields.String(allow_none=True)
    received_serial = fields.String(
        allow_none=True, metadata={"description": "The serial read on the unit when it differs from the declared one"}
    )


@blp.route("/requests", methods=["POST"])
@blp.arguments(RequestFormSchema, location="form")
@blp.arguments(RequestFilesSchema, location="files")
@blp.response(201, RequestCreatedSchema)
@errors(blp, 422, 429)
@blp.doc(**idempotency.DOC)
def submit_request(form, files):
    """A customer's online request (no account): multipart fields plus `proof_of_purchase`; status `requested`."""
    proof = files.get("proof_of_purchase")
    data = proof.read(request_service.MAX_PROOF_BYTES + 1) if proof else b""
    return request_service.submit_request(
        orchestrator(),
        nested({k: form.get(k) for k in FIELDS}),
        proof.filename if proof else "",
        data,
        request.remote_addr,
        idempotency.key(),
    )


@blp.route("/centres/nearby")
@blp.arguments(NearQuerySchema, location="query")
@blp.response(200, FinderSchema)
def find_centres(query):
    """Centres taking online requests, with address, opening hours and expected lead time; nearest first."""
    return centres.find_centres(orchestrator(), query["near"])


@blp.route("/requests/<tracking_token>")
@blp.response(200, RequestViewSchema)
@errors(blp, 404)
def request_view(tracking_token):
    """The customer's request: status, self-help questions and steps, whether a parcel or a choice is awaited."""
    return request_service.request_view(orchestrator(), tracking_token)


@blp.route("/requests/<tracking_token>/troubleshooting", methods=["POST"])
@blp.arguments(TroubleshootingSchema)
@blp.response(200, RequestViewSchema)
@errors(blp, 404, 409, 422)
def answer_troubleshooting(answers, tracking_token):
    """The customer's answers: solved closes the request as resolved_remotely, otherwise staff review it."""
    return request_service.answer_troubleshooting(orchestrator(), tracking_token, answers, ip=request.remote_addr)


@blp.route("/requests/<tracking_token>/choice", methods=["POST"])
@blp.arguments(ChoiceSchema)
@blp.response(200, RequestViewSchema)
@errors(blp, 404, 409, 422)
def record_choice(payload, tracking_token):
    """The customer's answer to the quote: one of the options the repair-or-replace rules offered."""
    return request_service.record_choice(orchestrator(), tracking_token, payload["choice"], ip=request.remote_addr)


@parcels_blp.route("/parcels", methods=["POST"])
@secured(parcels_blp, 403, 404, 409, 422)
@parcels_blp.arguments(ParcelSchema)
@parcels_blp.response(200, ParcelReceivedSchema)
def receive_parcel(payload):
    """Reception books in a parcel by its RMA number: the waiting request moves into intake."""
    return parcels.receive_parcel(orchestrator(), caller(), payload["number"], payload.get("serial_number"))
