"""What happens after every step of an instance, in this order (read it top to bottom).

A step is any command that moves an instance: opening an RMA, completing a task, a customer's decision, a
due timer, a parcel scan, a retry. `engine.services.instances` refreshes the projections first (the
instance state, the open-task rows, the RMA's status and stage, incidents, the audit of status changes);
then each reaction below runs with the same `StepContext`, inside the command's unit of work: whatever a
reaction writes (rows, audit events, outbox messages) commits or rolls back with the command, and a
reaction that raises rolls the whole command back.

The order matters where one reaction reads what an earlier one wrote: the estimate and the customer's
messages read the stage visits and the quote; the before-and-beyond reaction sets the stage of an RMA
waiting for its parcel (`inbound`); integrator webhooks run last, so an event carries the RMA as the step
leaves it.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.services.beyond import before_and_beyond
from engine.services.context import StepContext
from engine.services.escalations import escalate
from engine.services.loans import lend_from_the_loan_offer
from engine.services.milestones import customer_side
from engine.services.stage_visits import record_stage_visits
from engine.services.webhook_events import enqueue_events

Reaction = Callable[[StepContext], None]

REACTIONS: tuple[Reaction, ...] = (
    record_stage_visits,  # lead time per stage (the dashboard, the estimate's history)
    lend_from_the_loan_offer,  # a loan unit lent in the process's offer task is booked out (may refuse the step)
    customer_side,  # repeat repairs, photos, quotes, milestones, the estimate, the customer's messages
    before_and_beyond,  # online requests and parcels, goodwill decisions, their messages
    escalate,  # SLA breaches: audit and mail the centre's managers
    enqueue_events,  # integrator webhooks, last: they report the RMA as this step leaves it
)


def run(ctx: StepContext) -> None:
    """Run every reaction, in order, on one step."""
    for reaction in REACTIONS:
        reaction(ctx)
