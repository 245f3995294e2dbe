"""Six months of closed demo RMAs, so that the dashboard's lead times, the estimates' basis and the earlier-RMA
panels show real figures in the quick start.

Running some 280 lifecycles through the services would take a minute, so each way an RMA can go is run once
through the services (a template), in a scratch SQLite database that holds a copy of the real one's centres, users,
process versions and catalogue, and every demo RMA is a copy of one template's rows written with bulk inserts:
the RMA, its instance state, task rows, audit trail (re-chained), messages, milestones, quote, estimate, stage
visits and search terms, with its own number, customer, serial number and tracking token, and every timestamp
moved to its own dates. Each step of a copy is placed after the previous one by a drawn duration per stage (a
task with an SLA finishes within it, as no SLA timer fired in the template), so the task rows, history and stage
visits tell one consistent story, the one the engine would have written had the RMA run on those dates.
"""

from __future__ import annotations

import bisect
import functools
import json
import random
import re
import secrets
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, func, insert, select, text

from engine.customer.customer_text import day
from engine.services import portal, rmas, stage_visits, tasks, users
from engine.store.audit import GENESIS, event_hash
from engine.store.model import Base, Rma, utcnow
from engine.store.search_index import rma_search_rows

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

CUSTOMER = "customer"  # a step by the customer on the tracking page (the quote decision)
HISTORY_DAYS = 182
# Typical days per stage (median, spread of the log-normal); a task with an SLA finishes within it.
STAGE_DAYS = {
    "intake": (0.08, 0.6),
    "diagnosis": (0.9, 0.5),
    "approval": (0.9, 0.7),
    "repair": (1.8, 0.5),
    "qa": (0.25, 0.5),
    "return": (0.7, 0.5),
}
INTAKE = {
    "condition_grade": "B",
    "condition_notes": "Light scuffs on the housing",
    "accessories": "Power adapter",
    "customer_acknowledged": True,
}
SHIP = {"carrier": "DHL", "tracking_number": "JD0146000062"}


@dataclass(frozen=True)
class Template:
    """One way an RMA goes: run once through the services, then copied."""

    centre: str
    model: str
    prefix: str  # of the serial numbers
    category: str
    months_old: int  # the unit's age at receipt (decides the warranty)
    steps: tuple  # (username or CUSTOMER, form data or the approval)
    weight: int  # share of the centre's history
    faults: tuple = ()


def _repair(tech: str, qa: str, notes: str, parts: str, de: bool = False, rework: str | None = None) -> tuple:
    steps: list = [(tech, {"factory_only": False})] if de else []  # Berlin's repair stage asks first
    if rework:
        steps += [(tech, {"repair_notes": notes, "parts_used": parts}), (qa, {"qa_passed": False, "qa_notes": rework})]
    steps += [(tech, {"repair_notes": notes, "parts_used": parts}), (qa, {"qa_passed": True, "qa_notes": "Burn-in OK"})]
    return tuple(steps)


def _diagnosis(text_: str, category: str, parts: float, hours: float) -> dict:
    return {"diagnosis": text_, "fault_category": category, "parts_cost": parts, "labour_hours": hours}


