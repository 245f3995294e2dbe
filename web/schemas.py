"""Marshmallow schemas of the JSON API: what a request may carry and what a response contains.

Response schemas list their fields explicitly, so a key a service adds later is not published
by accident (the portal view in particular must never show staff names or internal notes).
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from engine.errors import text_refusal

Money = fields.Float  # Decimal amounts go out as JSON numbers, not strings


class Text(fields.String):
    """A string with surrounding whitespace removed before it is validated (`strip=False`: kept as given)."""

    def __init__(self, *args, strip: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.strip = strip

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        value = value.strip() if self.strip else value
        refusal = text_refusal(value)  # no text column can store it
        if refusal is not None:
            raise ValidationError(refusal)
        return value


class StrictBoolean(fields.Boolean):
    """JSON true or false only: marshmallow's truthy sets would take 1 and 0.0 too (True == 1 in Python)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def _text(max_len: int, required: bool = True, **kwargs) -> Text:
    return Text(required=required, validate=validate.Length(min=1 if required else 0, max=max_len), **kwargs)


def _page_args(per_page_default: int):
    # The engine clamps both (engine.services.views.page_bounds) and answers the page it gave.
    return (
        fields.Integer(load_default=1, metadata={"description": "Clamped to 1..1,000,000"}),
        fields.Integer(load_default=per_page_default, metadata={"description": "Clamped to 1..200"}),
    )


class ErrorSchema(Schema):
    code = fields.String(required=True, metadata={"description": "Stable machine-readable code, e.g. task_claimed"})
    message = fields.String(required=True, metadata={"description": "Human-readable explanation"})
    errors = fields.Raw(metadata={"description": "Field name -> list of messages (nested for nested objects)"})


# --- authentication and reference data ------------------------------------------------------------


class TokenRequestSchema(Schema):
    username = _text(120)
    password = Text(strip=False, required=True, load_only=True, validate=validate.Length(min=1, max=1024))


class TokenSchema(Schema):
    token = fields.String(required=True, metadata={"description": "Send as `Authorization: Bearer <token>`"})
    expires_at = fields.DateTime()


class TokenInfoSchema(Schema):
    id = fields.Integer()
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    active = fields.Boolean(metadata={"description": "Neither revoked nor expired"})
    current = fields.Boolean(metadata={"description": "The token this request was sent with"})


class MeSchema(Schema):
    username = fields.String()
    role = fields.String()
    centre = fields.String(allow_none=True)
    organisation = fields.Integer(allow_none=True, metadata={"description": "A partner's organisation (issue 17)"})


class HealthSchema(Schema):
    status = fields.String()


class CentreSchema(Schema):
    code = fields.String()
    name = fields.String()
    currency = fields.String()
    labour_rate = Money(metadata={"description": "Labour price per hour in the centre's currency"})
    timezone = fields.String()


# --- RMAs -----------------------------------------------------------------------------------------


class CustomerInSchema(Schema):
    name = _text(200)
    email = fields.Email(required=True, validate=validate.Length(max=254))
    phone = Text(
        allow_none=True, validate=validate.Regexp(r"^$|^\+?[0-9 ()./-]{3,40}$", error="Not a valid phone number.")
    )
    language = Text(validate=validate.Regexp(r"^[a-z]{2}(-[A-Za-z]{2})?$", error="Use a language code such as en."))


class ProductInSchema(Schema):
    model = _text(200)
    serial_number = _text(120)
    purchase_date = fields.Date(required=True, format="%Y-%m-%d", metadata={"description": "YYYY-MM-DD"})
    category = _text(120, required=False, allow_none=True)


class RmaCreateSchema(Schema):
    centre = _text(16, metadata={"description": "Centre code, e.g. SG"})
    customer = fields.Nested(CustomerInSchema, required=True)
    product = fields.Nested(ProductInSchema, required=True)
    fault_description = _text(5000)


