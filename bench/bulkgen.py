"""Bulk generator: many RMAs written with SQLAlchemy Core bulk inserts, not through the services.

Each generated RMA gets a real instance state: one lifecycle is run once in memory and its state is
dumped at every wait (one per stage); an open RMA reuses its stage's state with the open task's id
replaced by the id of its own task row, so a generated RMA can still be worked through the services.
"""

from __future__ import annotations

import random
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, text

from engine.execution.runtime import instance_status
from engine.services.stage_visits import visits as stage_visits
from engine.store.model import (
    AuditEvent,
    Bundle,
    HumanTask,
    Instance,
    Rma,
    RmaEstimate,
    RmaSearchTerm,
    StageVisit,
)
from engine.store.search_index import rma_search_rows

from .common import STEPS, start_data

try:  # the audit trail may be hash-chained per RMA (engine.store.audit): generated events are chained too
    from engine.store.audit import GENESIS, event_hash
except ImportError:  # pragma: no cover - older engine without the chain
    GENESIS, event_hash = None, None
CHAINED = "hash" in AuditEvent.__table__.c and event_hash is not None

TASK_DUE = timedelta(hours=48)  # every generated task is due two days after it opened (the inbox's due sort)
CENTRES = {"SG": ("SGD", 60.0, 0.55), "DE": ("EUR", 75.0, 0.45)}
# Where a generated RMA is: the number of steps of STEPS done (6 = closed), with its weight.
STAGE_WEIGHTS = {0: 4, 1: 8, 2: 5, 3: 6, 4: 3, 5: 4, 6: 70}
OUTCOMES = [("repaired", 80), ("returned_unrepaired", 12), ("no_fault_found", 8)]
FIRST = [
    "Mei Ling",
    "Arjun",
    "Sarah",
    "Jonas",
    "Lena",
    "Wei",
    "Priya",
    "Lukas",
    "Anna",
    "Hiroshi",
    "Siti",
    "Marco",
    "Chloe",
    "Felix",
    "Nur",
    "Daniel",
    "Aisha",
    "Tobias",
    "Grace",
    "Kenji",
]
LAST = [
    "Tan",
    "Nair",
    "Lim",
    "Weber",
    "Fischer",
    "Ng",
    "Schmidt",
    "Wong",
    "Müller",
    "Koh",
    "Becker",
    "Lee",
    "Rahman",
    "Hoffmann",
    "Chua",
    "Wagner",
    "Goh",
    "Schulz",
    "Ong",
    "Kumar",
]
MODELS = [
    ("Vista X100 Camera", "VX100", "camera"),
    ("DomeCam 4K", "DC4K", "cctv"),
    ("NightGuard NVR-8", "NVR8", "cctv"),
    ("Vista Lens 50mm", "VL50", "camera"),
]
FAULTS = [
    "Does not power on",
    "Autofocus hunts and never locks",
    "Recorder reboots every few minutes",
    "Infrared LEDs do not switch on",
    "Aperture blades sticky",
    "Shutter stuck after a fall",
]


class StageStates:
    """Real dumped states (and the open task at each) for each number of steps done."""

    def __init__(self, orc, bundle_id: int):
        with orc.uow() as uow:
            parsed = orc.parsed_bundle(uow.session, bundle_id)
        runtime = orc.runtime
        self.states, self.ready, self.statuses = [], [], []
        workflow = runtime.start(parsed, start_data(0))
        status = None
        for i in range(len(STEPS) + 1):
            ready = runtime.ready_tasks(workflow)
            status = instance_status(runtime, workflow, ready, status)
            self.states.append(runtime.dump(workflow))
            self.ready.append(ready[0] if ready else None)
            self.statuses.append(status)
            if i < len(STEPS):
                runtime.complete(workflow, ready[0].id, STEPS[i][2])