TEMPLATES = {
    "sg_nvr_warranty": Template(
        "SG",
        "NightGuard NVR-8",
        "NVR8",
        "cctv",
        26,
        (
            ("sg.reception", INTAKE),
            ("sg.tech", _diagnosis("Power supply capacitor bulging", "electronic", 35.0, 1.0)),
            *_repair("sg.tech", "sg.qa", "Replaced the PSU capacitors", "CAP-1000UF x2"),
            ("sg.reception", SHIP),
        ),
        25,
        ("Recorder reboots every few minutes", "No picture on channel 3", "Hard disk not detected"),
    ),
    "sg_x200_warranty_rework": Template(
        "SG",
        "Vista X200 Camera",
        "VX200",
        "camera",
        11,
        (
            ("sg.reception", INTAKE),
            ("sg.tech", _diagnosis("Image sensor connector loose", "electronic", 0.0, 1.0)),
            *_repair(
                "sg.tech",
                "sg.qa",
                "Reseated and secured the sensor flex cable",
                "Kapton tape",
                rework="Stripes in long exposures again",
            ),
            ("sg.reception", SHIP),
        ),
        10,
        ("Stripes across the picture", "Camera freezes when recording video"),
    ),
    "sg_x100_quote": Template(
        "SG",
        "Vista X100 Camera",
        "VX100",
        "camera",
        31,
        (
            ("sg.reception", INTAKE),
            ("sg.tech", _diagnosis("Power regulator on the main board failed", "electronic", 120.0, 1.5)),
            (CUSTOMER, True),
            *_repair("sg.tech", "sg.qa", "Replaced the main board regulator", "REG-5V-22"),
            ("sg.reception", SHIP),
        ),
        35,
        ("Does not power on", "Shutter stuck after a fall", "Battery drains overnight"),
    ),
    "sg_x100_declined": Template(
        "SG",
        "Vista X100 Camera",
        "VX100",
        "camera",
        40,
        (
            ("sg.reception", INTAKE),
            ("sg.tech", _diagnosis("Shutter assembly bent", "mechanical", 180.0, 2.5)),
            (CUSTOMER, False),
            ("sg.reception", SHIP),
        ),
        15,
        ("Shutter stuck after a fall", "Lens mount cracked"),
    ),
    "sg_x100_no_fault": Template(
        "SG",
        "Vista X100 Camera",
        "VX100",
        "camera",
        6,
        (
            ("sg.reception", INTAKE),
            ("sg.tech", _diagnosis("No fault found after a 24 h test; firmware updated", "no_fault_found", 0.0, 0.5)),
            ("sg.reception", SHIP),
        ),
        15,
        ("Autofocus hunts and never locks", "Camera switches off by itself"),
    ),
    "de_dome_warranty": Template(
        "DE",
        "DomeCam 4K",
        "DC4K",
        "cctv",
        12,
        (
            ("de.reception", INTAKE),
            ("de.tech", _diagnosis("IR-Platine defekt", "electronic", 40.0, 1.0)),
            *_repair("de.tech", "de.qa", "IR-Platine getauscht", "IR-BOARD-4K", de=True),
            ("de.reception", SHIP),
        ),
        45,
        ("Infrarot-LEDs schalten nicht ein", "Bild bleibt nachts schwarz", "Kamera startet ständig neu"),
    ),
    "de_lens_quote": Template(
        "DE",
        "Vista Lens 50mm",
        "VL50",
        "camera",
        30,
        (
            ("de.reception", INTAKE),
            ("de.tech", _diagnosis("Öl auf den Blendenlamellen", "mechanical", 30.0, 2.0)),
            (CUSTOMER, True),
            *_repair("de.tech", "de.qa", "Blende gereinigt und neu geschmiert", "", de=True),
            ("de.reception", SHIP),
        ),
        40,
        ("Blendenlamellen kleben", "Autofokus bleibt hängen"),
    ),
    "de_dome_declined": Template(
        "DE",
        "DomeCam 4K",
        "DC4K",
        "cctv",
        34,
        (
            ("de.reception", INTAKE),
            ("de.tech", _diagnosis("Hauptplatine durch Wassereintritt korrodiert", "electronic", 150.0, 2.0)),
            (CUSTOMER, False),
            ("de.reception", SHIP),
        ),
        15,
        ("Kamera ohne Funktion nach Unwetter", "Kein Netzwerk"),
    ),
}
PER_CENTRE = {"SG": 140, "DE": 160}  # Berlin is the busier centre
LANGUAGE = {"SG": "en", "DE": "de"}
NAMES = {
    "SG": (
        [
            "Wei Jie",
            "Priya",
            "Hui Min",
            "Siti",
            "Daniel",
            "Aisha",
            "Kenji",
            "Grace",
            "Ravi",
            "Jia Hui",
            "Farah",
            "Marcus",
        ],
        ["Tan", "Ng", "Wong", "Koh", "Lee", "Rahman", "Chua", "Goh", "Ong", "Kumar", "Teo", "Lim", "Menon", "Yeo"],
    ),
    "DE": (
        ["Lukas", "Anna", "Felix", "Marie", "Tobias", "Sophie", "Jan", "Laura", "Niklas", "Hannah", "Moritz", "Lea"],
        ["Müller", "Schmidt", "Becker", "Hoffmann", "Wagner", "Schulz", "Koch", "Richter", "Klein", "Wolf", "Braun"],
    ),
}


