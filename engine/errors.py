"""Named errors the engine raises; the web layer maps each to one HTTP status."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: `code` is stable and machine-readable, `status` the HTTP analogue."""

    code = "engine_error"
    status = 400

    def __init__(self, message: str, errors: list | dict | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors


class ConfigurationError(EngineError):
    """The server cannot start as configured (a required setting is missing or unusable)."""

    code, status = "configuration_error", 500


class NotFound(EngineError):
    code, status = "not_found", 404


class RmaNotFound(NotFound):
    code = "rma_not_found"


class TaskNotFound(NotFound):
    code = "task_not_found"


class Unauthenticated(EngineError):
    code, status = "unauthenticated", 401


class NotAllowed(EngineError):
    code, status = "forbidden", 403


class Conflict(EngineError):
    code, status = "conflict", 409


class TaskAlreadyCompleted(Conflict):
    code = "task_not_open"


class TaskClaimedByOther(Conflict):
    code = "task_claimed"


class ConcurrentUpdate(Conflict):
    code = "concurrent_update"


class NoDecisionPending(Conflict):
    code = "no_decision_pending"


class InvalidInput(EngineError):
    code, status = "invalid_input", 422


class InvalidFormData(InvalidInput):
    code = "invalid_form_data"


class InvalidProcess(EngineError):
    """A bundle that cannot be deployed; `errors` lists {file, element, line, message}."""

    code, status = "invalid_process", 422


class ProcessScriptError(EngineError):
    """A script, condition or decision in the BPMN failed while running."""

    code, status = "process_script_error", 500

    def __init__(
        self, message: str, task: str | None = None, errors: list | dict | None = None, detail: str | None = None
    ):
        super().__init__(message, errors)
        self.task = task
        # for operators only (the incident's detail): what the other side said, bounded; `message` never holds it
        self.detail = detail


def text_refusal(value: str) -> str | None:
    """Why no text column can store `value` (a NUL, which PostgreSQL refuses; a lone surrogate, which is not
    UTF-8 on either database), or None. Every text a person enters passes it before it is stored or queried."""
    if "\x00" in value:
        return "Must not contain NUL characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Must not contain lone surrogates (it is not valid Unicode text)."
    return None
