"""The orchestrator core (no Flask): definitions, runtime, persistence and services."""

from engine.actors import Actor
from engine.config import Settings
from engine.errors import EngineError
from engine.orchestrator import Orchestrator

__all__ = ["Actor", "EngineError", "Orchestrator", "Settings"]