@dataclass(frozen=True)
class Customer:
    name: str
    email: str
    phone: str


@dataclass(frozen=True)
class Planned:
    """One closed demo RMA to write: which template, who, which unit, and how many days before today it came in."""

    template: str
    customer: Customer
    serial: str
    days_ago: float
    fault: str | None = None


def _plain(name: str) -> str:
    return name.lower().replace(" ", "").replace("ü", "ue").replace("ö", "oe").replace("ä", "ae").replace("ß", "ss")


def customers(centre: str, rng: random.Random, n: int) -> list[Customer]:
    """`n` distinct demo customers of a centre: own names, emails (example.com) and phone numbers in its country."""
    firsts, lasts = NAMES[centre]
    n = min(n, len(firsts) * len(lasts))
    seen: set = set()
    found: list[Customer] = []
    while len(found) < n:
        first, last = rng.choice(firsts), rng.choice(lasts)
        if (first, last) in seen:
            continue
        seen.add((first, last))
        if centre == "SG":
            phone = f"+65 {rng.choice('689')}{rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        else:
            phone = f"+49 {rng.choice(['151', '160', '170', '176'])} {rng.randint(1000000, 9999999)}"
        found.append(Customer(f"{first} {last}", f"{_plain(first)}.{_plain(last)}@example.com", phone))
    return found


def plan(rng: random.Random, fixed: list[Planned]) -> list[Planned]:
    """The closed RMAs of both centres over the last six months (oldest first), `fixed` ones included."""
    planned = list(fixed)
    for centre, count in PER_CENTRE.items():
        names = [k for k, t in TEMPLATES.items() if t.centre == centre]
        weights = [TEMPLATES[k].weight for k in names]
        pool = customers(centre, rng, int(count * 0.8))  # some customers come back
        taken = {p.customer.email for p in fixed}
        pool = [c for c in pool if c.email not in taken]
        for i in range(count - sum(1 for p in fixed if TEMPLATES[p.template].centre == centre)):
            key = rng.choices(names, weights)[0]
            t = TEMPLATES[key]
            serial = f"{t.prefix}-{rng.randint(10000, 99999)}"
            fault = rng.choice(t.faults) if t.faults else None
            planned.append(Planned(key, rng.choice(pool), serial, rng.uniform(3, HISTORY_DAYS), fault))
    return sorted(planned, key=lambda p: -p.days_ago)


# ----------------------------------------------------------------------------------- templates


@dataclass
class Run:
    """One template's rows as the engine wrote them, and when each of its steps began."""

    template: Template
    rows: dict[str, list[dict]]  # table name -> rows of the template RMA
    starts: list[datetime]  # starts[k]: just before step k (0: the opening); the last: after the final step
    tokens: dict[str, str] = field(default_factory=dict)  # what identifies the template's RMA in its texts


_REFERENCE_SKIP = {"throttle_counters", "known_login_addresses", "api_tokens", "webhook_deliveries"}


def _rma_tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if t.name == "rmas" or "rma_id" in t.c]


