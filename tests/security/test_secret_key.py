"""Nobody logs in without a password: no known secret key signs sessions (issue 20, point 1)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import Settings
from engine.config import SECRET_KEY_FILE, resolve_secret_key
from engine.errors import ConfigurationError
from web import create_app
from web.cli import main as rma

ROOT = Path(__file__).resolve().parents[2]


def _settings(tmp_path, **overrides) -> Settings:
    values = dict(database_url=f"sqlite:///{tmp_path / 'rma.sqlite3'}", instance_dir=tmp_path, run_worker=False)
    values.update(overrides)
    return Settings.from_env({}, **values)


def test_no_secret_key_is_built_in():
    assert Settings.from_env({}).secret_key is None
    sources = [p for top in ("engine", "web") for p in (ROOT / top).rglob("*.py")]
    assert not [p for p in sources if "dev-only-secret" in p.read_text() or "change-me" in p.read_text()]


def test_on_sqlite_a_random_key_is_generated_once_readable_by_its_owner_only(tmp_path):
    first = resolve_secret_key(_settings(tmp_path))
    key_file = tmp_path / SECRET_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first) >= 40 and key_file.read_text().strip() == first
    assert resolve_secret_key(_settings(tmp_path)) == first  # the next start (or another process) reads it
    other = tmp_path / "other"
    assert resolve_secret_key(_settings(other)) != first  # another installation, another key


def test_a_set_key_is_used_as_it_is_and_nothing_is_written(tmp_path):
    assert resolve_secret_key(_settings(tmp_path, secret_key="s" * 48)) == "s" * 48
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_on_postgresql_the_app_refuses_to_start_without_a_key(tmp_path):
    settings = _settings(tmp_path, database_url="postgresql://postgres@127.0.0.1:5432/test")
    with pytest.raises(ConfigurationError, match="RMA_SECRET_KEY is not set"):
        create_app({"RMA_SETTINGS": settings})
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_rma_serve_on_postgresql_without_a_key_says_why_and_exits(tmp_path):
    env = {"RMA_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test", "RMA_INSTANCE_DIR": str(tmp_path)}
    result = CliRunner().invoke(rma, ["serve", "--port", "1"], env={**env, "RMA_SECRET_KEY": ""})
    assert result.exit_code == 1
    assert "RMA_SECRET_KEY is not set" in result.output


def _logged_in_cookie(app) -> str:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"username": "manager", "password": "demo", "csrf_token": csrf})
    assert answer.status_code == 302
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_a_session_signed_with_another_key_opens_nothing(orc):
    ours = create_app({"RMA_ORCHESTRATOR": orc, "TESTING": True, "SECRET_KEY": "k" * 48})
    cookie = _logged_in_cookie(ours)
    same = ours.test_client()
    same.set_cookie("session", cookie)
    assert same.get("/inbox").status_code == 200  # the cookie itself is good

    forged = create_app({"RMA_ORCHESTRATOR": orc, "TESTING": True, "SECRET_KEY": "x" * 48}).test_client()
    forged.set_cookie("session", cookie)
    answer = forged.get("/inbox")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
