"""JSON or CSV answers: `Accept: text/csv` or `?format=csv` asks for CSV (managers' spreadsheets).

Hot read routes serialize their answer themselves (`json_response` for a model, `json_answer`
for plain dicts shaped as the model, with orjson): FastAPI re-validates a returned model, for a
plain `def` route in a second worker-thread hand-off, which cost more CPU than serializing it,
and a page of pydantic models costs more than the same page of dicts. Such routes still declare
`response_model` for the OpenAPI schema.

CSV cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) are
prefixed with `'`: citizen text and device names are hostile input (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

import orjson
from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

Format = Annotated[Literal["json", "csv"] | None,
                   Query(alias="format", description="`csv` for a CSV answer (or send "
                                                      "`Accept: text/csv`).")]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: None empty, numbers as written, formula-looking text defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV with a header row, cells as `csv_cell` writes them (the API's and the CLI's)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


def csv_response(columns: Sequence[str], rows: Iterable[Sequence[Any]],
                 filename: str) -> Response:
    """A `text/csv` download with a header row."""
    return Response(csv_text(columns, rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def json_response(model: BaseModel, exclude_unset: bool = False) -> Response:
    """`model` as FastAPI would answer it (by alias), serialized by pydantic here and now."""
    return Response(model.model_dump_json(by_alias=True, exclude_unset=exclude_unset),
                    media_type="application/json")


def json_answer(content: Any) -> Response:
    """Plain JSON values as an answer (as pydantic writes them: UTF-8, NaN as null)."""
    return Response(orjson.dumps(content), media_type="application/json")