def _weighted(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def generate(orc, count: int, chunk: int = 2000, seed: int = 7, progress=None) -> None:
    """Insert `count` RMAs with instances, task rows and audit trails (ids after any existing ones)."""
    rng = random.Random(seed)
    with orc.uow() as uow:
        s = uow.session
        bundle_id = s.scalar(select(Bundle.id).order_by(Bundle.id).limit(1))
        first_id = (s.scalar(text("SELECT max(id) FROM rmas")) or 0) + 1
    stages = StageStates(orc, bundle_id)
    serializer_version = orc.runtime.serializer_version
    now = datetime.now(UTC)
    done = 0
    while done < count:
        n = min(chunk, count - done)
        rows = _chunk(rng, stages, bundle_id, serializer_version, now, first_id + done, n)
        with orc.db.begin() as conn:
            for table, values in rows:
                conn.execute(insert(table), values)
        done += n
        if progress:
            progress(done)


def _chunk(rng, stages, bundle_id, serializer_version, now, first_id, n):
    rmas, instances, tasks, audit, terms, visits, estimates = [], [], [], [], [], [], []
    for rma_id in range(first_id, first_id + n):
        centre = "SG" if rng.random() < CENTRES["SG"][2] else "DE"
        currency, rate, _ = CENTRES[centre]
        steps_done = _weighted(rng, STAGE_WEIGHTS)
        closed = steps_done == len(STEPS)
        # Open RMAs are recent, closed ones spread over two years.
        age = timedelta(days=rng.uniform(0, 30) if not closed else rng.uniform(10, 730))
        created = now - age
        model, prefix, category = rng.choice(MODELS)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        number = f"RMA-{centre}-{rma_id:06d}"
        email = f"{first.lower().replace(' ', '')}.{last.lower()}{rma_id}@example.com"
        purchase = (created - timedelta(days=rng.randint(30, 1400))).date()
        in_warranty = (created.date() - purchase).days <= 730 if steps_done >= 2 else None
        quote = round(rng.uniform(40, 400), 2) if steps_done >= 2 else None
        outcome = _weighted(rng, dict(OUTCOMES)) if closed else None
        step_times = [created + (age * (i + 1) / (steps_done + 1.5)) for i in range(steps_done)]
        updated = step_times[-1] if step_times else created
        rmas.append(
            {
                "id": rma_id,
                "number": number,
                "centre_code": centre,
                "status": stages.statuses[steps_done],
                "outcome": outcome,
                "stage": stages.ready[steps_done].stage if not closed else None,
                "customer_name": f"{first} {last}",
                "customer_email": email,
                "customer_phone": "+65 8123 4567",
                "customer_language": "en" if centre == "SG" else "de",
                "product_model": model,
                "serial_number": f"{prefix}-{rma_id:07d}",
                "purchase_date": purchase,
                "product_category": category,
                "fault_description": rng.choice(FAULTS),
                "in_warranty": in_warranty,
                "quote_total": quote,
                "currency": currency,
                "tracking_token": secrets.token_urlsafe(24),
                "created_by": f"{centre.lower()}.reception",
                "created_at": created,
                "updated_at": updated,
                "closed_at": updated if closed else None,
            }
        )
        row = rmas[-1]
        terms += rma_search_rows(rma_id, centre, number, row["serial_number"], row["customer_name"], email)
        state = stages.states[steps_done]
        first_event = len(audit)
        audit.append(
            _event(
                rma_id,
                created,
                f"{centre.lower()}.reception",
                "rma_opened",
                f"{number} opened for {model}",
                None,
                {"fault_description": "..."},
                True,
            )
        )
        first_task = len(tasks)
        for i in range(steps_done):
            name, role, data = STEPS[i]
            who = f"customer:{number}" if role == "customer" else f"{centre.lower()}.{role}"
            r = stages.ready[i]
            tasks.append(
                _task(
                    str(uuid.uuid4()),
                    rma_id,
                    centre,
                    r.name,
                    r.role,
                    step_times[i] - timedelta(hours=2),
                    "completed",
                    step_times[i],
                    who,
                    r.title,
                    r.lane,
                    r.stage,
                    r.form_file,
                )
            )
            if role == "customer":
                audit.append(
                    _event(
                        rma_id,
                        step_times[i],
                        who,
                        "quote_decided",
                        "quote approved",
                        name,
                        {"approve": True, "quote_total": str(quote), "currency": currency},
                        True,
                    )
                )
            else:
                audit.append(
                    _event(rma_id, step_times[i], who, "task_completed", f"{name} completed", name, data, False)
                )
            audit.append(
                _event(
                    rma_id,
                    step_times[i],
                    who,
                    "status_changed",
                    f"{stages.statuses[i]} → {stages.statuses[i + 1]}",
                    None,
                    {"from": stages.statuses[i], "to": stages.statuses[i + 1]},
                    True,
                )
            )
        if closed:
            audit.append(
                _event(
                    rma_id,
                    updated,
                    f"{centre.lower()}.reception",
                    "rma_closed",
                    f"closed: {outcome}",
                    None,
                    {"outcome": outcome},
                    True,
                )
            )
        else:
            ready = stages.ready[steps_done]
            task_id = str(uuid.uuid4())
            state = state.replace(ready.id.encode(), task_id.encode())
            tasks.append(
                _task(
                    task_id,
                    rma_id,
                    centre,
                    ready.name,
                    ready.role,
                    updated,
                    "open",
                    None,
                    None,
                    ready.title,
                    ready.lane,
                    ready.stage,
                    ready.form_file,
                )
            )
        visits += stage_visits(
            rma_id,
            [
                (t["centre_code"], t["stage"], t["created_at"], t["completed_at"])
                for t in tasks[first_task:]
                if t["status"] == "completed" and t["role"] != "manager"
            ],
        )
        if CHAINED:
            prev = GENESIS
            for event in audit[first_event:]:
                event["prev_hash"] = prev
                event["hash"] = prev = event_hash(prev, event)
        estimates.append(_estimate(rma_id, created, row["closed_at"]))
        instances.append(
            {
                "rma_id": rma_id,
                "bundle_id": bundle_id,
                "serializer_version": serializer_version,
                "state": state,
                "version": steps_done + 1,
                "completed": closed,
                "next_timer_at": None,
            }
        )
    return [
        (Rma, rmas),
        (Instance, instances),
        (HumanTask, tasks),
        (AuditEvent, audit),
        (RmaSearchTerm, terms),
        (StageVisit, visits),
        (RmaEstimate, estimates),
    ]


def _estimate(rma_id, created, closed_at):
    """Every RMA has an estimate (recomputed at each milestone): a closed one's is done; an open one's promise ends
    40 days after it was opened, so no generated promise is about to slip (the sweep's usual day: nothing to tell)."""
    if closed_at is not None:
        earliest = latest = closed_at.date()
        source = "done"
    else:
        earliest, latest, source = (
            (created + timedelta(days=20)).date(),
            (created + timedelta(days=40)).date(),
            "defaults",
        )
    return {
        "rma_id": rma_id,
        "earliest": earliest,
        "latest": latest,
        "source": source,
        "samples": 0,
        "basis": {},
        "computed_at": closed_at or created,
    }


def _task(
    task_id, rma_id, centre, name, role, created, status, completed_at, completed_by, title, lane, stage, form_file
):
    return {
        "id": task_id,
        "rma_id": rma_id,
        "name": name,
        "title": title,
        "lane": lane,
        "role": role,
        "centre_code": centre,
        "stage": stage,
        "form_file": form_file,
        "assignee": completed_by if status == "completed" else None,
        "status": status,
        "created_at": created,
        "due_at": created + TASK_DUE,
        "completed_at": completed_at,
        "completed_by": completed_by,
    }


def _event(rma_id, at, actor, kind, detail, task_name, data, visible):
    return {
        "rma_id": rma_id,
        "at": at,
        "actor": actor,
        "kind": kind,
        "task_name": task_name,
        "detail": detail,
        "data": data,
        "customer_visible": visible,
    }


def sample_terms(orc, rng: random.Random, k: int) -> list[str]:
    """Search terms people type: an RMA number, a serial, an email, a surname, a name fragment."""
    with orc.uow() as uow:
        max_id = uow.session.scalar(text("SELECT max(id) FROM rmas"))
        ids = [rng.randint(1, max_id) for _ in range(k)]
        rows = {
            r.id: (r.number, r.serial_number, r.customer_email, r.customer_name)
            for r in uow.session.execute(
                select(Rma.id, Rma.number, Rma.serial_number, Rma.customer_email, Rma.customer_name).where(
                    Rma.id.in_(ids)
                )
            )
        }
    terms = []
    for i in ids:
        if i not in rows:
            continue
        number, serial, email, name = rows[i]
        terms.append([number, serial, email, name.split()[-1], name.split()[0][:3].lower()][rng.randrange(5)])
    return terms
