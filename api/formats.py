"""JSON or CSV answers: `Accept: text/csv` or `?format=csv` asks for CSV (managers' spreadsheets).

Hot read routes serialize their answer themselves (`json_response` for a model, `json_answer`
for plain dicts shaped as the model, with orjson): FastAPI re-validates a returned model, for a
plain `def` route in a second worker-thread hand-off, which cost more CPU than serializing it,
and a page of pydantic models costs more than the same page of dicts. Such routes still declare
`response_model` for the OpenAPI schema.

CSV cells are written by streetwatch.safe_csv (formula-looking text defused), as the CLI's
reports are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

import orjson
from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from streetwatch.safe_csv import csv_text

Format = Annotated[Literal["json", "csv"] | None,
                   Query(alias="format", description="`csv` for a CSV answer (or send "
                                                      "`Accept: text/csv`).")]


def wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


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
