"""Section 3: our engine's services (no HTTP), full lifecycles per second on SQLite and PostgreSQL."""

from __future__ import annotations

import statistics
import time

from engine.services import portal, rmas, tasks, users

from .common import STEPS, backend_orchestrator, percentile, postgres_available, repeat_rate, rma_payload


def staff_actors(orc, centre: str = "SG") -> dict:
    prefix = centre.lower()
    return {role: users.actor_by_username(orc, f"{prefix}.{role}") for role in ("reception", "tech", "qa")}


def lifecycle(orc, actors, n, timings: list | None = None) -> None:
    """Open an RMA and walk it to the end the way a client would: find each task, then complete it."""
    rma = rmas.open_rma(orc, actors["reception"], rma_payload(n))
    result = None
    for name, role, data in STEPS:
        t0 = time.perf_counter()
        if role == "customer":
            portal.record_customer_decision(orc, rma["tracking_token"], data["approve"])
        else:
            actor = actors[role]
            task = tasks.list_tasks(orc, actor, rma_id=rma["id"])["items"][0]
            assert task["name"] == name, (task["name"], name)
            t0 = time.perf_counter()
            result = tasks.complete_task(orc, actor, task["id"], data)
        if timings is not None:
            timings.append(time.perf_counter() - t0)
    assert result["rma"]["status"] == "closed", result


def run(results, repeats: int, seconds: float, backends: list[str]) -> None:
    for backend in backends:
        label = f"3 services {backend}"
        if backend == "postgresql" and (why := postgres_available()):
            results.skip(label, "lifecycles", why)
            continue
        with backend_orchestrator(backend) as orc:
            actors = staff_actors(orc)
            timings: list[float] = []
            rates = repeat_rate(lambda n: lifecycle(orc, actors, n, timings), repeats, seconds)
        durable, durable_engine = results.values.get("durable"), results.values.get("durable_engine")
        note = f"{statistics.median(rates) / durable:.0%} of durable bound" if durable else ""
        if durable_engine:
            note += f" ({statistics.median(rates) / durable_engine:.0%} of its engine-class row)"
        results.add(label, "full lifecycles", rates, "lifecycles/s", note=note, key=f"services_{backend}")
        ms = [t * 1000 for t in timings]
        results.add(
            label, "task completion p50 / p95", statistics.median(ms), "ms", note=f"p95 {percentile(ms, 95):.2f} ms"
        )
