"""The register's rows, from a CSV file or JSON: every problem is listed by line and column, nothing half-read.

CSV columns (header row, any order): serial_number, model, ship_date and optionally organisation (a partner
organisation's name) and installation_date; dates are YYYY-MM-DD. JSON units name organisation_id instead.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date

from engine.errors import InvalidInput, text_refusal

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 10_000
REQUIRED = ("serial_number", "model", "ship_date")
OPTIONAL = ("organisation", "installation_date")
LENGTHS = {"serial_number": 120, "model": 200, "organisation": 200}


class RegisterImportError(InvalidInput):
    """Nothing was registered; `errors` lists {line, column, message}."""

    code = "register_import_invalid"


def err(line: int, column: str | None, message: str) -> dict:
    return {"line": line, "column": column, "message": message}


def parse_csv(data: bytes) -> list[tuple[int, dict]]:
    """(line, clean row) pairs, or RegisterImportError listing every problem."""
    if not isinstance(data, (bytes, bytearray)) or not data.strip():
        raise RegisterImportError("the file is empty", [err(1, None, "The file is empty.")])
    if len(data) > MAX_BYTES:
        raise RegisterImportError("the file is too large", [err(1, None, f"The file is over {MAX_BYTES // 1024} KB.")])
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = bytes(data)[: exc.start].count(b"\n") + 1
        raise RegisterImportError("the file is not UTF-8 text", [err(line, None, "Not UTF-8 text.")]) from None
    if "\x00" in text:
        raise RegisterImportError("the file is not a CSV file", [err(1, None, "This is not a CSV text file.")])
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error):
        raise RegisterImportError("no header row", [err(1, None, "The first row must name the columns.")]) from None
    problems = [err(1, c, f"Missing column '{c}'.") for c in REQUIRED if c not in header]
    problems += [err(1, c, f"Unknown column '{c}'.") for c in header if c not in REQUIRED + OPTIONAL]
    if len(set(header)) != len(header):
        problems.append(err(1, None, "A column is named twice."))
    if problems:
        raise RegisterImportError("the header row is wrong", problems)
    records: list[tuple[int, dict]] = []
    errors: list[dict] = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            if len(records) >= MAX_ROWS:
                errors.append(err(reader.line_num, None, f"More than {MAX_ROWS} units in one file."))
                break
            if len(record) != len(header):
                errors.append(err(reader.line_num, None, f"Has {len(record)} cells; the header has {len(header)}."))
                continue
            records.append((reader.line_num, dict(zip(header, record, strict=True))))
    except csv.Error as exc:
        errors.append(err(reader.line_num, None, f"Not valid CSV: {exc}."))
    rows, row_errors = clean_units(records)
    errors += row_errors
    if not rows and not errors:
        errors.append(err(2, None, "The file has a header but no units."))
    if errors:
        raise RegisterImportError(f"{len(errors)} problem(s) in the file; nothing was imported", errors)
    return rows


def clean_units(records: Sequence[tuple[int, object]]) -> tuple[list[tuple[int, dict]], list[dict]]:
    """Check every record; the clean rows and the problems (a duplicate serial names the line it repeats)."""
    if len(records) > MAX_ROWS:
        return [], [err(MAX_ROWS + 1, None, f"More than {MAX_ROWS} units at once.")]
    rows: list[tuple[int, dict]] = []
    errors: list[dict] = []
    seen: dict[str, int] = {}
    today = date.today()
    for line, record in records:
        if not isinstance(record, dict):
            errors.append(err(line, None, "Must be an object."))
            continue
        row, row_errors = _row(record, line, today)
        key = " ".join(str(row.get("serial_number") or "").split()).casefold()
        if key and key in seen:
            row_errors.append(err(line, "serial_number", f"'{row['serial_number']}' is already on line {seen[key]}."))
        seen.setdefault(key, line)
        errors += row_errors
        if not row_errors:
            rows.append((line, row))
    return rows, errors


def _row(cells: dict, line: int, today: date) -> tuple[dict, list[dict]]:
    row: dict = {}
    errors: list[dict] = []
    for column in ("serial_number", "model", "organisation"):
        value = cells.get(column)
        if value is None or (column == "organisation" and value == ""):
            if column != "organisation":
                errors.append(err(line, column, "Required."))
            continue
        if not isinstance(value, str):
            errors.append(err(line, column, "Must be text."))
            continue
        text = " ".join(value.split())
        refusal = text_refusal(value)
        if refusal:
            errors.append(err(line, column, refusal))
        elif not text and column != "organisation":
            errors.append(err(line, column, "Required."))
        elif len(text) > LENGTHS[column]:
            errors.append(err(line, column, f"Longer than {LENGTHS[column]} characters."))
        elif text:
            row[column] = text
    org_id = cells.get("organisation_id")
    if org_id is not None:
        if isinstance(org_id, bool) or not isinstance(org_id, int) or not 0 < org_id < 2**63:
            errors.append(err(line, "organisation_id", "Must be an organisation's id."))
        else:
            row["organisation_id"] = org_id
    for column, required in (("ship_date", True), ("installation_date", False)):
        value = cells.get(column)
        if value in (None, "") and not required:
            continue
        when = _date(value)
        if when is None:
            errors.append(err(line, column, f"'{str(value)[:40]}' is not a date (YYYY-MM-DD)."))
        elif when > today:
            errors.append(err(line, column, "Must not be in the future."))
        else:
            row[column] = when
    if row.get("installation_date") and row.get("ship_date") and row["installation_date"] < row["ship_date"]:
        errors.append(err(line, "installation_date", "Is before the ship date."))
    return row, errors


def _date(value: object) -> date | None:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or len(value.strip()) != 10:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None
