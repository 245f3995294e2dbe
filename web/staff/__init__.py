"""Staff pages: inbox, task forms, RMA search, opening and the RMA page with its process diagram."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("staff", __name__, template_folder="templates")

from . import (  # noqa: E402,F401  (register routes on bp)  # noqa: E402,F401  (reception, catalogue, goodwill)
    batch_pages,  # noqa: E402,F401  (a batch's parcels in and out)
    before_pages,
    customer_pages,  # noqa: E402,F401  (photos, receipt, loan units)
    filters,  # noqa: E402  (registers template filters on bp)
    goodwill_pages,
    inbox,
    intake_pages,  # noqa: E402,F401  (an online request's proof and answers)
    rma_pages,
    task_pages,
)

filters.register(bp)
