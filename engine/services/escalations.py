"""SLA escalations (a reaction after each step, engine.services.reactions).

A BPMN timer on a stage (e.g. `diagnosis_overdue`, non-interrupting) opens a manager task carrying the
property `escalation`. When such a task opens, in the same transaction: the breach is audited
(`sla_breached`, which the dashboard counts) and every active manager responsible for the RMA's centre
(that centre's managers and the managers of all centres) who has an e-mail address gets a message
through the outbox. Process owners change the SLA by editing the timer's duration in the diagram, and the
mail by editing its template in the bundle (notifications/staff_sla_breached.en.txt).
"""

from __future__ import annotations

from sqlalchemy import or_, select

from engine.customer import notifications
from engine.execution.runtime import ReadyTask
from engine.services.context import StepContext
from engine.store.audit import audit
from engine.store.model import HumanTask, User
from engine.store.outbox import enqueue

ESCALATION_PROPERTY = "escalation"
SLA_BREACHED = "staff_sla_breached"
# The messages this module sends, with the languages their templates must have in every deployed bundle
# (staff read English); engine.services.processes refuses a deploy without them.
MESSAGES: dict[str, tuple[str, ...]] = {SLA_BREACHED: ("en",)}


def escalate(ctx: StepContext) -> None:
    for task in ctx.new_tasks:
        kind = task.properties.get(ESCALATION_PROPERTY)
        if kind:
            _escalate(ctx, task, kind)


def _escalate(ctx: StepContext, task: ReadyTask, kind: str) -> None:
    s, rma = ctx.session, ctx.rma
    overdue = s.execute(
        select(HumanTask.name, HumanTask.title, HumanTask.due_at).where(
            HumanTask.rma_id == rma.id,
            HumanTask.status == "open",
            HumanTask.stage == task.stage,
            HumanTask.due_at.is_not(None),
        )
    ).first()
    what = overdue.title if overdue else (task.stage or "a step")
    due = overdue.due_at.isoformat() if overdue and overdue.due_at else None
    audit(
        s,
        rma.id,
        ctx.actor,
        "sla_breached",
        f"SLA breached: {what} is overdue; a manager is asked to review it",
        task_name=overdue.name if overdue else None,
        data={"escalation": kind, "stage": task.stage, "due": due, "review_task": task.id},
    )
    rendered = notifications.render(
        ctx.messages,
        SLA_BREACHED,
        "en",
        {
            "rma": {"number": rma.number, "product_model": rma.product_model, "centre": rma.centre_code},
            "what": what,
            "due": due,
            "review_url": f"{ctx.orc.settings.base_url}/tasks/{task.id}",
        },
    )
    if rendered is not None:
        notifications.report_unrendered(s, rma.id, SLA_BREACHED, rendered)
    if rendered is None or not rendered.body:
        return
    managers = s.execute(
        select(User.username, User.email)
        .where(
            User.role == "manager",
            User.active.is_(True),
            User.email.is_not(None),
            or_(User.centre_code.is_(None), User.centre_code == rma.centre_code),
        )
        .order_by(User.username)
    ).all()
    for username, email in managers:
        if email is None:  # none is: the query asks for an address
            continue
        enqueue(
            s,
            "email",
            email,
            rendered.body,
            f"escalation:{task.id}:{username}",
            subject=rendered.subject,
            rma_id=rma.id,
            rma_number=rma.number,
        )
