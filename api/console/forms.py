"""The console's HTML forms: bounded url-encoded bodies, same-origin posts, CSRF tokens.

Every POST must come from a console page: a browser's `Sec-Fetch-Site` (when sent) must not say
cross-site, an `Origin` (when sent) must be this server's, and every form carries the session's
CSRF token in a hidden field `csrf`, compared in constant time. The session cookie is
SameSite=Strict as well. Bodies are `application/x-www-form-urlencoded`, at most MAX_BYTES, UTF-8.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, HTTPException, Request

from api.alerts import TEXT_CHARS, plain_text
from api.console.sessions import Session
from api.request_body import check_announced_size, read_within

MAX_BYTES = 64 * 1024  # a 2,000-character comment in Chinese, percent-encoded, is ~18 KB
MAX_FIELDS = 16
FORM_TYPE = "application/x-www-form-urlencoded"
TOO_LARGE = f"a console form is at most {MAX_BYTES} bytes"


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form's fields (the first value of each); 403 for a cross-site post, 415 for
    another body type, 413 past MAX_BYTES, 400 for a body that is not UTF-8 form text."""
    check_same_origin(request)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_TYPE:
        raise HTTPException(415, f"console forms are sent as {FORM_TYPE}")
    check_announced_size(request, MAX_BYTES, TOO_LARGE)
    body = await read_within(request, MAX_BYTES, TOO_LARGE)
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=False,
                          encoding="utf-8", errors="strict", max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form is not UTF-8 form text") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def check_same_origin(request: Request) -> None:
    """403 unless the request comes from this site (as far as the browser says)."""
    if request.headers.get("sec-fetch-site", "same-origin") == "cross-site":
        raise HTTPException(403, "cross-site form posts are refused")
    origin = request.headers.get("origin")
    if origin is not None and origin != _own_origin(request):
        raise HTTPException(403, "cross-site form posts are refused")


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


Form = Annotated[dict[str, str], Depends(form_fields)]


def csrf_ok(fields: dict[str, str], session: Session) -> bool:
    """Whether the form carries this session's CSRF token (the route answers 403 if not)."""
    return session.csrf_matches(fields.get("csrf"))


def crew_text(written: str) -> str | None:
    """A comment, resolve note or patrol note as the API takes them: plain text of at most
    TEXT_CHARS characters (api.alerts.plain_text), None when it is not (blank included)."""
    try:
        text = plain_text(written)
    except ValueError:
        return None
    return text if len(text) <= TEXT_CHARS else None
