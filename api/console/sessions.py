"""Console sessions in SQL: a crew key, checked once, exchanged for a random session token.

The browser holds the token in an HttpOnly cookie; SQL holds only its SHA-256 (256 random bits:
a fast hash is enough, nothing to guess), the key's id, a CSRF token for the session's forms and
an expiry. A session is read joined with its key, so a revoked key ends its sessions at once and
the key's name, role and zones are always the stored ones. Times are epoch milliseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select

from api.keys import Principal, principal_of
from streetwatch.registry.models import ApiKey, ConsoleSession
from streetwatch.registry.timestamps import datetime_from_ms, ms_from_datetime

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
_SESSIONS = ConsoleSession.__table__
_KEYS = ApiKey.__table__


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in console: who (the key's principal), the CSRF token, when it ends."""

    id: int
    principal: Principal
    csrf_token: str
    expires_at_ms: int

    def csrf_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(),
                                                             self.csrf_token.encode())


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Open, find and close console sessions on one engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def open(self, key_id: int, now_ms: int, lifetime_s: int) -> str:
        """A new session for key `key_id` until now + lifetime: its token (shown to the browser
        once, as the cookie). Expired sessions of every key are swept on the way."""
        token = secrets.token_urlsafe(32)
        with self._engine.begin() as conn:
            conn.execute(delete(_SESSIONS)
                         .where(_SESSIONS.c.expires_at <= datetime_from_ms(now_ms)))
            conn.execute(insert(_SESSIONS).values(
                token_hash=token_hash(token), key_id=key_id, csrf_token=secrets.token_urlsafe(32),
                created_at=datetime_from_ms(now_ms),
                expires_at=datetime_from_ms(now_ms + lifetime_s * 1000)))
        return token

    def find(self, token: str | None, now_ms: int) -> Session | None:
        """The live session of `token` with its key's principal; None for no token, a malformed,
        unknown or expired one, or one whose key is revoked."""
        if token is None or not TOKEN_PATTERN.fullmatch(token):
            return None
        query = (select(_SESSIONS.c.id, _SESSIONS.c.csrf_token, _SESSIONS.c.expires_at,
                        _KEYS.c.id.label("key_id"), _KEYS.c.name, _KEYS.c.role, _KEYS.c.zones)
                 .join(_KEYS, _KEYS.c.id == _SESSIONS.c.key_id)
                 .where(_SESSIONS.c.token_hash == token_hash(token),
                        _SESSIONS.c.expires_at > datetime_from_ms(now_ms),
                        _KEYS.c.revoked_at.is_(None)))
        with self._engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        if row is None:
            return None
        expires = ms_from_datetime(row.expires_at)
        assert expires is not None, "NOT NULL column"
        return Session(row.id, principal_of(row.key_id, row.name, row.role, row.zones),
                       row.csrf_token, expires)

    def close(self, token: str | None) -> None:
        """Sign out: the session row is deleted (nothing happens for an unknown token)."""
        if token is not None and TOKEN_PATTERN.fullmatch(token):
            with self._engine.begin() as conn:
                conn.execute(delete(_SESSIONS).where(_SESSIONS.c.token_hash == token_hash(token)))
