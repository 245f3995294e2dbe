"""The customer's side, by tracking token and without login."""

from __future__ import annotations

from flask import request

from engine.services import portal

from ..auth import refuse_staff_credentials
from .common import Blueprint, errors, orchestrator
from .customer import CustomerPortalViewSchema as PortalViewSchema
from .customer import PortalDecisionSchema as DecisionSchema
from .customer import SmsChoiceSchema

blp = Blueprint(
    "api_portal",
    __name__,
    url_prefix="/api/portal",
    description="Customer tracking and quote decision; the tracking token is the credential.",
)


@blp.route("/<tracking_token>")
@blp.response(200, PortalViewSchema)
@errors(blp, 404, 429)
def portal_view(tracking_token):
    """What the customer may see: status, quote and customer-visible history (no staff names, no notes)."""
    return portal.portal_view(orchestrator(), tracking_token)


@blp.route("/<tracking_token>/decision", methods=["POST"])
@blp.arguments(DecisionSchema)
@blp.response(200, PortalViewSchema)
@errors(blp, 403, 404, 409, 429)
def record_decision(decision, tracking_token):
    """Approve or decline the pending quote; 409 when no decision is pending, 403 with a staff session or token."""
    refuse_staff_credentials()
    return portal.record_customer_decision(
        orchestrator(),
        tracking_token,
        decision["approve"],
        ip=request.remote_addr,
        quote_version=decision.get("quote_version"),
    )


@blp.route("/<tracking_token>/sms", methods=["POST"])
@blp.arguments(SmsChoiceSchema)
@blp.response(200, PortalViewSchema)
@errors(blp, 403, 404, 422, 429)
def sms_choice(choice, tracking_token):
    """The customer turns text messages off (`opt_out: true`) or on again; email continues. 403 with a staff
    session or token: the customer's own choice, like the quote decision."""
    refuse_staff_credentials()
    # Here, not beside the other customer's-side endpoints: a wrong token is a guess, throttled per address.
    return portal.set_sms_opt_out(orchestrator(), tracking_token, choice["opt_out"])
