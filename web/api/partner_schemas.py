"""Request and response schemas of partners and batches (issue 17)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from engine.services.batches import MAX_UNITS
from engine.services.partners import LANGUAGES, TYPES
from web.schemas import Money, Text, _page_args, _text


class OrganisationCreateSchema(Schema):
    name = _text(200)
    type = Text(required=True, validate=validate.OneOf(TYPES))
    centre = _text(16)
    contact_name = _text(200, required=False)
    contact_email = _text(254)
    contact_phone = _text(40, required=False, allow_none=True)
    language = Text(load_default="en", validate=validate.OneOf(LANGUAGES))


class PartnerUserSchema(Schema):
    username = fields.String()
    full_name = fields.String()
    email = fields.String(allow_none=True)
    active = fields.Boolean()


class OrganisationSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    type = fields.String()
    centre = fields.String()
    contact_name = fields.String()
    contact_email = fields.String()
    contact_phone = fields.String(allow_none=True)
    language = fields.String()
    active = fields.Boolean()
    created_at = fields.DateTime()
    users = fields.List(fields.Nested(PartnerUserSchema))


class PartnerUserCreateSchema(Schema):
    username = _text(120)
    password = Text(strip=False, required=True, load_only=True, validate=validate.Length(min=8, max=200))
    full_name = _text(200, required=False)
    email = _text(254, required=False, allow_none=True)


class PartnerUserCreatedSchema(Schema):
    username = fields.String()
    organisation = fields.Integer()
    role = fields.String()


class UnitEstimateSchema(Schema):
    earliest = fields.Date()
    latest = fields.Date()


class UnitQuoteSchema(Schema):
    version = fields.Integer()
    total = Money()
    currency = fields.String()
    status = fields.String(metadata={"description": "pending, approved, declined or expired"})


class PartnerUnitSchema(Schema):
    rma_id = fields.Integer()
    number = fields.String()
    status = fields.String()
    stage = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    product_model = fields.String()
    serial_number = fields.String()
    site = fields.String(allow_none=True)
    customer_reference = fields.String(allow_none=True)
    fault_description = fields.String()
    batch_id = fields.Integer(allow_none=True)
    batch_number = fields.String(allow_none=True)
    created_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    estimate = fields.Nested(UnitEstimateSchema, allow_none=True)
    quote = fields.Nested(UnitQuoteSchema, allow_none=True)


class PartnerUnitPageSchema(Schema):
    items = fields.List(fields.Nested(PartnerUnitSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class PartnerUnitListArgsSchema(Schema):
    status = Text(validate=validate.Length(max=32))
    page, per_page = _page_args(25)


class FiguresSchema(Schema):
    organisation = fields.Integer()
    units_returned = fields.Integer(metadata={"description": "Every unit the organisation sent in"})
    open_units = fields.Integer()
    closed_units = fields.Integer()
    no_fault_found = fields.Integer()
    no_fault_found_rate = fields.Float(allow_none=True, metadata={"description": "Of the closed units, 0..1"})
    median_turnaround_days = fields.Float(allow_none=True, metadata={"description": "Opened to closed"})
    open_quotes = fields.Integer(metadata={"description": "Quotes awaiting the partner's answer"})


class BatchUnitSchema(Schema):
    model = _text(200)
    serial_number = _text(120)
    fault_description = _text(5000)
    purchase_date = fields.Date(allow_none=True)
    site = _text(200, required=False, allow_none=True)
    customer_reference = _text(120, required=False, allow_none=True)


class BatchCreateSchema(Schema):
    centre = _text(16)
    reference = _text(120, required=False, allow_none=True)
    organisation = fields.Integer(
        metadata={"description": "Staff only: the partner organisation the batch is for (a partner's is its own)"}
    )
    units = fields.List(fields.Nested(BatchUnitSchema), required=True, validate=validate.Length(min=1, max=MAX_UNITS))

    @pre_load
    def _refuse_too_many_fast(self, data, **kwargs):
        """More units than a batch takes: refused before a single unit is read."""
        if isinstance(data, dict) and isinstance(data.get("units"), list) and len(data["units"]) > MAX_UNITS:
            raise ValidationError([f"At most {MAX_UNITS} units in one batch."], "units")
        return data


class BatchUnitCreatedSchema(Schema):
    rma_id = fields.Integer()
    number = fields.String()
    status = fields.String()


class BatchCreatedSchema(Schema):
    id = fields.Integer()
    number = fields.String()
    units = fields.List(fields.Nested(BatchUnitCreatedSchema))


class OrganisationRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class BatchEstimateSchema(Schema):
    earliest = fields.Date()
    latest = fields.Date(metadata={"description": "When the last open unit should be back"})
    units_without_estimate = fields.Integer()


class BatchSummarySchema(Schema):
    id = fields.Integer()
    number = fields.String()
    centre = fields.String()
    organisation = fields.Nested(OrganisationRefSchema, allow_none=True)
    reference = fields.String()
    unit_count = fields.Integer()
    created_by = fields.String()
    created_at = fields.DateTime()
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())


class BatchSchema(BatchSummarySchema):
    open_units = fields.Integer()
    estimate = fields.Nested(BatchEstimateSchema, allow_none=True)
    units = fields.List(fields.Nested(PartnerUnitSchema))


class BatchPageSchema(Schema):
    items = fields.List(fields.Nested(BatchSummarySchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class BatchListArgsSchema(Schema):
    page, per_page = _page_args(25)
