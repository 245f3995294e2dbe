"""Section 6: stored bytes per instance (state, projections, audit) after one full lifecycle.

SQLite: the bytes of the column values (no page or index overhead). PostgreSQL: pg_column_size of
the rows, i.e. as stored, after TOAST compression of the state.
"""

from __future__ import annotations

from sqlalchemy import select, text

from engine.store.model import AuditEvent, HumanTask, Instance, Rma

from .common import backend_orchestrator, postgres_available
from .services import lifecycle, staff_actors

TABLES = {
    "state": (Instance, Instance.rma_id),
    "rma row": (Rma, Rma.id),
    "task rows": (HumanTask, HumanTask.rma_id),
    "audit rows": (AuditEvent, AuditEvent.rma_id),
}


def _value_bytes(value) -> int:
    if value is None:
        return 0
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    return len(str(value).encode())


def sizes(orc, rma_id: int) -> dict[str, tuple[int, int]]:
    """Part -> (bytes, rows) for one RMA."""
    result = {}
    with orc.uow() as uow:
        s = uow.session
        for part, (model, key) in TABLES.items():
            table = model.__table__
            if orc.settings.is_sqlite:
                cols = [table.c.state] if part == "state" else list(table.c)
                rows = s.execute(select(*cols).where(key == rma_id)).all()
                result[part] = (sum(_value_bytes(v) for row in rows for v in row), len(rows))
            else:
                expr = "pg_column_size(t.state)" if part == "state" else "pg_column_size(t.*)"
                col = key.key
                row = s.execute(
                    text(f"SELECT coalesce(sum({expr}), 0), count(*) FROM {table.name} t WHERE t.{col} = :id"),
                    {"id": rma_id},
                ).one()
                result[part] = (int(row[0]), int(row[1]))
    return result


def run(results, args) -> None:
    for backend in args.backends:
        label = f"6 footprint {backend}"
        if backend == "postgresql" and (why := postgres_available()):
            results.skip(label, "stored bytes", why)
            continue
        with backend_orchestrator(backend) as orc:
            lifecycle(orc, staff_actors(orc), 1)
            with orc.uow() as uow:
                rma_id = uow.session.scalar(select(Rma.id).order_by(Rma.id.desc()).limit(1))
                raw_state = len(uow.session.get(Instance, rma_id).state)
            parts = sizes(orc, rma_id)
        how = "column bytes" if backend == "sqlite" else "pg_column_size, TOASTed"
        total = 0
        for part, (size, rows) in parts.items():
            total += size
            note = f"{rows} row(s), {how}"
            if part == "state":
                note += f"; raw JSON {raw_state:,} B"
            results.add(label, f"stored per closed RMA: {part}", size / 1024, "KiB", note=note)
        results.add(label, "stored per closed RMA: total", total / 1024, "KiB")
