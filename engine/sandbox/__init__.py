"""The script sandbox: what BPMN scripts, conditions and expressions may do, and how long they may run."""

from engine.sandbox.limits import MAX_SECONDS, RESERVED_KEYS, Budget, SandboxViolation, check_data
from engine.sandbox.scripts import (
    HELPERS,
    SAFE_BUILTINS,
    SandboxEnvironment,
    SandboxScriptEngine,
    check,
    days_between,
    months_between,
    script_engine,
    today,
)

__all__ = [
    "HELPERS",
    "MAX_SECONDS",
    "RESERVED_KEYS",
    "SAFE_BUILTINS",
    "Budget",
    "SandboxEnvironment",
    "SandboxScriptEngine",
    "SandboxViolation",
    "check_data",
    "check",
    "days_between",
    "months_between",
    "script_engine",
    "today",
]
