"""Cursor pagination shared by the list endpoints: `?limit=&cursor=`, answered with
`{"items": [...], "next_cursor": "..." | null}`.

A cursor is opaque to clients: URL-safe base64 of the last key returned (an id), so pages stay
stable while rows are added (keyset pagination, no OFFSET scans). A damaged cursor is a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Generic, TypeVar

import orjson
from fastapi import HTTPException, Query
from pydantic import BaseModel

T = TypeVar("T")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_CURSOR_CHARS = 200

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS,
                                     description="`next_cursor` of the previous page.")]


class Page(BaseModel, Generic[T]):
    """One page of a list; `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(after: str | int) -> str:
    return base64.urlsafe_b64encode(json.dumps([after]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: type[str] | type[int]) -> str | int | None:
    """The key after which the page starts (None: from the first); 400 for a damaged cursor."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        (after,) = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise HTTPException(400, "cursor is not one this API handed out") from None
    if type(after) is not kind:
        raise HTTPException(400, "cursor is not one this API handed out")
    return after


def next_cursor(keys: list[str] | list[int], limit: int) -> str | None:
    """The cursor after a page of `keys` fetched with `limit + 1` rows: None when the extra row
    is absent (the last page). Callers drop the extra row from the items."""
    return encode_cursor(keys[limit - 1]) if len(keys) > limit else None


def page_json(items: list[bytes], cursor: str | None) -> bytes:
    """A `Page` as pydantic writes it, from items already written as JSON."""
    return b'{"items":[' + b",".join(items) + b'],"next_cursor":' + orjson.dumps(cursor) + b"}"
