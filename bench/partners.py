"""Section 5's partner rows (issue 17): opening a 200-unit batch, and a partner's RMA list, at scale.

After bulkgen has written the section's RMAs, a share of them is handed to partner organisations (every third
RMA, spread over ORGS organisations of its centre) with one UPDATE, as a partner's units would be; then the
partner portal's list (`list_partner_rmas`, page 1 of 25 + total) is timed per partner, and whole 200-unit
batches are opened through the service (one transaction each, the single intake's path per unit).
"""

from __future__ import annotations

import random
import time

from sqlalchemy import event, text

from engine.actors import PARTNER, Actor
from engine.services import batches, catalogue, partner_rmas, partners

from .common import percentile

ORGS = 20
BATCH_UNITS = 200
BATCH_MODEL = {
    "model": "Bench Camera 200",
    "category": "camera",
    "warranty_months": 24,
    "replacement_value": 300,
    "currency": "SGD",
    "known_issues": [],
}


def _organisations(orc) -> list[Actor]:
    """ORGS organisations (SG and DE alternately), each given every third RMA of its centre in turn."""
    manager = Actor("bench", "manager")
    actors = []
    for i in range(ORGS):
        centre = "SG" if i % 2 == 0 else "DE"
        org = partners.create_organisation(
            orc,
            manager,
            {"name": f"Bench Partner {i}", "type": "distributor", "centre": centre, "contact_email": f"p{i}@b.example"},
        )
        actors.append(Actor(f"bench.partner{i}", PARTNER, None, None, org["id"]))
    with orc.db.begin() as conn:
        for i, partner in enumerate(actors):
            centre = "SG" if i % 2 == 0 else "DE"
            conn.execute(
                text(
                    "UPDATE rmas SET organisation_id = :org WHERE centre_code = :centre AND id % 3 = 0 "
                    "AND (id / 3) % :n = :k"
                ),
                {"org": partner.organisation, "centre": centre, "n": ORGS // 2, "k": i // 2},
            )
    return actors


def _advance_sequences(orc) -> None:
    """bulkgen writes ids itself; on PostgreSQL the id sequences are moved past them before the services insert."""
    if orc.settings.is_sqlite:
        return
    with orc.db.begin() as conn:
        tables = conn.execute(
            text(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND column_name = 'id' AND column_default LIKE 'nextval%'"
            )
        ).scalars()
        for table in list(tables):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            )


def run(results, label: str, orc, queries: int) -> None:
    _advance_sequences(orc)
    rng = random.Random(17)
    actors = _organisations(orc)
    with orc.reading() as s:
        per_org = s.execute(text("SELECT count(*) FROM rmas WHERE organisation_id IS NOT NULL")).scalar_one() / ORGS
    calls = [rng.choice(actors) for _ in range(queries)]
    for partner in calls[:5]:
        partner_rmas.list_partner_rmas(orc, partner, per_page=25)
    samples = []
    for partner in calls:
        t0 = time.perf_counter()
        partner_rmas.list_partner_rmas(orc, partner, per_page=25)
        samples.append((time.perf_counter() - t0) * 1000)
    results.add(
        label,
        "partner's RMAs (page 1 of 25 + total)",
        percentile(samples, 50),
        "ms p50",
        note=f"p99 {percentile(samples, 99):.1f} ms; {ORGS} partners, ~{per_org:,.0f} RMAs each",
    )
    figures = []
    for partner in calls[: max(10, queries // 10)]:
        t0 = time.perf_counter()
        partner_rmas.partner_figures(orc, partner)
        figures.append((time.perf_counter() - t0) * 1000)
    results.add(
        label,
        "partner figures",
        percentile(figures, 50),
        "ms p50",
        note=f"p99 {percentile(figures, 99):.1f} ms; units, NFF rate, median turnaround, open quotes",
    )
    catalogue.save_model(orc, Actor("bench", "manager"), BATCH_MODEL)
    opener = actors[0]  # an SG partner
    opened = []
    for n in range(6):
        t0 = time.perf_counter()
        _open_batch(orc, opener, n)
        opened.append((time.perf_counter() - t0) * 1000)
    opened = opened[1:]  # the first warms the spec cache
    sent = _statements(orc, lambda: _open_batch(orc, opener, 6))  # one more, untimed: its database round trips
    results.add(
        label,
        f"open a {BATCH_UNITS}-unit batch (one transaction)",
        percentile(opened, 50) / 1000,
        "s p50",
        note=f"p99 {percentile(opened, 99) / 1000:.2f} s over {len(opened)} batches; "
        f"{percentile(opened, 50) / BATCH_UNITS:.1f} ms and {sent / BATCH_UNITS:.1f} statements per unit",
    )


def _open_batch(orc, opener: Actor, n: int) -> None:
    units = [
        {
            "model": BATCH_MODEL["model"],
            "serial_number": f"BENCH-{n}-{i:04d}",
            "fault_description": "No video after a power cut",
            "site": f"Site {i % 9}",
            "customer_reference": f"T-{n}-{i}",
        }
        for i in range(BATCH_UNITS)
    ]
    batches.open_batch(orc, opener, {"centre": "SG", "reference": f"bench-{n}", "units": units})


def _statements(orc, call) -> int:
    """How many SQL statements `call()` sent."""
    sent = []

    def count(*_args) -> None:
        sent.append(1)

    event.listen(orc.db, "before_cursor_execute", count)
    try:
        call()
    finally:
        event.remove(orc.db, "before_cursor_execute", count)
    return len(sent)
