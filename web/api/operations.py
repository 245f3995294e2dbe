"""Operations API: incidents (retry, cancel the RMA), undeliverable messages, the manager's figures."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine.services import dashboard, operations
from web.schemas import Text, _page_args

from .common import Blueprint, caller, orchestrator, secured

blp = Blueprint(
    "api_operations",
    __name__,
    url_prefix="/api",
    description="Operations: incidents of running processes, undelivered messages, manager figures.",
)


class IncidentSchema(Schema):
    id = fields.Integer()
    rma_id = fields.Integer()
    rma_number = fields.String()
    centre = fields.String()
    task = fields.String(allow_none=True, metadata={"description": "BPMN id of the element that failed"})
    task_title = fields.String(allow_none=True)
    stage = fields.String(allow_none=True)
    error = fields.String(metadata={"description": "What failed: the task and, for a call, the status code"})
    detail = fields.String(
        allow_none=True,
        metadata={"description": "What the other system answered: at most 300 characters, control characters removed"},
    )
    status = fields.String(metadata={"description": "open, resolved or cancelled"})
    status_before = fields.String(metadata={"description": "The RMA's status when the task failed"})
    attempts = fields.Integer()
    opened_at = fields.DateTime()
    last_failed_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    resolution = fields.String(allow_none=True)


class IncidentPageSchema(Schema):
    items = fields.List(fields.Nested(IncidentSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class IncidentListArgsSchema(Schema):
    status = fields.String(load_default="open", validate=validate.OneOf(["open", "resolved", "cancelled"]))
    page, per_page = _page_args(50)  # bounded: the row offset stays a number the database can take


class RetrySchema(Schema):
    on_current_version = fields.Boolean(
        load_default=False,
        metadata={
            "description": "First move the RMA to its centre's latest process version (e.g. one that fixes the cause)"
        },
    )


class IncidentRmaSchema(Schema):
    id = fields.Integer()
    number = fields.String()
    status = fields.String()
    stage = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)


class RetryResultSchema(Schema):
    rma = fields.Nested(IncidentRmaSchema)
    incident = fields.Nested(IncidentSchema)


class CancelSchema(Schema):
    reason = Text(required=True, validate=validate.Length(min=1, max=2000))


class UndeliveredSchema(Schema):
    id = fields.Integer()
    rma_id = fields.Integer(allow_none=True)
    rma_number = fields.String(allow_none=True)
    centre = fields.String(allow_none=True)
    channel = fields.String()
    recipient = fields.String()
    subject = fields.String()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()


class RequeuedSchema(Schema):
    id = fields.Integer()
    attempts = fields.Integer()


class DashboardArgsSchema(Schema):
    months = fields.Integer(load_default=6, validate=validate.Range(min=1, max=36))
    centre = Text(load_default=None, validate=validate.Length(max=16))


class DashboardSchema(Schema):
    generated_at = fields.DateTime()
    since = fields.DateTime()
    months = fields.Integer()
    centre = fields.String(allow_none=True)
    by_status = fields.List(fields.Dict(), metadata={"description": "{centre, status, count}"})
    breaches = fields.Dict(metadata={"description": "open_count, escalations_open, open (oldest 50), per_month"})
    end_to_end = fields.List(fields.Dict(), metadata={"description": "{centre, period, count, p50_hours, p90_hours}"})
    stages = fields.List(
        fields.Dict(), metadata={"description": "{centre, stage, period, count, p50_hours, p90_hours}"}
    )
    waiting = fields.List(
        fields.Dict(),
        metadata={"description": "{stage, element, waiting_now, avg_age_hours, completed, avg_wait_hours}"},
    )


@blp.route("/incidents")
@secured(blp, 403)
@blp.arguments(IncidentListArgsSchema, location="query")
@blp.response(200, IncidentPageSchema)
def list_incidents(args):
    """Incidents of the caller's centres, newest first (managers and process owners)."""
    return operations.list_incidents(orchestrator(), caller(), **args)


@blp.route("/incidents/<int:rma_id>/retry", methods=["POST"])
@secured(blp, 403, 404, 409)
@blp.arguments(RetrySchema)
@blp.response(200, RetryResultSchema)
def retry_incident(body, rma_id):
    """Run the RMA's failed task again; it stays in incident (attempts counted) if it fails again."""
    return operations.retry_incident(orchestrator(), caller(), rma_id, **body)


@blp.route("/rmas/<int:rma_id>/cancel", methods=["POST"])
@secured(blp, 403, 404, 409)
@blp.arguments(CancelSchema)
@blp.response(200, IncidentRmaSchema)
def cancel_rma(body, rma_id):
    """Close an open RMA with outcome `cancelled` and the reason given (managers)."""
    return operations.cancel_rma(orchestrator(), caller(), rma_id, body["reason"])


@blp.route("/outbox/undelivered")
@secured(blp, 403)
@blp.response(200, UndeliveredSchema(many=True))
def list_undelivered():
    """Messages (mail, SMS, webhooks) the outbox gave up on after every retry."""
    return operations.list_undelivered(orchestrator(), caller())


@blp.route("/outbox/<int:message_id>/requeue", methods=["POST"])
@secured(blp, 403, 404, 409)
@blp.response(200, RequeuedSchema)
def requeue_message(message_id):
    """Give an undelivered message a fresh round of retries, starting now."""
    return operations.requeue_message(orchestrator(), caller(), message_id)


@blp.route("/dashboard")
@secured(blp, 403)
@blp.arguments(DashboardArgsSchema, location="query")
@blp.response(200, DashboardSchema)
def get_dashboard(args):
    """The manager's figures: RMAs by status, SLA breaches, lead times (p50/p90 per month), waits per element."""
    return dashboard.dashboard(orchestrator(), caller(), **args)
