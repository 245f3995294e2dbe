"""The product catalogue through the API: list (public), save and remove (managers), CSV import."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from engine.services import catalogue, catalogue_import
from web.schemas import Text

from .common import Blueprint, caller, orchestrator, secured

blp = Blueprint(
    "api_catalogue",
    __name__,
    url_prefix="/api",
    description="Product models with warranty, replacement value, successor and known issues.",
)


class KnownIssueInSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(catalogue.ISSUE_CODE.pattern))
    question = Text(required=True, strip=False, validate=validate.Length(min=1, max=300))
    steps = fields.List(
        Text(strip=False, validate=validate.Length(min=1, max=500)),
        required=True,
        validate=validate.Length(min=1, max=10),
    )


class CatalogueModelSchema(Schema):
    # Text: a NUL character is a 422 (PostgreSQL refuses it in a text column), found by schemathesis
    model = Text(required=True, strip=False, validate=validate.Length(min=1, max=200))
    category = Text(required=True, strip=False, validate=validate.Length(min=1, max=120))
    warranty_months = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=240))
    ship_grace_days = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=validate.Range(min=0, max=730),
        metadata={"description": "Days after the maker's ship date before the warranty counts from it (default 90)"},
    )
    replacement_value = fields.Float(required=True, validate=validate.Range(min=0, max=10_000_000))
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}$"))
    successor_model = Text(load_default=None, allow_none=True, strip=False, validate=validate.Length(max=200))
    known_issues = fields.List(fields.Nested(KnownIssueInSchema), load_default=list, validate=validate.Length(max=20))
    updated_by = fields.String(dump_only=True, allow_none=True)
    updated_at = fields.DateTime(dump_only=True, allow_none=True)


class ModelQuerySchema(Schema):
    q = Text(load_default=None, strip=False, validate=validate.Length(max=200))  # NUL: 422, not a 500 on PostgreSQL


class ImportFileSchema(Schema):
    file = Upload(
        required=True,
        metadata={
            "description": "CSV, UTF-8, header row: model, category, "
            "warranty_months, replacement_value, currency "
            "[, successor_model, known_issues]"
        },
    )


class ImportResultSchema(Schema):
    imported = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()


@blp.route("/catalogue")
@blp.arguments(ModelQuerySchema, location="query")
@blp.response(200, CatalogueModelSchema(many=True))
def list_models(query):
    """Every model by name (public: the request form offers them); `q` filters by part of the name."""
    return catalogue.list_models(orchestrator(), query["q"])


@blp.route("/catalogue", methods=["POST"])
@secured(blp, 403, 422)
@blp.arguments(CatalogueModelSchema)
@blp.response(200, CatalogueModelSchema)
def save_model(payload):
    """Create or update a model by its name (managers)."""
    return catalogue.save_model(orchestrator(), caller(), payload)


@blp.route("/catalogue/<path:model>", methods=["DELETE"])
@secured(blp, 403, 404)
@blp.response(204)
def delete_model(model):
    """Remove a model from the catalogue (managers); running RMAs keep the facts they started with."""
    catalogue.delete_model(orchestrator(), caller(), model)


@blp.route("/catalogue/import", methods=["POST"])
@secured(blp, 403, 422)
@blp.arguments(ImportFileSchema, location="files")
@blp.response(200, ImportResultSchema)
def import_models(files):
    """Import a CSV file: all rows or none; 422 lists every problem as {line, column, message}."""
    return catalogue_import.import_csv(orchestrator(), caller(), files["file"].read(catalogue_import.MAX_BYTES + 1))
