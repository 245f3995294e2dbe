"""Marshmallow schemas of the process-owner API (deploys, versions, files, migrations)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from web.converters import BIGINT_MAX
from web.schemas import Text


class ElementRefSchema(Schema):
    id = fields.String()
    name = fields.String()
    type = fields.String(metadata={"description": "BPMN element type, e.g. userTask"})


class StageChangeSchema(Schema):
    process = fields.String(metadata={"description": "Process id of the stage, e.g. rma_repair"})
    file = fields.String()
    status = fields.String(metadata={"description": "added, removed, changed or reformatted"})
    added = fields.List(fields.Nested(ElementRefSchema))
    removed = fields.List(fields.Nested(ElementRefSchema))
    changed = fields.List(fields.Nested(ElementRefSchema))
    layout_changed = fields.Boolean()


class FileChangeSchema(Schema):
    file = fields.String()
    status = fields.String()


class ChangesSchema(Schema):
    stages = fields.List(fields.Nested(StageChangeSchema))
    files = fields.List(fields.Nested(FileChangeSchema), metadata={"description": "Forms, decisions, policy"})
    summary = fields.String()


class VersionEntrySchema(Schema):
    id = fields.Integer(metadata={"description": "Globally unique bundle id"})
    version = fields.Integer(metadata={"description": "Version number within its centre (or the base)"})
    centre = fields.String(allow_none=True, metadata={"description": "null for the base processes"})
    hash = fields.String()
    note = fields.String()
    deployed_by = fields.String()
    deployed_at = fields.DateTime()
    running = fields.Integer(metadata={"description": "RMAs still running on this version"})
    current = fields.Boolean(metadata={"description": "The version new RMAs of this centre start on"})
    base_version = fields.Integer(allow_none=True, metadata={"description": "For a variant: the base it builds on"})
    uploaded = fields.List(fields.String(), metadata={"description": "Files the deploy brought"})
    changes = fields.Nested(ChangesSchema, allow_none=True, metadata={"description": "Against the previous version"})


class CentreVersionsSchema(Schema):
    centre = fields.String(allow_none=True)
    name = fields.String()
    versions = fields.List(fields.Nested(VersionEntrySchema))


class VersionListSchema(Schema):
    centres = fields.List(fields.Nested(CentreVersionsSchema))


class ProcessFileSchema(Schema):
    process = fields.String()
    file = fields.String()
    skeleton = fields.Boolean()
    human_tasks = fields.List(fields.String())


class VersionDetailSchema(VersionEntrySchema):
    files = fields.List(fields.String())
    processes = fields.List(fields.Nested(ProcessFileSchema))


class RebasedVariantSchema(Schema):
    centre = fields.String()
    version = fields.Integer(allow_none=True)
    created = fields.Boolean()
    errors = fields.List(fields.Raw())
    conflicts = fields.List(fields.String())


class ProcessWarningSchema(Schema):
    file = fields.String()
    element = fields.String(allow_none=True)
    line = fields.Integer(allow_none=True)
    message = fields.String()


_WARNINGS = {"description": "Accepted, but worth knowing (a process that nothing calls never runs)"}


class DeployResultSchema(Schema):
    id = fields.Integer()
    version = fields.Integer()
    centre = fields.String(allow_none=True)
    hash = fields.String()
    created = fields.Boolean(metadata={"description": "false: the files equal the current version; nothing stored"})
    note = fields.String()
    deployed_by = fields.String()
    deployed_at = fields.DateTime()
    changes = fields.Nested(ChangesSchema, allow_none=True)
    rebased = fields.List(
        fields.Nested(RebasedVariantSchema),
        metadata={"description": "A base deploy: each centre variant moved onto the new base"},
    )
    warnings = fields.List(fields.Nested(ProcessWarningSchema), metadata=_WARNINGS)


class ValidationResultSchema(Schema):
    valid = fields.Boolean()
    message = fields.String()
    hash = fields.String()
    changes = fields.Nested(ChangesSchema)
    warnings = fields.List(fields.Nested(ProcessWarningSchema), metadata=_WARNINGS)


class DeployFormSchema(Schema):
    centre = Text(load_default=None, validate=validate.Length(max=16))
    note = Text(load_default="", validate=validate.Length(max=2000))
    replace = fields.Boolean(load_default=False)


class VersionArgsSchema(Schema):
    centre = Text(
        load_default=None,
        validate=validate.Length(max=16),
        metadata={"description": "The centre whose variant version is meant; omit for the base"},
    )


class MigrateRequestSchema(Schema):
    dry_run = fields.Boolean(load_default=True, metadata={"description": "true (default): only the preview"})
    rma_ids = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=BIGINT_MAX)),
        load_default=None,
        metadata={"description": "Only these RMAs"},
    )


class VersionRefSchema(Schema):
    id = fields.Integer()
    version = fields.Integer()
    centre = fields.String(allow_none=True)


class MigrationItemSchema(Schema):
    rma_id = fields.Integer()
    number = fields.String()
    status = fields.String()
    stage = fields.String(allow_none=True)
    from_ = fields.Nested(VersionRefSchema, data_key="from", attribute="from")
    to = fields.Nested(VersionRefSchema)
    reasons = fields.List(fields.String(), metadata={"description": "Why the RMA cannot move"})


class MigrationResultSchema(Schema):
    target = fields.Nested(VersionRefSchema)
    dry_run = fields.Boolean()
    movable = fields.List(fields.Nested(MigrationItemSchema), metadata={"description": "Preview: can move"})
    blocked = fields.List(fields.Nested(MigrationItemSchema), metadata={"description": "Cannot move, with reasons"})
    moved = fields.List(fields.Nested(MigrationItemSchema), metadata={"description": "Apply: moved"})
    failed = fields.List(fields.Nested(MigrationItemSchema), metadata={"description": "Apply: failed unexpectedly"})
