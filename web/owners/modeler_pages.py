"""The modeler of one stage file: validate and deploy the edited diagram and forms; preview a form as staff see it.

The browser sends `{centre, note, files: {bundle name: text}}` as JSON (CSRF token in X-CSRFToken); the
files are merged over the target centre's current version by engine.services.processes, as an upload is.
"""

from __future__ import annotations

import json

from flask import jsonify, render_template, request, url_for

from engine.errors import InvalidInput, InvalidProcess
from engine.services import processes, versions

from ..auth import orchestrator, roles_required, staff_actor
from ..staff.task_forms import fields, initial_values
from . import READ_ROLES, bp
from .version_pages import deploy_targets

MAX_FILES = 50


@bp.get("/processes/<int:bundle_id>/edit/<path:name>")
@roles_required(*READ_ROLES)
def modeler(bundle_id: int, name: str):
    actor = staff_actor()
    found = versions.bundle_file_by_id(orchestrator(), actor, bundle_id, name)
    version = versions.get_bundle(orchestrator(), actor, bundle_id)
    if not name.endswith(".bpmn"):
        raise InvalidInput(f"{name} is not a BPMN diagram; download it instead")
    targets = deploy_targets(actor)
    default = (
        version["centre"]
        if any(t["centre"] == version["centre"] for t in targets)
        else (targets[0]["centre"] if targets else None)
    )
    return render_template(
        "owners/modeler.html", v=version, name=name, xml=found["text"], targets=targets, default_target=default
    )


def _edited_files() -> tuple[list[tuple[str, str]], str | None, str]:
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    centre = body.get("centre") if isinstance(body.get("centre"), str) else ""
    centre = centre.strip() or None
    processes.check_may_deploy(staff_actor(), centre)  # before anything about the files is said
    files = body.get("files")
    if not isinstance(files, dict) or not files:
        raise InvalidInput("send {files: {name: text}, centre?, note?} as JSON")
    if len(files) > MAX_FILES or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise InvalidInput(f"files must map up to {MAX_FILES} file names to their text")
    note = body.get("note") if isinstance(body.get("note"), str) else ""
    return list(files.items()), centre, note.strip()


def _refused(exc: InvalidProcess):
    return jsonify({"valid": False, "code": exc.code, "message": exc.message, "errors": exc.errors or []}), 422


@bp.post("/processes/validate.json")
@roles_required(*READ_ROLES)
def check():
    uploads, centre, _note = _edited_files()
    try:
        result = processes.deploy_upload(orchestrator(), staff_actor(), uploads, centre, dry_run=True)
    except InvalidProcess as exc:
        return _refused(exc)
    return jsonify(
        {
            "valid": result["valid"],
            "message": result["message"],
            "errors": result["errors"],
            "summary": (result.get("changes") or {}).get("summary"),
            "changes": result.get("changes"),  # shown in the deploy confirmation (engine.process.diffing)
            "warnings": result.get("warnings") or [],  # accepted, but said (a process nothing calls)
        }
    ), 200 if result["valid"] else 422


@bp.post("/processes/deploy.json")
@roles_required(*READ_ROLES)
def publish():
    uploads, centre, note = _edited_files()
    try:
        result = processes.deploy_upload(orchestrator(), staff_actor(), uploads, centre, note)
    except InvalidProcess as exc:
        return _refused(exc)
    return jsonify(
        {
            "valid": True,
            "created": result["created"],
            "id": result["id"],
            "version": result["version"],
            "centre": result["centre"],
            "hash": result["hash"],
            "summary": (result.get("changes") or {}).get("summary"),
            "url": url_for("owners.version_page", bundle_id=result["id"]),
            "warnings": result.get("warnings") or [],
        }
    ), 201 if result["created"] else 200


@bp.post("/processes/form-preview")
@roles_required(*READ_ROLES)
def form_preview():
    """The form as staff will see it on the task page, rendered from the posted JSON Schema text."""
    text = request.get_data(as_text=True)
    try:
        schema = json.loads(text)
        if not isinstance(schema, dict):
            raise ValueError("the schema must be a JSON object")
        described = fields(schema)
    except (ValueError, TypeError, AttributeError) as exc:
        return render_template("owners/_form_preview.html", problem=str(exc), fields=[], values={}), 422
    return render_template(
        "owners/_form_preview.html", problem=None, schema=schema, fields=described, values=initial_values(schema)
    )