def _scratch(orc: Orchestrator, folder: Path) -> Orchestrator:
    """An orchestrator on an empty SQLite database with a copy of the real one's reference rows (centres, users,
    process versions with their ids, catalogue), sharing the parsed specs."""
    from engine.orchestrator import Orchestrator

    scratch = Orchestrator(
        replace(
            orc.settings,
            database_url="sqlite:///:memory:",
            smtp_url=None,
            sms_webhook_url=None,
            run_worker=False,
            upload_dir=folder / "uploads",
        )
    )
    scratch.specs = orc.specs
    Base.metadata.create_all(scratch.db)
    rma_tables = {t.name for t in _rma_tables()}
    with orc.db.connect() as source, scratch.db.begin() as target:
        for table in Base.metadata.sorted_tables:
            if table.name in rma_tables or table.name in _REFERENCE_SKIP:
                continue
            rows = [dict(r) for r in source.execute(select(table)).mappings()]
            if rows:
                target.execute(insert(table), rows)
    return scratch


def _run_template(orc: Orchestrator, key: str, t: Template, n: int) -> Run:
    """Run the template's lifecycle through the services, noting the time before each step."""
    reception = users.actor_by_username(orc, f"{t.centre.lower()}.reception")
    assert reception is not None
    received = date.today()
    purchase = received - timedelta(days=int(t.months_old * 30.5))
    ident = {
        "name": f"Tmplcustomer Zq{n}x",
        "email": f"tmplcustomer.zq{n}x@example.com",
        "phone": f"+00 5550 {n:04d}",
        "serial": f"TMPLSERIAL{n:04d}Q",
        "fault": f"Template fault {n} q",
        "parcel": f"TMPLPARCEL{n:04d}Q",
    }
    starts = [utcnow()]
    rma = rmas.open_rma(
        orc,
        reception,
        {
            "centre": t.centre,
            "customer": {
                "name": ident["name"],
                "email": ident["email"],
                "phone": ident["phone"],
                "language": LANGUAGE[t.centre],
            },
            "product": {
                "model": t.model,
                "serial_number": ident["serial"],
                "purchase_date": purchase.isoformat(),
                "category": t.category,
            },
            "fault_description": ident["fault"],
        },
    )
    for who, data in t.steps:
        if data is SHIP:
            data = {**SHIP, "tracking_number": ident["parcel"]}
        starts.append(utcnow())
        if who == CUSTOMER:
            portal.record_customer_decision(orc, rma["tracking_token"], data)
            continue
        actor = users.actor_by_username(orc, who)
        assert actor is not None
        task = tasks.list_tasks(orc, actor, rma_id=rma["id"])["items"][0]
        tasks.complete_task(orc, actor, task["id"], data)
    starts.append(utcnow())
    rows: dict[str, list[dict]] = {}
    with orc.db.connect() as conn:
        for table in _rma_tables():
            column = table.c.id if table.name == "rmas" else table.c.rma_id
            query = select(table).where(column == rma["id"])
            if "id" in table.c:
                query = query.order_by(table.c.id)
            found = [dict(r) for r in conn.execute(query).mappings()]
            if found:
                rows[table.name] = found
    row = rows["rmas"][0]
    if row["status"] != "closed":
        raise RuntimeError(f"demo template {key} did not close its RMA (status {row['status']})")
    tokens = {
        "number": row["number"],
        "tracking_token": row["tracking_token"],
        **ident,
        "purchase": purchase.isoformat(),
        "received": received.isoformat(),
    }
    return Run(t, rows, starts, tokens)


# ----------------------------------------------------------------------------------- copies


class _Clock:
    """Moves a template's timestamps to a copy's: a time during step k lands as far into the copy's step k."""

    def __init__(self, starts: list[datetime], new_starts: list[datetime]):
        self.starts, self.new = starts, new_starts

    def __call__(self, value: datetime, anchor: datetime | None = None) -> datetime:
        if value > self.starts[-1] + timedelta(seconds=5) and anchor is not None:  # a due time: as far from its row
            return self(anchor) + (value - anchor)
        k = max(bisect.bisect_right(self.starts, value) - 1, 0)
        k = min(k, len(self.new) - 1)
        return self.new[k] + (value - self.starts[k])


