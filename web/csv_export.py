"""One way to write a CSV file people open in a spreadsheet: a text cell that a spreadsheet would read as a
formula (it starts with =, +, -, @, tab or CR) is prefixed with ' so it shows as text (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """The cell as written: text starting like a formula gets a leading '; numbers and None pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(header: list[str], rows: Iterable[Iterable[object]]) -> str:
    """The CSV text of a header and rows, every cell neutralised by safe_cell."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(c) for c in header])
    for row in rows:
        writer.writerow([safe_cell(c) for c in row])
    return out.getvalue()
