"""One JSON error shape `{code, message, errors?}` for the API; HTML pages for browsers."""

from __future__ import annotations

from flask import jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from engine.errors import EngineError


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _string_keys(errors):
    """Field errors keyed by text: a multipart part without a name is reported under "" (its key was None),
    and keys of mixed types would make the JSON encoder fail while it sorts them."""
    if not isinstance(errors, dict):
        return errors
    result: dict = {}
    for key, value in errors.items():
        key, value = "" if key is None else str(key), _string_keys(value)
        if key in result and isinstance(result[key], list) and isinstance(value, list):
            result[key] = result[key] + [v for v in value if v not in result[key]]
        else:
            result[key] = value
    return result


def error_response(status: int, code: str, message: str, errors=None):
    errors = _string_keys(errors)
    if wants_json():
        body = {"code": code, "message": message}
        if errors:
            body["errors"] = errors
        return jsonify(body), status
    return render_template("error.html", status=status, code=code, message=message, errors=errors), status


def register(app) -> None:
    @app.errorhandler(EngineError)
    def _engine_error(exc: EngineError):
        response = error_response(exc.status, exc.code, exc.message, exc.errors)
        retry_after = getattr(exc, "retry_after", None)  # engine.services.throttle.TooManyAttempts
        return response if retry_after is None else (*response, {"Retry-After": str(retry_after)})

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        errors = None
        data = getattr(exc, "data", None)  # flask-smorest / webargs validation details
        if isinstance(data, dict) and "messages" in data:
            messages = data["messages"]
            locations = ("json", "query", "form", "path", "headers", "files")
            errors = (
                next(iter(messages.values()))
                if isinstance(messages, dict) and len(messages) == 1 and next(iter(messages)) in locations
                else messages
            )
        code = {
            400: "bad_request",
            401: "unauthenticated",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            409: "conflict",
            413: "too_large",
            422: "invalid_input",
            429: "too_many_requests",
        }.get(exc.code, "http_error")
        message = "the request has invalid fields" if exc.code == 422 else (exc.description or exc.name)
        if exc.code == 400 and isinstance(errors, list) and len(errors) == 1 and isinstance(errors[0], str):
            message = errors[0]  # the body's one problem ("the JSON document is nested deeper than 32 levels")
        return error_response(exc.code, code, message, errors)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "something went wrong on our side; nothing was saved")