def _durations(run: Run, rng: random.Random) -> list[timedelta]:
    """How long the task completed at each step stood open in the copy (SLA kept where the task has one)."""
    finished = sorted(
        (t for t in run.rows.get("tasks", []) if t["completed_at"] is not None), key=lambda t: t["completed_at"]
    )
    result = []
    for k in range(1, len(run.starts) - 1):
        done = [t for t in finished if run.starts[k] <= t["completed_at"] < run.starts[k + 1]]
        stage = done[0]["stage"] if done else None
        median, spread = STAGE_DAYS.get(stage or "", (0.3, 0.5))
        limit = None
        if done and done[0]["due_at"] is not None:
            limit = 0.95 * (done[0]["due_at"] - done[0]["created_at"]).total_seconds() / 86400
        days = median * rng.lognormvariate(0, spread)
        if limit is not None:  # within the SLA: drawn again (a truncated distribution, not a pile at the limit)
            for _ in range(20):
                if days <= limit:
                    break
                days = median * rng.lognormvariate(0, spread)
            else:
                days = limit * rng.uniform(0.5, 0.95)
        result.append(timedelta(days=max(days, 0.01)))
    return result


def _texts(tokens: dict[str, str], values: dict[str, str], lang: str, shift: int) -> list[tuple[str, str]]:
    """Replacements: the template's identifying texts -> the copy's."""
    pairs = [
        (tokens[k], values[k])
        for k in ("number", "tracking_token", "name", "email", "phone", "serial", "fault", "parcel")
    ]
    for key in ("purchase", "received"):
        old = date.fromisoformat(tokens[key])
        new = old + timedelta(days=shift)
        pairs += [(old.isoformat(), new.isoformat()), (day(lang, old), day(lang, new))]
    return pairs


class _Swap:
    """Replaces every template text by the copy's. A template's texts are the same in each of its copies, so each
    text is cut once at the places to replace (cached) and every copy only joins the pieces with its own values."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self.map = dict(pairs)
        self.pattern = _pattern(tuple(sorted(self.map, key=lambda old: (-len(old), old))))

    def text(self, value: str) -> str:
        parts = _pieces(self.pattern, value)
        if len(parts) == 1:
            return value
        return "".join(part if i % 2 == 0 else self.map[part] for i, part in enumerate(parts))

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value


def _escaped(value: str) -> str:
    """`value` as json.dumps writes it inside a string (ASCII only, as the instance state is dumped)."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return value
    return json.dumps(value)[1:-1]


@functools.cache
def _pattern(olds: tuple[str, ...]) -> re.Pattern:
    return re.compile("(" + "|".join(re.escape(old) for old in olds) + ")")


@functools.lru_cache(maxsize=4096)
def _pieces(pattern: re.Pattern, value: str) -> list[str]:
    return pattern.split(value)


