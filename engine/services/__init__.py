"""One function per command; each is one unit of work."""

# Feature hooks subscribe to engine.services.hooks when imported; importing them with the services
# package means every process that runs a step (web, worker, CLI, tests) has them.
from .. import milestones as _milestones  # noqa: E402,F401  (the customer's side: messages, ETA, quotes)
from .. import beyond as _beyond  # noqa: E402,F401  (requests, inbound parcels, goodwill decisions)
from .. import escalations as _escalations, webhooks as _webhooks  # noqa: E402,F401  (SLA escalations, integrator webhooks)
from . import loans as _loans  # noqa: E402,F401  (a loan unit lent in a process task is booked out)
from .. import stage_visits as _stage_visits  # noqa: E402,F401  (the dashboard's lead time per stage)
