"""CSV a spreadsheet opens without running any cell: the reports' and the API's CSV writer.

Text cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) are
prefixed with `'`: zone and device ids (the id rule lets one start with `-`), citizen text and
names are hostile input (OWASP "CSV injection"). Numbers are written as numbers, never prefixed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: None empty, numbers as written, formula-looking text defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV with a header row, cells as `csv_cell` writes them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()
