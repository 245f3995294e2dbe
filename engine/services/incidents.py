"""Incidents: a script, condition or decision that fails while the engine runs leaves the RMA waiting, visibly.

The command that triggered the failure is kept (a technician's completed diagnosis is not thrown away
because the quote script after it broke): the instance is saved with the failed task in SpiffWorkflow's
ERROR state, the RMA shows status `incident`, and one open Incident row records the task, the error
and the time. Its timers are paused (no sweep retries it in a loop). An operator retries it after fixing
the cause (a corrected version deployed and the RMA moved to it, an outage over) or cancels the RMA
with a reason. Every transition is audited; nothing is skipped silently.

The error is what staff see (on the RMA page, in the API, in the audit trail): it names the task and what
went wrong, never what another system answered. That goes to the incident's `detail`, a bounded excerpt
only operators see (engine.services.operations).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.execution.runtime import FailedTask
from engine.store.audit import audit
from engine.store.model import Incident, Instance, Rma, utcnow

INCIDENT = "incident"
_RESOLUTION = "incident_resolution"


def open_incident(session: Session, rma_id: int) -> Incident | None:
    return session.scalar(
        select(Incident)
        .where(Incident.rma_id == rma_id, Incident.status == "open")
        .order_by(Incident.id.desc())
        .limit(1)
    )


def settled_status(session: Session, rma: Rma) -> str:
    """The status the RMA had before its open incident (its own status when it has none)."""
    if rma.status != INCIDENT:
        return rma.status
    incident = open_incident(session, rma.id)
    return incident.status_before if incident is not None else rma.status


def resolve_next_as(session: Session, status: str, resolution: str) -> None:
    """Make the next step that clears the RMA's incident record it as `status` with `resolution`."""
    session.info[_RESOLUTION] = (status, resolution)


def record(
    session: Session,
    rma: Rma,
    actor: str,
    was_incident: bool,
    settled: str,
    failed: list[FailedTask],
    failure: Exception | None,
) -> None:
    """After a step: open the RMA's incident, count another failed attempt, or close it."""
    now = utcnow()
    if failure is not None or failed:
        incident = open_incident(session, rma.id) if was_incident else None
        if incident is None:
            failing = getattr(failure, "task", None)  # the BPMN id a ProcessScriptError names
            task = next((t for t in failed if failure is None or t.name == failing), failed[0] if failed else None)
            message = _message(failure) if failure is not None else "a task is in error"
            detail = getattr(failure, "detail", None)
            session.add(
                Incident(
                    rma_id=rma.id,
                    centre_code=rma.centre_code,
                    task_name=task.name if task else getattr(failure, "task", None),
                    task_title=task.title if task else None,
                    stage=task.stage if task else rma.stage,
                    error=message,
                    detail=detail,
                    status="open",
                    status_before=settled,
                    attempts=1,
                    opened_at=now,
                    last_failed_at=now,
                )
            )
            audit(
                session,
                rma.id,
                actor,
                "incident_opened",
                f"incident: {message}"[:2000],
                task_name=task.name if task else None,
                data={"error": message, "status_before": settled},
            )
        elif failure is not None:
            incident.attempts += 1
            incident.error, incident.last_failed_at = _message(failure), now
            incident.detail = getattr(failure, "detail", None)
            audit(
                session,
                rma.id,
                actor,
                "incident_retry_failed",
                f"retry failed: {incident.error}"[:2000],
                task_name=incident.task_name,
                data={"error": incident.error, "attempts": incident.attempts},
            )
        return
    if not was_incident:
        return
    incident = open_incident(session, rma.id)
    if incident is None:
        return
    status, resolution = session.info.pop(_RESOLUTION, ("resolved", "retried"))
    incident.status, incident.resolution = status, resolution
    incident.resolved_at, incident.resolved_by = now, actor
    audit(
        session,
        rma.id,
        actor,
        f"incident_{status}",
        f"incident {status}: {resolution}"[:2000],
        task_name=incident.task_name,
        data={"resolution": resolution, "attempts": incident.attempts},
    )


def open_after_rollback(session: Session, rma_id: int, actor: str, failure: Exception) -> None:
    """A command that was rolled back whole (it went over its budget): its RMA waits in an incident at its
    last committed state, timers paused, naming the element the failure names. An operator's retry runs it
    again from there (after the process owner fixed the version and the RMA was moved to it)."""
    instance = session.get(Instance, rma_id, with_for_update=True)
    rma = session.get(Rma, rma_id)
    if instance is None or rma is None:
        return
    instance.next_timer_at = None
    settled = settled_status(session, rma)
    was_incident = rma.status == INCIDENT
    rma.status = INCIDENT
    record(session, rma, actor, was_incident, settled, [], failure)


def _message(failure: Exception) -> str:
    return (getattr(failure, "message", None) or f"{type(failure).__name__}: {failure}")[:4000]
