"""What every section shares: the lifecycle, its form data, throwaway databases, timing and statistics."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

from engine.services.catalogue import unknown_model_facts

ROOT = Path(__file__).resolve().parent.parent
PROCESSES_DIR = ROOT / "processes"
POSTGRES_URL = (
    os.environ.get("BENCH_POSTGRES_URL")
    or os.environ.get("RMA_TEST_POSTGRES_URL")
    or "postgresql://postgres@127.0.0.1:5432/test"
)

# The one path every section walks: out of warranty, quote approved, QA passed.
# (task name, role of the user who completes it, form data); role "customer" = the portal decision.
STEPS = [
    (
        "record_condition",
        "reception",
        {
            "condition_grade": "B",
            "condition_notes": "Light scuffs on the grip, lens cap missing",
            "accessories": "Battery, strap, USB-C charger",
            "customer_acknowledged": True,
        },
    ),
    (
        "diagnose",
        "tech",
        {
            "diagnosis": "Power regulator on the main board failed; unit does not power on",
            "fault_category": "electronic",
            "parts_cost": 120.0,
            "labour_hours": 1.5,
        },
    ),
    ("customer_approval", "customer", {"approve": True}),
    (
        "repair",
        "tech",
        {
            "repair_notes": "Replaced the main board regulator, firmware updated to 2.4.1",
            "parts_used": "REG-5V-22, thermal pad",
        },
    ),
    ("qa_check", "qa", {"qa_passed": True, "qa_notes": "30 min burn-in passed; all functions OK"}),
    ("ship_return", "reception", {"carrier": "DHL", "tracking_number": "JD014600006281234567"}),
]
COMPLETIONS_PER_LIFECYCLE = len(STEPS)


def rma_payload(n: int, centre: str = "SG") -> dict:
    """A realistic opening form: out of warranty (30 months old), unique serial."""
    purchase = date.today() - timedelta(days=30 * 31)
    return {
        "centre": centre,
        "customer": {"name": f"Mei Ling Tan {n}", "email": f"meiling.{n}@example.com", "phone": "+65 8123 4567"},
        "product": {
            "model": "Vista X100 Camera",
            "serial_number": f"VX100-B{n:07d}",
            "purchase_date": purchase.isoformat(),
            "category": "camera",
        },
        "fault_description": "Does not power on after a firmware update; battery is charged",
    }


def start_data(n: int, centre: str = "SG", currency: str = "SGD", labour_rate: float = 60.0) -> dict:
    """What open_rma hands the workflow as process data (for the in-memory sections)."""
    p = rma_payload(n, centre)
    return {
        **unknown_model_facts("counter", currency),
        "rma_number": f"RMA-{centre}-{n:06d}",
        "centre": centre,
        "currency": currency,
        "labour_rate": labour_rate,
        "purchase_date": p["product"]["purchase_date"],
        # what engine.services.register.warranty_start hands the warranty check (issue 17.5): the purchase date
        "warranty_start_date": p["product"]["purchase_date"],
        "warranty_date_basis": "purchase",
        "received_on": date.today().isoformat(),
        "product_model": p["product"]["model"],
        "serial_number": p["product"]["serial_number"],
        "product_category": p["product"]["category"],
        "fault_description": p["fault_description"],
        "customer_name": p["customer"]["name"],
        "customer_email": p["customer"]["email"],
    }


# ---------------------------------------------------------------- statistics


@dataclass
class Row:
    """One line of the result table."""

    section: str
    metric: str
    median: float | None = None
    lo: float | None = None
    hi: float | None = None
    unit: str = ""
    note: str = ""


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)

    def add(self, section, metric, samples_or_value, unit="", note="", key=None) -> Row:
        if isinstance(samples_or_value, (list, tuple)):
            samples = list(samples_or_value)
            row = Row(section, metric, statistics.median(samples), min(samples), max(samples), unit, note)
        else:
            row = Row(section, metric, samples_or_value, None, None, unit, note)
        self.rows.append(row)
        if key:
            self.values[key] = row.median
        return row

    def skip(self, section, metric, why) -> None:
        self.rows.append(Row(section, metric, note=f"skipped: {why}"))


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def repeat_rate(fn, repeats: int, seconds: float, warmup: int = 2) -> list[float]:
    """Call `fn(i)` (one lifecycle) for `seconds` per repeat; return lifecycles/s of each repeat."""
    counter = 0
    for _ in range(warmup):
        fn(counter)
        counter += 1
    rates = []
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while True:
            fn(counter)
            counter += 1
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        rates.append(n / elapsed)
    return rates


def fmt(value: float | None) -> str:
    if value is None:
        return ""
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render(results: Results) -> str:
    header = ("section", "metric", "median", "min", "max", "unit", "note")
    # Rows sort by section number (peak RSS is measured in section 4 but belongs to 6); stable otherwise.
    ordered = sorted(results.rows, key=lambda r: r.section.split(" ", 1)[0])
    lines = [(r.section, r.metric, fmt(r.median), fmt(r.lo), fmt(r.hi), r.unit, r.note) for r in ordered]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    right = {2, 3, 4}

    def line(cells):
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    last = None
    for cells in lines:
        if last is not None and cells[0] != last:
            out.append("")
        out.append(line(cells))
        last = cells[0]
    return "\n".join(out)


# ---------------------------------------------------------------- throwaway databases


@contextmanager
def sqlite_url():
    """A SQLite file in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="rma-bench-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'rma.sqlite3'}", Path(tmp)


def postgres_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("select 1")
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        return f"PostgreSQL not reachable at {POSTGRES_URL} ({type(exc).__name__})"


@contextmanager
def postgres_url():
    """A throwaway schema in the PostgreSQL database, dropped afterwards; yields a URL that selects it."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        with tempfile.TemporaryDirectory(prefix="rma-bench-") as tmp:
            yield f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}", Path(tmp)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def make_orchestrator(url: str, tmp: Path):
    """A migrated orchestrator with the demo centres and users and the shipped processes deployed."""
    from engine import Orchestrator, Settings
    from engine.demo import create_centres_and_users
    from web.cli import init_database

    settings = Settings.from_env(
        {}, database_url=url, instance_dir=tmp, upload_dir=tmp / "uploads", secret_key="bench-secret", run_worker=False
    )
    orc = Orchestrator(settings)
    orc.migrate()
    create_centres_and_users(orc)
    init_database(orc)
    return orc


@contextmanager
def backend_orchestrator(backend: str):
    """An orchestrator on a throwaway database of `backend` ('sqlite' or 'postgresql')."""
    cm = sqlite_url() if backend == "sqlite" else postgres_url()
    with cm as (url, tmp):
        orc = make_orchestrator(url, tmp)
        try:
            yield orc
        finally:
            orc.dispose()
