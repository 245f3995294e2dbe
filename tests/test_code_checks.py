"""The code checks run with the tests: architecture contracts, lint, formatting and types fail the test command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    "command",
    [
        # the layers, no import cycles, engine without Flask, web without sessions ([tool.importlinter])
        ("lint-imports", "--no-cache"),
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        # the engine's public surface, commands typed with their Orchestrator parameter ([tool.mypy])
        ("mypy",),
    ],
    ids=["import-linter", "ruff-check", "ruff-format", "mypy"],
)
def test_the_code_passes(command):
    result = _run(str(BIN / command[0]), *command[1:])
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"


def test_the_architecture_check_catches_an_upward_import(tmp_path):
    """The contracts can fail: a store module importing a service breaks the layers (checked on a copy)."""
    copy = tmp_path / "tree"
    for name in ("engine", "web"):
        shutil.copytree(
            ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__", "node_modules", "vendor")
        )
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    offender = copy / "engine" / "store" / "outbox.py"
    offender.write_text(offender.read_text() + "\nfrom engine.services import tasks  # noqa: E402,F401\n")
    result = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(copy), "PATH": str(BIN)},
    )
    assert result.returncode != 0
    assert "engine.store.outbox" in result.stdout and "engine.services" in result.stdout