class CustomerSchema(Schema):
    name = fields.String()
    email = fields.String()
    phone = fields.String(allow_none=True)
    language = fields.String()


class ProductSchema(Schema):
    model = fields.String()
    serial_number = fields.String()
    purchase_date = fields.Date()
    category = fields.String(allow_none=True)


class ProcessVersionSchema(Schema):
    version = fields.Integer(metadata={"description": "Version of the deployed process bundle this RMA runs on"})
    centre = fields.String(allow_none=True, metadata={"description": "Centre of the variant, null for the base"})
    hash = fields.String()
    bundle_id = fields.Integer()


class HistoryEventSchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    kind = fields.String(metadata={"description": "e.g. rma_opened, task_completed, status_changed"})
    detail = fields.String()
    task = fields.String(allow_none=True, metadata={"description": "BPMN task id, when the event is about a task"})
    data = fields.Dict(
        allow_none=True,
        metadata={
            "description": "What the event recorded: for task_completed (and the customer's quote_decided) the data "
            "submitted, validated against the task's form"
        },
    )


class RmaSummarySchema(Schema):
    id = fields.Integer()
    number = fields.String()
    centre = fields.String()
    status = fields.String()
    outcome = fields.String(allow_none=True, metadata={"description": "repaired, returned_unrepaired, no_fault_found"})
    stage = fields.String(allow_none=True)
    customer = fields.Nested(CustomerSchema)
    product = fields.Nested(ProductSchema)
    fault_description = fields.String()
    in_warranty = fields.Boolean(allow_none=True)
    quote_total = Money(allow_none=True)
    currency = fields.String()
    tracking_token = fields.String(metadata={"description": "Customer tracking link token (/api/portal/<token>)"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)


class RmaListArgsSchema(Schema):
    status = Text(validate=validate.Length(max=32))
    centre = Text(validate=validate.Length(max=16))
    q = Text(validate=validate.Length(max=200), metadata={"description": "Number, serial number or customer"})
    page, per_page = _page_args(25)


class RmaPageSchema(Schema):
    items = fields.List(fields.Nested(RmaSummarySchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


# --- tasks ----------------------------------------------------------------------------------------


class TaskRmaSchema(Schema):
    number = fields.String()
    product_model = fields.String()
    serial_number = fields.String()
    customer_name = fields.String()
    status = fields.String()


class TaskSchema(Schema):
    id = fields.String()
    rma_id = fields.Integer()
    name = fields.String(metadata={"description": "BPMN task id, e.g. record_condition"})
    title = fields.String()
    lane = fields.String(allow_none=True)
    role = fields.String()
    centre = fields.String()
    stage = fields.String(allow_none=True)
    assignee = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "open, completed or cancelled"})
    created_at = fields.DateTime()
    due_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    completed_by = fields.String(allow_none=True)
    form = fields.Dict(metadata={"description": "JSON Schema of the data `complete` expects"})
    rma_number = fields.String()
    rma = fields.Nested(TaskRmaSchema)
    instructions = fields.String(
        metadata={
            "description": "The task's instructions (spiffworkflow:instructionsForEndUser): Markdown filled in "
            "with the task's data; absent when the task has none"
        }
    )
    instructions_html = fields.String(
        metadata={"description": "`instructions` rendered as HTML (raw HTML in the text or the data is escaped)"}
    )
    instructions_error = fields.String(
        allow_none=True,
        metadata={"description": "Why the instructions are shown as written (they could not be filled in), else null"},
    )


class WarrantyDateSchema(Schema):
    date = fields.Date(allow_none=True, metadata={"description": "The date the warranty check counts from"})
    basis = fields.String(
        allow_none=True,
        metadata={"description": "installation, purchase or ship (the first the RMA has, in that order); null: none"},
    )


class AwaitedMessageSchema(Schema):
    message = fields.String(metadata={"description": "The BPMN message name"})
    element = fields.String(metadata={"description": "The catch event (or receive task) that waits for it"})
    title = fields.String()
    via = fields.String(metadata={"description": "How it is delivered: the endpoint to POST it to"})


class SerialFlagSchema(Schema):
    code = fields.String(metadata={"description": "serial_in_open_rmas, serial_differs or serial_not_registered"})
    message = fields.String()
    rmas = fields.List(fields.String())


class RmaSchema(RmaSummarySchema):
    open_tasks = fields.List(fields.Nested(TaskSchema))
    history = fields.List(fields.Nested(HistoryEventSchema))
    process = fields.Nested(ProcessVersionSchema)
    warranty = fields.Nested(WarrantyDateSchema)
    serial_flags = fields.List(fields.Nested(SerialFlagSchema))
    awaiting_messages = fields.List(
        fields.Nested(AwaitedMessageSchema),
        metadata={"description": "The messages the process waits for now (GET /api/rmas/<id> only)"},
    )


class TaskListArgsSchema(Schema):
    rma_id = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1))
    mine = fields.Boolean(load_default=False, metadata={"description": "Only tasks claimed by the caller"})
    status = fields.String(load_default="open", validate=validate.OneOf(["open", "completed", "cancelled"]))
    sort = fields.String(
        load_default="age",
        validate=validate.OneOf(["age", "due"]),
        metadata={
            "description": "`age`: oldest first (default); `due`: due soonest first, tasks without a due time last"
        },
    )
    stage = Text(
        strip=False, validate=validate.Length(min=1, max=64), metadata={"description": "Only this stage's tasks"}
    )
    q = Text(
        strip=False,
        validate=validate.Length(max=200),
        metadata={
            "description": "Tasks whose RMA's number, serial number, customer name or email has a word starting "
            "with this, or whose product model contains it"
        },
    )
    page, per_page = _page_args(50)


