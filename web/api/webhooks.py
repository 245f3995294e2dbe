"""Integrator webhooks: managers register URLs for RMA events and read the delivery log."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine.services import integrations
from engine.services.webhook_events import EVENTS
from web.schemas import Text

from .common import Blueprint, caller, orchestrator, secured

blp = Blueprint(
    "api_webhooks",
    __name__,
    url_prefix="/api/webhooks",
    description=(
        "Webhook subscriptions. Each event is POSTed as JSON `{id, type, created_at, rma, data}` with headers "
        "X-RMA-Event, X-RMA-Delivery (the event id), X-RMA-Timestamp and X-RMA-Signature = `sha256=` + hex "
        "HMAC-SHA256 over `<timestamp>.<raw body>` with the subscription's secret; answer 2xx. Failures are "
        "retried with backoff (same event id) and logged."
    ),
)


class WebhookSubscriptionInSchema(Schema):
    url = Text(required=True, validate=validate.Length(min=8, max=2000))
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENTS)),
        load_default=None,
        metadata={"description": f"Any of {', '.join(EVENTS)}; all when left out"},
    )
    centre = Text(
        load_default=None,
        validate=validate.Length(max=16),
        metadata={"description": "Only this centre's RMAs (a centre's manager: always theirs)"},
    )
    description = Text(load_default="", validate=validate.Length(max=200))
    secret = Text(
        load_default=None,
        load_only=True,
        strip=False,
        validate=validate.Length(min=16, max=200),
        metadata={"description": "The signing key; generated when left out"},
    )


class WebhookSubscriptionSchema(Schema):
    id = fields.Integer()
    url = fields.String()
    events = fields.List(fields.String())
    centre = fields.String(allow_none=True)
    description = fields.String()
    active = fields.Boolean()
    created_by = fields.String()
    created_at = fields.DateTime()


class WebhookSubscriptionCreatedSchema(WebhookSubscriptionSchema):
    secret = fields.String(metadata={"description": "The signing key: shown only in this answer"})


class WebhookDeliverySchema(Schema):
    id = fields.Integer()
    event = fields.String()
    rma_number = fields.String(allow_none=True)
    attempt = fields.Integer()
    at = fields.DateTime()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    duration_ms = fields.Integer()
    delivered = fields.Boolean(metadata={"description": "This attempt got a 2xx answer"})
    message_delivered = fields.Boolean(metadata={"description": "The event was delivered (by this or a later attempt)"})


@blp.route("", methods=["POST"])
@secured(blp, 403)
@blp.arguments(WebhookSubscriptionInSchema)
@blp.response(201, WebhookSubscriptionCreatedSchema)
def create_subscription(body):
    """Register a URL for RMA events (managers); the answer carries the signing secret."""
    return integrations.create_subscription(orchestrator(), caller(), **body)


@blp.route("", methods=["GET"])
@secured(blp, 403)
@blp.response(200, WebhookSubscriptionSchema(many=True))
def list_subscriptions():
    """The subscriptions of the caller's centre (all of them for a manager of all centres)."""
    return integrations.list_subscriptions(orchestrator(), caller())


@blp.route("/<int:sub_id>", methods=["DELETE"])
@secured(blp, 403, 404)
@blp.response(204)
def delete_subscription(sub_id):
    """Stop deliveries to this URL; its delivery log stays readable."""
    integrations.delete_subscription(orchestrator(), caller(), sub_id)


@blp.route("/<int:sub_id>/deliveries")
@secured(blp, 403, 404)
@blp.response(200, WebhookDeliverySchema(many=True))
def list_deliveries(sub_id):
    """The delivery log, newest first: every attempt with its HTTP status or error."""
    return integrations.list_deliveries(orchestrator(), caller(), sub_id)
