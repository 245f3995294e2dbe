"""All configuration is in `Settings`: the RMA_* variables `Settings.from_env` reads are exactly those in the
README's configuration table, and no other module of engine/ or web/ reads the environment."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from engine.config import PROJECT_ROOT, Settings

CONFIG = PROJECT_ROOT / "engine" / "config.py"
# Where the environment is read: os.environ / os.environb / os.getenv, click's envvar options, Flask's prefixed env.
ENV_ATTRIBUTES = {"environ", "environb", "getenv", "getenvb", "from_prefixed_env"}
ENV_KEYWORDS = {"envvar", "auto_envvar_prefix", "show_envvar"}
NAME = r"RMA_[A-Z0-9_]+"


class RecordingEnv(Mapping):
    """An empty environment that notes every name looked up in it."""

    def __init__(self):
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        raise KeyError(key)

    def get(self, key, default=None):
        self.read.add(key)
        return default

    def __contains__(self, key):
        self.read.add(key)
        return False

    def __iter__(self):
        raise AssertionError("Settings.from_env should look variables up by name, not list the environment")

    def __len__(self):
        return 0


def read_by_settings() -> set[str]:
    env = RecordingEnv()
    Settings.from_env(env)
    return env.read


def named_in_config() -> set[str]:
    """RMA_* names written as string literals in engine/config.py (also those read only on some paths)."""
    tree = ast.parse(CONFIG.read_text(encoding="utf-8"))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(NAME, node.value)
    }


def in_readme_table() -> set[str]:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(rf"^\| `({NAME})` \|", section, flags=re.MULTILINE))


def environment_reads(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ENV_ATTRIBUTES:
            yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            for alias in node.names:
                if alias.name in ENV_ATTRIBUTES:
                    yield node.lineno, f"from os import {alias.name}"
        elif isinstance(node, ast.keyword) and node.arg in ENV_KEYWORDS:
            yield node.lineno, f"{node.arg}=..."


def test_settings_reads_only_rma_variables_and_looks_each_up_by_name():
    read = read_by_settings()
    assert read and all(name.startswith("RMA_") for name in read), read
    assert read == named_in_config(), "a variable config.py names but from_env did not read with an empty environment"


def test_every_variable_settings_reads_is_in_the_readme_table_and_no_other():
    read, documented = read_by_settings(), in_readme_table()
    assert read - documented == set(), "read by Settings.from_env but missing in the README's configuration table"
    assert documented - read == set(), "in the README's configuration table but not read by Settings.from_env"


def test_no_module_of_engine_or_web_but_config_reads_the_environment():
    found = [
        f"{path.relative_to(PROJECT_ROOT)}:{line}: {what}"
        for package in ("engine", "web")
        for path in sorted((PROJECT_ROOT / package).rglob("*.py"))
        if path != CONFIG
        for line, what in environment_reads(path)
    ]
    assert found == [], "read the variable in Settings.from_env and pass it on through orc.settings"


def test_the_scan_sees_each_way_of_reading_the_environment(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nfrom os import getenv\nimport click\n"
        "a = os.environ.get('RMA_X')\nb = os.getenv('RMA_Y')\n"
        "@click.option('--z', envvar='RMA_Z')\ndef f(z): pass\n"
        "# os.environ in a comment is no read\n",
        encoding="utf-8",
    )
    assert sorted(line for line, _ in environment_reads(module)) == [2, 4, 5, 6]


def test_the_new_variables_reach_settings():
    settings = Settings.from_env(
        {
            "RMA_REQUESTS_PER_HOUR": "3",
            "RMA_LOAN_OFFER_DAYS": "12",
            "RMA_ETA_WINDOW_DAYS": "30",
            "RMA_ETA_MIN_SAMPLES": "5",
            "RMA_ETA_PERCENTILES": "10,90",
        }
    )
    assert (settings.requests_per_hour, settings.loan_offer_days) == (3, 12)
    assert (settings.eta_window_days, settings.eta_min_samples, settings.eta_percentiles) == (30, 5, (10.0, 90.0))
    defaults = Settings.from_env({})
    assert (defaults.requests_per_hour, defaults.loan_offer_days) == (10, 7)
    assert (defaults.eta_window_days, defaults.eta_min_samples, defaults.eta_percentiles) == (90, 20, (20.0, 80.0))
