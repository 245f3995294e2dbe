"""Pages that only read (the inbox, a task, the RMA page and its diagram and customer panels, the search, the
customer's tracking page, the manager's dashboard) go through `Orchestrator.reading()`: on SQLite they
neither take nor wait for the database's write lock, and they see the last committed state, never a
writer's uncommitted one."""

from __future__ import annotations

import sqlite3
import threading

from engine.services import customers, dashboard, diagrams, portal, rmas, tasks
from tests.helpers import actor, rma_payload

# The engine waits up to 30 s for a lock (engine.store.db): a read that waited for the writer would miss this.
ANSWER_WITHIN = 10


def _read_everything(orc, rma):
    reception = actor(orc, "sg.reception")
    inbox = tasks.list_tasks(orc, reception, rma_id=rma["id"])["items"]
    return {
        "inbox": inbox,
        "task": tasks.get_task(orc, reception, inbox[0]["id"]) if inbox else None,
        "page": rmas.get_rma(orc, reception, rma["id"]),
        "diagram": diagrams.rma_diagram(orc, reception, rma["id"]),
        "customer_side": customers.customer_side(orc, reception, rma["id"]),
        "search": rmas.list_rmas(orc, reception, q="Kim")["items"],
        "portal": portal.portal_view(orc, rma["tracking_token"]),
        "dashboard": dashboard.dashboard(orc, actor(orc, "manager"), centre="SG"),
    }


def test_reads_answer_while_another_writer_holds_the_sqlite_write_lock(sqlite_orc, tmp_path):
    orc = sqlite_orc
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(name="Kim Tan"))
    writer = sqlite3.connect(tmp_path / "rma.sqlite3", isolation_level=None, timeout=1)
    writer.execute("BEGIN IMMEDIATE")  # the write lock, as a command in another process holds it
    writer.execute("UPDATE rmas SET customer_name = 'Uncommitted Name' WHERE id = ?", (rma["id"],))
    found, failed = {}, []

    def read():
        try:
            found.update(_read_everything(orc, rma))
        except Exception as exc:  # noqa: BLE001 - reported below
            failed.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(ANSWER_WITHIN)
    try:
        assert not reader.is_alive(), "a read waited for the writer's lock"
        assert not failed, failed
        assert [t["name"] for t in found["inbox"]] == ["record_condition"]
        assert found["task"]["name"] == "record_condition" and found["task"]["form"]
        assert found["diagram"]["stage_diagram"]["highlight"] == ["record_condition"]
        assert found["customer_side"]["eta"] is not None
        assert found["dashboard"]["centre"] == "SG"
        assert found["page"]["customer"]["name"] == "Kim Tan"  # the committed name, not the writer's
        assert [r["id"] for r in found["search"]] == [rma["id"]]
        assert found["portal"]["number"] == rma["number"]
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        reader.join(60)


def test_a_read_sees_what_a_command_committed_just_before(orc):
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    task = tasks.list_tasks(orc, actor(orc, "sg.reception"), rma_id=rma["id"])["items"][0]
    tasks.complete_task(
        orc,
        actor(orc, "sg.reception"),
        task["id"],
        {"condition_grade": "A", "condition_notes": "Clean", "accessories": "None", "customer_acknowledged": True},
    )
    seen = _read_everything(orc, rma)
    assert seen["inbox"] == []  # reception has nothing left on this RMA
    assert seen["page"]["status"] == "diagnosing"
    assert [t["name"] for t in seen["page"]["open_tasks"]] == ["diagnose"]
    assert seen["portal"]["status"] == "diagnosing"
