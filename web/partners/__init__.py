"""The partner portal (installers, dealers, distributors: their units, batches and figures) and the managers'
pages for partner organisations (issue 17). One blueprint: the services scope every read to what the caller may
see, a partner to its own organisation."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("partner", __name__, url_prefix="/partner", template_folder="templates")

from . import (  # noqa: E402,F401  (register routes on bp)
    batch_pages,
    batch_parcel_pages,
    organisation_pages,
    portal_pages,
)
