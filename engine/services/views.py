"""Plain-dict views of rows, the shapes services hand to the web layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.store.model import AuditEvent, Bundle, HumanTask, Rma

MAX_PAGE, MAX_PER_PAGE = 1_000_000, 200


def page_bounds(page: int, per_page: int) -> tuple[int, int]:
    """(page, per_page) clamped to 1..MAX_PAGE and 1..MAX_PER_PAGE: a list answers any page it is asked for, and
    the row offset stays a number a 64-bit column takes."""
    return max(1, min(page, MAX_PAGE)), max(1, min(per_page, MAX_PER_PAGE))


def task_view(task: HumanTask, form: dict | None = None, rma: Rma | None = None) -> dict:
    view = {
        "id": task.id,
        "rma_id": task.rma_id,
        "name": task.name,
        "title": task.title,
        "lane": task.lane,
        "role": task.role,
        "centre": task.centre_code,
        "stage": task.stage,
        "assignee": task.assignee,
        "status": task.status,
        "created_at": task.created_at,
        "due_at": task.due_at,
        "completed_at": task.completed_at,
        "completed_by": task.completed_by,
        "form_file": task.form_file,
    }
    if form is not None:
        view["form"] = form
    if rma is not None:
        view["rma_number"] = rma.number
        view["rma"] = {
            "number": rma.number,
            "product_model": rma.product_model,
            "serial_number": rma.serial_number,
            "customer_name": rma.customer_name,
            "status": rma.status,
            "repeat_of_id": rma.repeat_of_id,
        }  # a repair of the same unit closed <= 90 days before
    return view


def event_view(event: AuditEvent) -> dict:
    return {
        "id": event.id,
        "at": event.at,
        "actor": event.actor,
        "kind": event.kind,
        "detail": event.detail,
        "task": event.task_name,
        "data": event.data,
    }


def rma_view(
    rma: Rma,
    tasks: Sequence[HumanTask] | None = None,
    events: Sequence[AuditEvent] | None = None,
    bundle: Bundle | None = None,
) -> dict:
    view: dict[str, Any] = {
        "id": rma.id,
        "number": rma.number,
        "centre": rma.centre_code,
        "status": rma.status,
        "outcome": rma.outcome,
        "stage": rma.stage,
        "customer": {
            "name": rma.customer_name,
            "email": rma.customer_email,
            "phone": rma.customer_phone,
            "language": rma.customer_language,
        },
        "product": {
            "model": rma.product_model,
            "serial_number": rma.serial_number,
            "purchase_date": rma.purchase_date,
            "category": rma.product_category,
        },
        "fault_description": rma.fault_description,
        "in_warranty": rma.in_warranty,
        "quote_total": rma.quote_total,
        "currency": rma.currency,
        "tracking_token": rma.tracking_token,
        "created_at": rma.created_at,
        "updated_at": rma.updated_at,
        "closed_at": rma.closed_at,
    }
    if tasks is not None:
        view["open_tasks"] = [task_view(t) for t in tasks]
    if events is not None:
        view["history"] = [event_view(e) for e in events]
    if bundle is not None:
        view["process"] = {
            "version": bundle.version,
            "centre": bundle.centre_code,
            "hash": bundle.hash,
            "bundle_id": bundle.id,
        }
    return view
