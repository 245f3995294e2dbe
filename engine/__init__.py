"""The orchestrator core (no Flask): definitions, runtime, persistence and services."""
from .actors import Actor
from .config import Settings
from .errors import EngineError
from .orchestrator import Orchestrator

__all__ = ["Actor", "EngineError", "Orchestrator", "Settings"]
