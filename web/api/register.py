"""The register of units sold (issue 17, point 5): what the warranty check counts from when it has no better date."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from engine.services import register, register_rows
from web.schemas import Text, _page_args

from .common import Blueprint, caller, orchestrator, secured

blp = Blueprint(
    "api_register",
    __name__,
    url_prefix="/api/register",
    description="The maker's register of units sold: serial, model, ship date, partner, installation date.",
)


class UnitInSchema(Schema):
    serial_number = Text(required=True, validate=validate.Length(min=1, max=120))
    model = Text(required=True, validate=validate.Length(min=1, max=200))
    ship_date = fields.Date(required=True, format="%Y-%m-%d")
    organisation_id = fields.Integer(
        load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1, max=2**63 - 1)
    )
    installation_date = fields.Date(
        load_default=None,
        allow_none=True,
        format="%Y-%m-%d",
        metadata={"description": "Registered installation: counts before any other date"},
    )


class UnitsInSchema(Schema):
    units = fields.List(
        fields.Nested(UnitInSchema), required=True, validate=validate.Length(min=1, max=register_rows.MAX_ROWS)
    )


class UnitSchema(Schema):
    serial_number = fields.String()
    model = fields.String()
    ship_date = fields.Date()
    organisation_id = fields.Integer(allow_none=True)
    organisation = fields.String(allow_none=True)
    installation_date = fields.Date(allow_none=True)
    updated_at = fields.DateTime()


class UnitPageSchema(Schema):
    items = fields.List(fields.Nested(UnitSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class UnitListArgsSchema(Schema):
    page, per_page = _page_args(50)


class RegisterImportResultSchema(Schema):
    imported = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()


class RegisterImportFileSchema(Schema):
    file = Upload(
        required=True,
        metadata={
            "description": "CSV, UTF-8, header row: serial_number, model, ship_date [, organisation, installation_date]"
        },
    )


def _units(payload: dict) -> list[dict]:
    return [{k: v for k, v in u.items() if v is not None} for u in payload["units"]]


@blp.route("/units", methods=["POST"])
@secured(blp, 403, 422)
@blp.arguments(UnitsInSchema)
@blp.response(200, RegisterImportResultSchema)
def register_units(payload):
    """Register or update units by serial (managers), all or none; 422 lists problems as {line, column, message}
    with line = the unit's position (1-based)."""
    return register.import_units(orchestrator(), caller(), _units(payload))


@blp.route("/units", methods=["GET"])
@secured(blp, 403)
@blp.arguments(UnitListArgsSchema, location="query")
@blp.response(200, UnitPageSchema)
def list_units(args):
    """The register, newest first (staff)."""
    return register.list_units(orchestrator(), caller(), **args)


@blp.route("/units/<path:serial>")
@secured(blp, 403, 404)
@blp.response(200, UnitSchema)
def get_unit(serial):
    """One unit by serial (case and spaces ignored); 404 when the register does not know it."""
    return register.get_unit(orchestrator(), caller(), serial)


@blp.route("/import", methods=["POST"])
@secured(blp, 403, 422)
@blp.arguments(RegisterImportFileSchema, location="files")
@blp.response(200, RegisterImportResultSchema)
def import_units(files):
    """Import a CSV file of units sold (managers): all rows or none; 422 lists every problem as {line, column,
    message}."""
    return register.import_csv(orchestrator(), caller(), files["file"].read(register_rows.MAX_BYTES + 1))
