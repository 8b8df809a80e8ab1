"""Request bodies read within a size bound: a large body is refused (413) before it is parsed,
from its announced length when there is one and from the bytes counted as they arrive (a
chunked body announces none)."""

from __future__ import annotations

from fastapi import HTTPException, Request


def check_announced_size(request: Request, max_bytes: int, too_large: str) -> None:
    """400 for a Content-Length that is not a number, 413 (`too_large`) past `max_bytes`."""
    announced = request.headers.get("content-length")
    if announced is None:
        return
    if not (announced.isascii() and announced.isdigit()):
        raise HTTPException(400, "Content-Length must be a number")
    if int(announced) > max_bytes:
        raise HTTPException(413, too_large)


async def read_within(request: Request, max_bytes: int, too_large: str) -> bytes:
    """The body, read no further than `max_bytes` (413 `too_large` past it, whatever was
    announced)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPException(413, too_large)
        chunks.append(chunk)
    return b"".join(chunks)
