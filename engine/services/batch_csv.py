"""A batch's units from a CSV file: every problem listed by line and column, nothing opened while any remains.

Columns (header row, any order): model, serial_number, fault_description, and optionally purchase_date
(YYYY-MM-DD), site and customer_reference. The same checks as the JSON API's units follow in
engine.services.batches (unknown model, a serial twice in the batch, lengths), reported on the file's lines.
"""

from __future__ import annotations

import csv
import io

from engine.errors import InvalidInput

MAX_BYTES = 2 * 1024 * 1024
REQUIRED = ("model", "serial_number", "fault_description")
OPTIONAL = ("purchase_date", "site", "customer_reference")


class BatchFileError(InvalidInput):
    """Nothing was opened; `errors` lists {line, column, message}."""

    code = "batch_file_invalid"


def problem(line: int, column: str | None, message: str) -> dict:
    return {"line": line, "column": column, "message": message}


def parse_units_csv(data: bytes, max_units: int) -> tuple[list[tuple[int, dict]], list[dict]]:
    """(line, unit) pairs with the cells as text (blank optional cells left out) and the problems of the rows'
    shape; BatchFileError for a file that cannot be read at all (empty, too large, not UTF-8 text, a wrong header).
    More than `max_units` lines is refused before anything is decoded."""
    if not isinstance(data, (bytes, bytearray)) or not data.strip():
        raise BatchFileError("the file is empty", [problem(1, None, "The file is empty.")])
    if len(data) > MAX_BYTES:
        raise BatchFileError("the file is too large", [problem(1, None, f"The file is over {MAX_BYTES // 1024} KB.")])
    if data.count(b"\n") > max_units + 10:  # far too many lines: refused before anything is decoded or parsed
        raise BatchFileError(
            "too many units", [problem(1, None, f"More than {max_units} units in one batch: split the file.")]
        )
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = bytes(data)[: exc.start].count(b"\n") + 1
        raise BatchFileError(
            "the file is not UTF-8 text", [problem(line, None, "Not UTF-8 text (save the sheet as CSV UTF-8).")]
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise BatchFileError("the file is not a CSV file", [problem(line, None, "This is not a CSV text file.")])
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error):
        raise BatchFileError("no header row", [problem(1, None, "The first row must name the columns.")]) from None
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing or unknown or len(set(header)) != len(header):
        problems = [problem(1, c, f"Missing column '{c}'.") for c in missing]
        problems += [problem(1, c or None, f"Unknown column '{c}'.") for c in unknown]
        if len(set(header)) != len(header):
            problems.append(problem(1, None, "A column is named twice."))
        raise BatchFileError("the header row is wrong", problems)
    rows: list[tuple[int, dict]] = []
    errors: list[dict] = []
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= max_units:
                errors.append(problem(line, None, f"More than {max_units} units in one batch: split the file."))
                break
            if len(record) != len(header):
                errors.append(problem(line, None, f"Has {len(record)} cells; the header has {len(header)}."))
                continue
            cells = {column: cell.strip() for column, cell in zip(header, record)}
            rows.append((line, {k: v for k, v in cells.items() if v or k in REQUIRED}))
    except csv.Error as exc:
        errors.append(problem(reader.line_num, None, f"Not valid CSV: {exc}."))
    if not rows and not errors:
        errors.append(problem(2, None, "The file has a header but no units."))
    return rows, errors
