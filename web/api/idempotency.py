"""The Idempotency-Key header on the requests that create an RMA: documented once, read once."""

from __future__ import annotations

from flask import request

from engine.services.idempotency import HEADER, MAX_LENGTH

DOC = {
    "parameters": [
        {
            "in": "header",
            "name": HEADER,
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_LENGTH},
            "description": (
                "Any unique string (1-255 printable ASCII characters, e.g. a UUID). The same key with the same "
                "body within 24 hours answers the RMA the first request created, never a second one; a request "
                "sent while the first is still running waits for it and answers the same RMA. The same key with "
                "another body is 422."
            ),
        }
    ]
}


def key() -> str | None:
    """The request's Idempotency-Key, or None without one."""
    return request.headers.get(HEADER)
