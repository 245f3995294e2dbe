"""Staff pages: inbox, task forms, RMA search, opening and the RMA page with its process diagram."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("staff", __name__, template_folder="templates")

from . import filters  # noqa: E402  (registers template filters on bp)
from . import inbox, rma_pages, task_pages  # noqa: E402,F401  (register routes on bp)
from . import customer_pages  # noqa: E402,F401  (photos, receipt, loan units)
from . import before_pages, goodwill_pages  # noqa: E402,F401  (reception, catalogue, goodwill)

filters.register(bp)