class TaskPageSchema(Schema):
    items = fields.List(fields.Nested(TaskSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class CompleteTaskSchema(Schema):
    data = fields.Dict(
        keys=fields.String(),
        required=True,
        metadata={"description": "Form data, validated against the task's `form` schema"},
    )


class RmaStateSchema(Schema):
    id = fields.Integer()
    number = fields.String()
    status = fields.String()
    stage = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)


class CompletionSchema(Schema):
    task = fields.Nested(TaskSchema)
    rma = fields.Nested(RmaStateSchema)


# --- customer portal ------------------------------------------------------------------------------


class PortalQuoteSchema(Schema):
    total = Money()
    currency = fields.String()
    in_warranty = fields.Boolean(allow_none=True)


class PortalEventSchema(Schema):
    at = fields.DateTime()
    kind = fields.String()
    detail = fields.String()


class PortalProductSchema(Schema):
    model = fields.String()
    serial_number = fields.String()


class PortalWarrantySchema(Schema):
    date = fields.Date(allow_none=True, metadata={"description": "The date the warranty check counts from"})
    basis = fields.String(allow_none=True, metadata={"description": "installation, purchase or ship; null: none"})
    basis_text = fields.String(allow_none=True, metadata={"description": "The basis in the customer's language"})
    none_text = fields.String(allow_none=True)
    in_warranty = fields.Boolean(allow_none=True)


class PortalViewSchema(Schema):
    number = fields.String()
    warranty = fields.Nested(PortalWarrantySchema)
    status = fields.String()
    status_text = fields.String()
    stage = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    outcome_text = fields.String(allow_none=True)
    product = fields.Nested(PortalProductSchema)
    quote = fields.Nested(PortalQuoteSchema, allow_none=True)
    decision_pending = fields.Boolean()
    language = fields.String()
    history = fields.List(fields.Nested(PortalEventSchema))
    created_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)


class DecisionSchema(Schema):
    approve = StrictBoolean(required=True, metadata={"description": "true approves the quote, false declines it"})
