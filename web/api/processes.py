"""Process owners' API: deploy bundles (or parts of them), list versions, download files, move running RMAs.

A version is addressed by its number within its centre: `/api/processes/3` is version 3 of the base
processes, `/api/processes/3?centre=SG` version 3 of centre SG's variant.
"""

from __future__ import annotations

from flask import Response, request
from marshmallow import ValidationError

from engine.errors import InvalidInput, InvalidProcess
from engine.services import migration, processes, versions
from web.converters import INT_MAX

from .common import Blueprint, caller, orchestrator, secured
from .process_schemas import (
    DeployFormSchema,
    DeployResultSchema,
    MigrateRequestSchema,
    MigrationResultSchema,
    ValidationResultSchema,
    VersionArgsSchema,
    VersionDetailSchema,
    VersionListSchema,
)

# Version numbers live in a 32-bit column: a larger number matches no route (404), it never reaches the database.
VERSION = f"<int(max={INT_MAX}):version>"

blp = Blueprint(
    "api_processes",
    __name__,
    url_prefix="/api/processes",
    description="Deployed process versions per centre (base and regional variants): deploy, "
    "download, and move running RMAs to a newer version. A version is addressed by its "
    "number within its centre: the base without `centre`, a variant with `?centre=SG`.",
)

_UPLOAD = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {
                    "files": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "One or more files: rma.bpmn, stages/<process id>.bpmn, decisions/*.dmn, "
                        "forms/*.json, policy.json; bare file names are placed by type and content",
                    },
                    "centre": {"type": "string", "description": "Deploy as this centre's variant (omit: the base)"},
                    "note": {"type": "string", "description": "What changed, for the version history"},
                    "replace": {
                        "type": "boolean",
                        "default": False,
                        "description": "The files are the whole bundle (default: merge them over the current one)",
                    },
                },
            }
        }
    },
}


def _upload_args() -> tuple[dict, list]:
    try:
        form = DeployFormSchema().load({k: v for k, v in request.form.items() if k != "files"})
    except ValidationError as exc:
        raise InvalidInput("the request has invalid fields", exc.messages) from None
    form["centre"] = (form["centre"] or "").strip() or None
    uploads = [(f.filename or "upload", f.read()) for f in request.files.getlist("files")]
    return form, uploads


@blp.route("", methods=["GET"])
@secured(blp, 403)
@blp.response(200, VersionListSchema)
def list_versions():
    """Every version per centre (the base first): who deployed it, when, the note, what changed and how many
    RMAs still run on it (process owners and managers)."""
    return versions.list_versions(orchestrator(), caller())


@blp.route("/deploy", methods=["POST"])
@secured(blp, 403, 422)
@blp.doc(requestBody=_UPLOAD)
@blp.response(201, DeployResultSchema, description="A new version was stored (200: unchanged, nothing stored)")
def deploy():
    """Validate and deploy uploaded files as a new version; a partial upload (one stage, one form, a variant's
    files) is merged over the centre's current version. 422 lists every error with file, element and line."""
    form, uploads = _upload_args()
    result = processes.deploy_upload(
        orchestrator(), caller(), uploads, form["centre"], form["note"], replace=form["replace"]
    )
    return result, 201 if result["created"] else 200


@blp.route("/validate", methods=["POST"])
@secured(blp, 403, 422)
@blp.doc(requestBody=_UPLOAD)
@blp.response(200, ValidationResultSchema)
def validate():
    """Everything a deploy checks, nothing stored: 200 with what would change, or 422 listing every error."""
    form, uploads = _upload_args()
    result = processes.deploy_upload(
        orchestrator(), caller(), uploads, form["centre"], replace=form["replace"], dry_run=True
    )
    if not result["valid"]:
        raise InvalidProcess(result["message"], result["errors"])
    return result


@blp.route(f"/{VERSION}", methods=["GET"])
@secured(blp, 403, 404)
@blp.arguments(VersionArgsSchema, location="query")
@blp.response(200, VersionDetailSchema)
def get_version(args, version):
    """One version with its files and processes."""
    return versions.get_version(orchestrator(), caller(), version, args["centre"] or None)


@blp.route(f"/{VERSION}/files/<path:name>", methods=["GET"])
@secured(blp, 403, 404)
@blp.arguments(VersionArgsSchema, location="query")
@blp.doc(
    responses={
        "200": {
            "description": "The file, as deployed (BPMN/DMN as XML, forms as JSON)",
            "content": {"application/xml": {}, "application/json": {}},
        }
    }
)
def download(args, version, name):
    """Download one file of a version, e.g. `stages/rma_repair.bpmn` (opens in Camunda Modeler or SpiffArena)."""
    found = versions.bundle_file(orchestrator(), caller(), version, args["centre"] or None, name)
    filename = name.rsplit("/", 1)[-1]
    return Response(
        found["text"],
        mimetype=found["media_type"],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@blp.route(f"/{VERSION}/migrate", methods=["POST"])
@secured(blp, 403, 404)
@blp.arguments(VersionArgsSchema, location="query")
@blp.arguments(MigrateRequestSchema)
@blp.response(200, MigrationResultSchema)
def migrate(args, body, version):
    """Move running RMAs of older versions to this one. `dry_run` (the default) previews which can move and why
    the others cannot; `dry_run: false` moves every RMA that can, each audited in its history."""
    return migration.migrate_rmas(
        orchestrator(), caller(), version, args["centre"] or None, dry_run=body["dry_run"], rma_ids=body["rma_ids"]
    )
