"""Catalogue CSV import: every row checked first, every problem reported by line, all or nothing.

Columns (header row, any order): model, category, warranty_months, replacement_value, currency,
and optionally successor_model and known_issues. `known_issues` holds the model's issues separated
by `|`, each written `question => step one; step two` (a code is made from the question), so a
manager can keep the catalogue in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import re
from typing import TYPE_CHECKING

from engine.actors import Actor
from engine.errors import InvalidInput
from engine.process.forms import nested_errors
from engine.services.catalogue import MODEL_SCHEMA, _require_editor, as_decimal, find, model_key, upsert
from engine.store.audit import audit

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

MAX_BYTES = 1024 * 1024
MAX_ROWS = 5000
REQUIRED = ("model", "category", "warranty_months", "replacement_value", "currency")
OPTIONAL = ("successor_model", "known_issues", "ship_grace_days")


class CatalogueImportError(InvalidInput):
    """Nothing was imported; `errors` lists {line, column, message}."""

    code = "catalogue_import_invalid"


def import_csv(orc: Orchestrator, actor: Actor, data: bytes) -> dict:
    """Import or update every model of the file in one transaction; refuse the whole file on any bad row."""
    _require_editor(actor)
    rows = parse_csv(data)
    with orc.uow() as uow:
        s = uow.session
        errors = []
        named = {model_key(r["model"]) for _, r in rows}
        for line, row in rows:
            successor = row.get("successor_model")
            if successor and model_key(successor) not in named and find(s, successor) is None:
                errors.append(
                    _err(line, "successor_model", f"'{successor}' is neither in this file nor in the catalogue")
                )
        if errors:
            raise CatalogueImportError(f"{len(errors)} problem(s) in the file; nothing was imported", errors)
        created = sum(1 for _, row in rows if find(s, row["model"]) is None)
        for _, row in rows:
            upsert(s, row, actor.username)
            s.flush()
        audit(
            s,
            None,
            actor,
            "catalogue_imported",
            f"{len(rows)} model(s) imported ({created} new)",
            data={"models": [r["model"] for _, r in rows][:200]},
        )
        uow.commit()
    return {"imported": len(rows), "created": created, "updated": len(rows) - created}


def _err(line: int, column: str | None, message: str) -> dict:
    return {"line": line, "column": column, "message": message}


def parse_csv(data: bytes) -> list[tuple[int, dict]]:
    """(line, clean row) pairs, or CatalogueImportError listing every problem found."""
    if not isinstance(data, (bytes, bytearray)) or not data.strip():
        raise CatalogueImportError("the file is empty", [_err(1, None, "The file is empty.")])
    if len(data) > MAX_BYTES:
        raise CatalogueImportError(
            "the file is too large", [_err(1, None, f"The file is over {MAX_BYTES // 1024} KB.")]
        )
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = bytes(data)[: exc.start].count(b"\n") + 1
        raise CatalogueImportError(
            "the file is not UTF-8 text", [_err(line, None, "Not UTF-8 text (save the sheet as CSV UTF-8).")]
        ) from None
    if "\x00" in text:
        raise CatalogueImportError("the file is not a CSV file", [_err(1, None, "This is not a CSV text file.")])
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error):
        raise CatalogueImportError("no header row", [_err(1, None, "The first row must name the columns.")]) from None
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c and c not in REQUIRED + OPTIONAL]
    if missing or unknown or len(set(header)) != len(header):
        problems = [_err(1, c, f"Missing column '{c}'.") for c in missing]
        problems += [_err(1, c, f"Unknown column '{c}'.") for c in unknown]
        if len(set(header)) != len(header):
            problems.append(_err(1, None, "A column is named twice."))
        raise CatalogueImportError("the header row is wrong", problems)
    rows: list[tuple[int, dict]] = []
    errors: list[dict] = []
    seen: dict[str, int] = {}
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= MAX_ROWS:
                errors.append(_err(line, None, f"More than {MAX_ROWS} models in one file."))
                break
            if len(record) != len(header):
                errors.append(_err(line, None, f"Has {len(record)} cells; the header has {len(header)}."))
                continue
            row, row_errors = _row(dict(zip(header, (c.strip() for c in record))), line)
            key = model_key(row.get("model", ""))
            if key and key in seen:
                row_errors.append(_err(line, "model", f"'{row['model']}' is already on line {seen[key]}."))
            seen.setdefault(key, line)
            errors += row_errors
            if not row_errors:
                rows.append((line, row))
    except csv.Error as exc:
        errors.append(_err(reader.line_num, None, f"Not valid CSV: {exc}."))
    if not rows and not errors:
        errors.append(_err(2, None, "The file has a header but no models."))
    if errors:
        raise CatalogueImportError(f"{len(errors)} problem(s) in the file; nothing was imported", errors)
    return rows


def _row(cells: dict, line: int) -> tuple[dict, list[dict]]:
    errors = []
    row: dict = {
        "model": " ".join(cells.get("model", "").split()),
        "category": cells.get("category", ""),
        "currency": cells.get("currency", "").upper(),
        "successor_model": cells.get("successor_model") or None,
    }
    months = cells.get("warranty_months", "")
    if re.fullmatch(r"\d{1,3}", months):
        row["warranty_months"] = int(months)
    else:
        errors.append(_err(line, "warranty_months", f"'{months}' is not a whole number of months."))
    grace = cells.get("ship_grace_days", "")
    if re.fullmatch(r"\d{1,3}", grace):
        row["ship_grace_days"] = int(grace)
    elif grace:
        errors.append(_err(line, "ship_grace_days", f"'{grace}' is not a whole number of days."))
    value = as_decimal(cells.get("replacement_value", ""))
    if value is None:
        errors.append(_err(line, "replacement_value", f"'{cells.get('replacement_value', '')}' is not an amount."))
    else:
        row["replacement_value"] = float(value)
    issues, issue_errors = parse_known_issues(cells.get("known_issues", ""))
    row["known_issues"] = issues
    errors += [_err(line, "known_issues", m) for m in issue_errors]
    if not errors:
        for field, messages in nested_errors(MODEL_SCHEMA, row).items():
            text = messages if isinstance(messages, list) else [str(messages)]
            errors += [_err(line, field, m) for m in text]
    return row, errors


def parse_known_issues(text: str) -> tuple[list[dict], list[str]]:
    """`question => step; step | question => step` into [{code, question, steps}]."""
    issues: list[dict] = []
    errors: list[str] = []
    for n, part in enumerate(p.strip() for p in (text or "").split("|")):
        if not part:
            continue
        question, arrow, steps = part.partition("=>")
        steps_list = [s.strip() for s in steps.split(";") if s.strip()]
        if not arrow or not question.strip() or not steps_list:
            errors.append(f"Known issue {n + 1} must read 'question => step; step'.")
            continue
        code = re.sub(r"[^a-z0-9]+", "_", question.lower()).strip("_")[:36] or f"issue_{n + 1}"
        while code in {i["code"] for i in issues}:
            code = f"{code[:33]}_{n + 1}"
        issues.append({"code": code, "question": question.strip(), "steps": steps_list})
    return issues, errors
