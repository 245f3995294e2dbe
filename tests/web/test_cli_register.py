"""`rma register import FILE` (issue 17.5): the register's CSV import from the command line, all rows or none, every
problem printed by line and column."""

from __future__ import annotations

from datetime import date

from click.testing import CliRunner

from engine.services import register
from tests.helpers import actor
from web import cli


def rma(orc, monkeypatch, *args):
    monkeypatch.setattr(cli, "_orchestrator", lambda: orc)
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def test_rma_register_import_prints_every_problem_then_imports_the_fixed_file(orc, monkeypatch, tmp_path):
    day = date.today().isoformat()
    bad = tmp_path / "bad.csv"
    bad.write_text(f"serial_number,model,ship_date\nC-1,Cam,{day}\nC-2,,31.12.2025\n", encoding="utf-8")
    result = rma(orc, monkeypatch, "register", "import", bad)
    assert result.exit_code == 1
    assert "line 3, model: Required." in result.output
    assert "line 3, ship_date: '31.12.2025' is not a date (YYYY-MM-DD)." in result.output
    assert register.list_units(orc, actor(orc, "manager"))["total"] == 0
    good = tmp_path / "good.csv"
    good.write_text(f"serial_number,model,ship_date\nC-1,Cam,{day}\nC-2,Cam,{day}\n", encoding="utf-8")
    result = rma(orc, monkeypatch, "register", "import", good)
    assert result.exit_code == 0 and "2 unit(s) registered (2 new, 0 updated)" in result.output
    assert register.get_unit(orc, actor(orc, "sg.tech"), "c-2")["model"] == "Cam"
