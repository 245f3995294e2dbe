"""Version history per centre, one version's files, upload-to-deploy, variant diff and migration pages."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for

from engine.errors import InvalidProcess
from engine.services import migration, processes, versions
from engine.services.users import list_centres

from ..auth import orchestrator, roles_required, staff_actor
from . import READ_ROLES, bp


def deploy_targets(actor) -> list[dict]:
    """Where this actor may deploy: [{centre, label}] (empty for managers)."""
    if actor.role != "process_owner":
        return []
    if actor.centre is not None:
        return [{"centre": actor.centre, "label": f"{actor.centre} variant"}]
    return [{"centre": None, "label": "Base processes"}] + [
        {"centre": c["code"], "label": f"{c['code']} variant ({c['name']})"} for c in list_centres(orchestrator())
    ]


def _centre_arg(value: str | None) -> str | None:
    return (value or "").strip() or None


@bp.get("/processes")
@roles_required(*READ_ROLES)
def versions_page():
    actor = staff_actor()
    listed = versions.list_versions(orchestrator(), actor)
    return render_template(
        "owners/versions.html", groups=listed["centres"], targets=deploy_targets(actor), errors=[], values={}
    )


@bp.post("/processes/upload")
@roles_required(*READ_ROLES)
def upload():
    actor = staff_actor()
    uploads = [(f.filename or "upload", f.read()) for f in request.files.getlist("files") if f.filename]
    centre, note = _centre_arg(request.form.get("centre")), (request.form.get("note") or "").strip()
    processes.check_may_deploy(actor, centre)  # a reader learns nothing from an empty upload either
    if not uploads:
        flash("Choose one or more files to deploy.", "error")
        return redirect(url_for("owners.versions_page"))
    try:
        result = processes.deploy_upload(orchestrator(), actor, uploads, centre, note)
    except InvalidProcess as exc:
        listed = versions.list_versions(orchestrator(), actor)
        flash(f"Nothing was deployed: {exc.message}.", "error")
        return render_template(
            "owners/versions.html",
            groups=listed["centres"],
            targets=deploy_targets(actor),
            errors=exc.errors or [],
            values={"centre": centre or "", "note": note},
        ), 422
    label = f"{centre} variant" if centre else "Base processes"
    if result["created"]:
        flash(f"{label} version {result['version']} deployed.", "success")
    else:
        flash(f"Nothing changed: {label} version {result['version']} already has these files.", "info")
    for w in result.get("warnings") or []:  # accepted, but said: a process nothing calls never runs (issue 15.9)
        where = f"{w['file']}:{w['line']}" if w.get("line") else w["file"]
        flash(f"Warning: {where}{' (' + w['element'] + ')' if w.get('element') else ''}: {w['message']}", "warning")
    return redirect(url_for("owners.version_page", bundle_id=result["id"]))


@bp.get("/processes/<int:bundle_id>")
@roles_required(*READ_ROLES)
def version_page(bundle_id: int):
    version = versions.get_bundle(orchestrator(), staff_actor(), bundle_id)
    return render_template("owners/version.html", v=version)


@bp.get("/processes/<int:bundle_id>/files/<path:name>")
@roles_required(*READ_ROLES)
def download(bundle_id: int, name: str):
    found = versions.bundle_file_by_id(orchestrator(), staff_actor(), bundle_id, name)
    headers = (
        {}
        if request.args.get("inline")
        else {"Content-Disposition": f'attachment; filename="{name.rsplit("/", 1)[-1]}"'}
    )
    return Response(found["text"], mimetype=found["media_type"], headers=headers)


@bp.get("/processes/<int:bundle_id>/diff")
@roles_required(*READ_ROLES)
def diff_page(bundle_id: int):
    diff = versions.variant_diff(orchestrator(), staff_actor(), bundle_id)
    return render_template("owners/diff.html", diff=diff)


@bp.get("/processes/<int:bundle_id>/migrate")
@roles_required(*READ_ROLES)
def migrate_page(bundle_id: int):
    actor = staff_actor()
    version = versions.get_bundle(orchestrator(), actor, bundle_id)
    preview = migration.preview_migration(orchestrator(), actor, version["version"], version["centre"])
    return render_template("owners/migrate.html", v=version, result=preview)


@bp.post("/processes/<int:bundle_id>/migrate")
@roles_required(*READ_ROLES)
def migrate(bundle_id: int):
    actor = staff_actor()
    version = versions.get_bundle(orchestrator(), actor, bundle_id)
    ids = [int(i) for i in request.form.getlist("rma_ids") if i.isdigit()] or None
    result = migration.migrate_rmas(
        orchestrator(), actor, version["version"], version["centre"], dry_run=False, rma_ids=ids
    )
    flash(
        f"{len(result['moved'])} RMA(s) moved to version {version['version']}; "
        f"{len(result['blocked']) + len(result['failed'])} stayed.",
        "success" if result["moved"] else "info",
    )
    return render_template("owners/migrate.html", v=version, result=result)
