"""The reactions after every step run in one declared order (engine.services.reactions), whatever was imported first."""

from __future__ import annotations

import ast
from pathlib import Path

from engine.services import reactions

ENGINE = Path(__file__).resolve().parents[2] / "engine"


def test_the_reactions_run_in_the_declared_order():
    assert [r.__name__ for r in reactions.REACTIONS] == [
        "record_stage_visits",
        "lend_from_the_loan_offer",
        "customer_side",
        "before_and_beyond",
        "escalate",
        "enqueue_events",
    ]


def test_run_calls_each_reaction_once_in_that_order(monkeypatch):
    called = []
    fakes = tuple((lambda name: lambda ctx: called.append((name, ctx)))(f"r{i}") for i in range(3))
    monkeypatch.setattr(reactions, "REACTIONS", fakes)
    context = object()
    reactions.run(context)  # type: ignore[arg-type]
    assert called == [("r0", context), ("r1", context), ("r2", context)]


def test_nothing_registers_itself_and_no_orm_event_listener_hides_an_effect():
    """Effects are called from the command path: no decorator registry, no SQLAlchemy event listeners."""
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {"listens_for", "listen", "after_step"}:
                if isinstance(node.value, ast.Name) and node.value.id in {"event", "hooks"}:
                    offenders.append(f"{path.relative_to(ENGINE.parent)}:{node.lineno} {node.value.id}.{node.attr}")
    # engine/store/db.py sets SQLite's pragmas and BEGIN IMMEDIATE on each connection: connection setup, not an
    # effect of a command
    assert [o for o in offenders if not o.startswith("engine/store/db.py")] == []
