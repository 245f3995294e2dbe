"""Settings from the environment, each with a local default."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROCESSES_DIR = PROJECT_ROOT / "processes"


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _percentiles(value: str) -> tuple[float, float]:
    """RMA_ETA_PERCENTILES: low and high, comma-separated (for example 20,80); a missing high one is 80."""
    low, _, high = value.partition(",")
    return float(low), float(high or 80)


def served_url(host: str, port: int) -> str:
    """The address a server listening on host:port answers at (an IPv6 address in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass(frozen=True)
class Settings:
    """Runtime configuration; build it with `Settings.from_env()`."""

    database_url: str
    secret_key: str | None  # None: the instance folder's generated key, SQLite only (see resolve_secret_key)
    base_url: str = "http://127.0.0.1:5000"
    # Where `rma serve` listens by default (RMA_HOST, RMA_PORT); without RMA_BASE_URL, links use this address.
    host: str = "127.0.0.1"
    port: int = 5000
    base_url_set: bool = False  # RMA_BASE_URL was given (else `rma serve` links to the address it serves on)
    smtp_url: str | None = None
    mail_from: str = "rma@localhost"
    sms_webhook_url: str | None = None
    upload_dir: Path = field(default_factory=lambda: Path("instance/uploads"))
    run_worker: bool = True
    processes_dir: Path = DEFAULT_PROCESSES_DIR
    instance_dir: Path = field(default_factory=lambda: Path("instance"))
    token_ttl_hours: int = 24 * 7
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto to believe (0: none). Throttles
    # and recorded addresses use the client's address; behind a proxy that is only known from the header.
    trusted_proxies: int = 0
    # Service tasks (engine/adapters/service_tasks.py): seconds to wait for an answer, the hosts they may call
    # (empty: any public host), and the secret their requests are HMAC-signed with (unset: unsigned). The hosts
    # are also the outbound address policy's allowlist (engine/adapters/address_policy.py): service tasks and
    # webhooks may reach them although they are, or resolve to, a loopback, private or link-local address.
    service_task_timeout: float = 10.0
    service_task_hosts: tuple[str, ...] = ()
    service_task_secret: str | None = None
    # What one command may spend running the process (engine.execution.runtime): engine steps, seconds of all
    # its scripts together, and tasks created; going over rolls the command back and opens an incident.
    command_max_steps: int = 2_000
    command_max_script_seconds: float = 5.0
    command_max_tasks: int = 5_000
    # Restored workflows kept per process between commands (engine/store/instance_cache.py); 0: none.
    instance_cache_size: int = 128
    # Online repair requests one client address may send per hour (engine/services/requests.py).
    requests_per_hour: int = 10
    # Offer a loan unit when the estimate's later date is more than this many days away (engine/services/loans.py).
    loan_offer_days: int = 7
    # The completion estimate (engine/customer/eta.py): closed RMAs of the last `eta_window_days` are its
    # history, at least `eta_min_samples` of them or it uses the standard times; its range is the narrowest that
    # holds `eta_coverage` of their remaining times (0: these percentiles).
    eta_window_days: int = 90
    eta_min_samples: int = 20
    eta_percentiles: tuple[float, float] = (20.0, 80.0)
    eta_coverage: float = 0.85
    # A customer whose estimate's later date ends within this many hours (and whose RMA will not be done by then)
    # is told once, with the new range (engine/services/promises.py).
    eta_slip_notice_hours: int = 24

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read RMA_* variables from `env` (default: the process environment); unset ones take local defaults.

        The only place that reads the environment: every variable is listed in the README's configuration
        table (tests/unit/test_settings_documented.py compares the two)."""
        env = os.environ if env is None else env
        instance_dir = Path(env.get("RMA_INSTANCE_DIR") or Path.cwd() / "instance")
        database_url = env.get("RMA_DATABASE_URL") or f"sqlite:///{instance_dir / 'rma.sqlite3'}"
        host, port = env.get("RMA_HOST") or "127.0.0.1", int(env.get("RMA_PORT") or 5000)
        base_url = env.get("RMA_BASE_URL") or ""
        values: dict[str, Any] = dict(
            database_url=database_url,
            secret_key=env.get("RMA_SECRET_KEY") or None,
            base_url=(base_url or served_url(host, port)).rstrip("/"),
            host=host,
            port=port,
            base_url_set=bool(base_url),
            smtp_url=env.get("RMA_SMTP_URL") or None,
            mail_from=env.get("RMA_MAIL_FROM") or "rma@localhost",
            sms_webhook_url=env.get("RMA_SMS_WEBHOOK_URL") or None,
            upload_dir=Path(env.get("RMA_UPLOAD_DIR") or instance_dir / "uploads"),
            run_worker=_flag(env.get("RMA_RUN_WORKER"), database_url.startswith("sqlite")),
            processes_dir=Path(env.get("RMA_PROCESSES_DIR") or DEFAULT_PROCESSES_DIR),
            instance_dir=instance_dir,
            trusted_proxies=int(env.get("RMA_TRUSTED_PROXIES") or 0),
            service_task_timeout=float(env.get("RMA_SERVICE_TASK_TIMEOUT") or 10),
            service_task_hosts=tuple(
                h.strip().lower() for h in (env.get("RMA_SERVICE_TASK_HOSTS") or "").split(",") if h.strip()
            ),
            service_task_secret=env.get("RMA_SERVICE_TASK_SECRET") or None,
            command_max_steps=int(env.get("RMA_COMMAND_MAX_STEPS") or 2_000),
            command_max_script_seconds=float(env.get("RMA_COMMAND_MAX_SCRIPT_SECONDS") or 5),
            command_max_tasks=int(env.get("RMA_COMMAND_MAX_TASKS") or 5_000),
            instance_cache_size=int(env.get("RMA_INSTANCE_CACHE_SIZE") or 128),
            requests_per_hour=int(env.get("RMA_REQUESTS_PER_HOUR") or 10),
            loan_offer_days=int(env.get("RMA_LOAN_OFFER_DAYS") or 7),
            eta_window_days=int(env.get("RMA_ETA_WINDOW_DAYS") or 90),
            eta_min_samples=int(env.get("RMA_ETA_MIN_SAMPLES") or 20),
            eta_percentiles=_percentiles(env.get("RMA_ETA_PERCENTILES") or "20,80"),
            eta_coverage=float(env.get("RMA_ETA_COVERAGE") or 0.85),
            eta_slip_notice_hours=int(env.get("RMA_ETA_SLIP_NOTICE_HOURS") or 24),
        )
        values.update(overrides)
        return cls(**values)


SECRET_KEY_FILE = "secret_key"  # in the instance folder, readable by its owner only


def resolve_secret_key(settings: Settings) -> str:
    """The key that signs sessions and CSRF tokens: RMA_SECRET_KEY, or on SQLite a random key generated once.

    There is no default key anywhere. On the embedded default (SQLite, one machine) a key is generated on first
    start and kept in the instance folder (mode 0600), so the quick start needs no setting and every process of
    that machine shares it. On PostgreSQL several processes on several hosts must share one key, so
    RMA_SECRET_KEY is required and its absence refuses to start.
    """
    if settings.secret_key:
        return settings.secret_key
    if not settings.is_sqlite:
        raise ConfigurationError(
            "RMA_SECRET_KEY is not set. With PostgreSQL every web process must sign sessions with the same secret: "
            "set RMA_SECRET_KEY to a long random value, e.g. the output of "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    path = Path(settings.instance_dir) / SECRET_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # generated before, or by a process starting at the same moment
        for _ in range(50):
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.01)  # the other process has created the file and is about to write it
        raise ConfigurationError(f"{path} is empty: delete it to have a new secret key generated") from None
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
