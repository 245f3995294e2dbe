"""URL converters that refuse what no database column can hold, so such URLs simply match no route (404)."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter, UnicodeConverter

BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1  # 32-bit integer columns (a process version number): `<int(max=2147483647):name>`


class TextSegment(UnicodeConverter):
    """A path segment without NUL characters (PostgreSQL text cannot contain them)."""

    def __init__(self, map, minlength=1, maxlength=None, length=None):
        super().__init__(map, minlength, maxlength, length)
        self.regex = self.regex.replace("[^/]", "[^/\\x00]", 1)


class Int64(IntegerConverter):
    """A non-negative id that fits the 64-bit integer columns ids live in."""

    def __init__(self, map, fixed_digits=0, min=None, max=BIGINT_MAX, signed=False):
        super().__init__(map, fixed_digits, min, max, signed)


def install(app) -> None:
    """Before any route is added: `<name>`, `<string:name>` and `<int:name>` use these."""
    app.url_map.converters.update(default=TextSegment, string=TextSegment, int=Int64)
