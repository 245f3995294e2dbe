"""Process owners' pages: version history, files, modeler with validate and deploy, variant diff, migration."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("owners", __name__, template_folder="templates")
READ_ROLES = ("process_owner", "manager")  # engine.services.versions checks the centre scope


@bp.after_request
def _never_stale(response):
    """Deploys and migrations change these pages: Back or a reload must not show a version list from before."""
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response


from . import modeler_pages, version_pages  # noqa: E402,F401  (register routes on bp)