def _copy(
    run: Run, rma_id: int, p: Planned, now: datetime, rng: random.Random
) -> tuple[dict[str, list[dict]], datetime]:
    t = run.template
    lang = LANGUAGE[t.centre]
    steps = _durations(run, rng)
    created = now - timedelta(days=p.days_ago)
    new_starts = [created]
    for d in steps:
        new_starts.append(new_starts[-1] + d)
    new_starts.append(new_starts[-1] + (run.starts[-1] - run.starts[-2]))
    clock = _Clock(run.starts, new_starts)
    shift = (created.date() - run.starts[0].date()).days
    number = f"RMA-{t.centre}-{rma_id:06d}"
    values = {
        "number": number,
        "tracking_token": secrets.token_urlsafe(24),
        "name": p.customer.name,
        "email": p.customer.email,
        "phone": p.customer.phone,
        "serial": p.serial,
        "fault": p.fault or run.tokens["fault"],
        "parcel": f"JD{rng.randint(10**17, 10**18 - 1)}",
    }
    pairs = _texts(run.tokens, values, lang, shift)
    task_ids = {row["id"]: str(uuid.uuid4()) for row in run.rows.get("tasks", [])}
    pairs += sorted(task_ids.items())
    swap = _Swap(pairs)
    swap_state = _Swap([(_escaped(a), _escaped(b)) for a, b in pairs])  # as the state's JSON writes them
    out: dict[str, list[dict]] = {}
    for name, rows in run.rows.items():
        if name in ("stage_visits", "rma_search_terms"):
            continue  # derived below from the copy's own rows, as the engine derives them
        table = Base.metadata.tables[name]
        copies = []
        for row in rows:
            new = dict(row)
            anchor = next((v for v in row.values() if isinstance(v, datetime) and v <= run.starts[-1]), None)
            for key, value in row.items():
                if isinstance(value, datetime):
                    new[key] = clock(value, anchor)
                elif isinstance(value, date):
                    moved = (clock(anchor).date() - anchor.date()).days if anchor else shift
                    new[key] = value + timedelta(days=shift if name == "rmas" else moved)
                elif isinstance(value, bytes):
                    new[key] = swap_state.text(value.decode("utf-8")).encode("utf-8")
                elif isinstance(value, str | dict | list):
                    new[key] = swap(value)
            if name == "rmas":
                new["id"] = rma_id
            else:
                new["rma_id"] = rma_id
                if _int_id(table):  # a serial id: the database gives the copy its own
                    new.pop("id", None)
            copies.append(new)
        out[name] = copies
    rma = out["rmas"][0]
    out["rma_search_terms"] = rma_search_rows(
        rma_id, t.centre, number, rma["serial_number"], rma["customer_name"], rma["customer_email"]
    )
    out["stage_visits"] = stage_visits.visits(
        rma_id,
        [
            (r["centre_code"], r["stage"], r["created_at"], r["completed_at"])
            for r in out.get("tasks", [])
            if r["status"] == "completed" and r["role"] != "manager" and r["completed_at"] is not None
        ],
    )
    prev = GENESIS
    for event in out.get("audit_events", []):  # in the template's order (its ids), re-chained
        event["prev_hash"] = prev
        event["hash"] = prev = event_hash(prev, event)
    return out, rma["closed_at"]


@functools.cache
def _int_id(table: Table) -> bool:
    return "id" in table.c and table.c.id.primary_key and str(table.c.id.type).upper() in ("INTEGER", "BIGINT")


def create_history(
    orc: Orchestrator,
    fixed: list[Planned] | None = None,
    seed: int = 16,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Write the closed demo RMAs (before any open one, so they are the earlier RMAs); returns how many."""
    rng = random.Random(seed)
    now = now or utcnow()
    planned = plan(rng, fixed or [])
    with tempfile.TemporaryDirectory(prefix="rma-demo-") as folder:
        scratch = _scratch(orc, Path(folder))
        try:
            runs = {key: _run_template(scratch, key, t, i) for i, (key, t) in enumerate(TEMPLATES.items())}
        finally:
            scratch.dispose()
    with orc.db.begin() as conn:
        first = (conn.scalar(select(func.max(Rma.id))) or 0) + 1
        batches: dict[str, list[dict]] = {}
        written = 0
        for i, p in enumerate(planned):
            rows, closed = _copy(runs[p.template], first + i, p, now, rng)
            if closed > now - timedelta(hours=1):  # a long one: it came in earlier
                late = (closed - now).total_seconds() / 86400 + 1
                rows, closed = _copy(runs[p.template], first + i, replace(p, days_ago=p.days_ago + late), now, rng)
            for name, values in rows.items():
                batches.setdefault(name, []).extend(values)
            written += 1
        for table in Base.metadata.sorted_tables:
            if batches.get(table.name):
                conn.execute(insert(table), batches[table.name])
        if conn.dialect.name == "postgresql":  # ids were given: move the sequence past them
            conn.execute(text("SELECT setval(pg_get_serial_sequence('rmas', 'id'), (SELECT max(id) FROM rmas))"))
    if progress:
        progress(f"{written} closed demo RMAs")
    return written
