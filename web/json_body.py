"""The one way a request's JSON body is read: Flask's `request.get_json` and the API's argument parser both parse
with `loads`, which refuses what no view can use with a 400 before any code walks it.

Refused: a document nested deeper than MAX_DEPTH (Python's parser gives up with a RecursionError near 1,000
levels, and marshmallow, jsonschema and the workflow serializer walk data recursively) and an integer too long
for Python to convert (over 4,300 digits). NaN and Infinity are read as numbers so that the field they stand in
refuses them with a 422 naming it (marshmallow's Float and Decimal, and engine.process.forms for task data).
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app
from flask.json.provider import DefaultJSONProvider
from webargs.flaskparser import FlaskParser, abort, is_json_request

MAX_DEPTH = 32  # a request nests three or four levels; task data at most engine.sandbox.limits.MAX_DATA_DEPTH


class BodyRefused(json.JSONDecodeError):
    """A JSON body that parses, or would, but is refused (a JSONDecodeError, so every reader answers 400)."""

    def __init__(self, message: str):
        super().__init__(message, message, 0)  # a doc that is not "": webargs reads "" as no body at all
        self.msg = message

    def __str__(self) -> str:
        return self.msg


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def loads(text: str | bytes, **kwargs: Any) -> Any:
    """json.loads, refusing (BodyRefused) a document nested deeper than MAX_DEPTH or a number Python cannot read."""
    try:
        value = json.loads(text, **kwargs)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise BodyRefused(f"the JSON document is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # an integer of more than 4,300 digits; bytes that are not UTF-8
        raise BodyRefused(f"the JSON document cannot be read ({exc})") from None
    if _depth_exceeds(value, MAX_DEPTH):
        raise BodyRefused(f"the JSON document is nested deeper than {MAX_DEPTH} levels")
    return value


class JsonProvider(DefaultJSONProvider):
    """Flask's JSON, reading request bodies with `loads`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s, **kwargs)


class ArgumentsParser(FlaskParser):
    """webargs' Flask parser reading JSON bodies with the app's `loads` (webargs would call json.loads itself)."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return super()._raw_load_json(req)
        data = req.get_data(cache=True)
        return current_app.json.loads(data) if data else json.loads(data)  # empty: webargs' "missing"

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        message = str(error) if isinstance(error, BodyRefused) else "Invalid JSON body."
        abort(400, exc=error, messages={"json": [message]})


def install(app) -> None:
    app.json = JsonProvider(app)
