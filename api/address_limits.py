"""Requests per client address in a sliding window, counted in SQL: the citizen channel's limits
(reports filed, receipts looked up), shared by every API process and every machine that serves
the town from one database, where an in-memory count would let an address file `api_workers`
times the limit.

Each counted request is an `address_hits` row. `hit` deletes the address's rows that left the
window, counts the rest and adds one if it is under the limit, in one transaction that holds the
address: SQLite's first write takes the database's write lock; PostgreSQL takes a transaction
advisory lock on the (purpose, address) pair. Two processes hit at once are counted one after
the other, never both let through on the same count. Rows of addresses that do not come back are
deleted by a sweep over the whole table at most once a window fraction (`SWEEP_EVERY_MS`) per
process, so the table holds at most the last window's requests.
"""

from __future__ import annotations

import hashlib
import math
import threading

from sqlalchemy import Connection, Engine, delete, func, insert, select, text

from streetwatch.registry.models import ADDRESS_LENGTH, AddressHit
from streetwatch.registry.timestamps import datetime_from_ms, ms_from_datetime

HOUR_MS = 3_600_000
SWEEP_EVERY_MS = 60_000
_HITS = AddressHit.__table__


class AddressLimiter:
    """At most `limit` requests of one client address for `purpose` in any `window_ms`."""

    def __init__(self, engine: Engine, purpose: str, limit: int,
                 window_ms: int = HOUR_MS) -> None:
        if limit < 1 or window_ms < 1:
            raise ValueError("limit and window must be positive")
        self.engine, self.purpose, self.limit, self.window_ms = engine, purpose, limit, window_ms
        self._swept_at = -math.inf
        self._sweep_lock = threading.Lock()

    def hit(self, address: str, now_ms: int) -> int | None:
        """Count one request of `address` at `now_ms`: None when allowed, else the whole
        seconds until it would be (the request is then not counted)."""
        address = address[:ADDRESS_LENGTH]
        mine = (_HITS.c.purpose == self.purpose) & (_HITS.c.address == address)
        with self.engine.begin() as conn:
            self._hold(conn, address)
            conn.execute(delete(_HITS).where(
                mine, _HITS.c.at <= datetime_from_ms(now_ms - self.window_ms)))
            first, count = conn.execute(select(func.min(_HITS.c.at), func.count())
                                        .where(mine)).one()
            if count >= self.limit:
                waited = ms_from_datetime(first) + self.window_ms - now_ms  # type: ignore[operator]
                return max(1, math.ceil(waited / 1000))
            conn.execute(insert(_HITS).values(purpose=self.purpose, address=address,
                                              at=datetime_from_ms(now_ms)))
        self._sweep(now_ms)
        return None

    def _hold(self, conn: Connection, address: str) -> None:
        """Serialize hits of one address across processes (see the module's docstring)."""
        if conn.dialect.name == "postgresql":
            digest = hashlib.blake2b(f"{self.purpose}\0{address}".encode(), digest_size=8)
            key = int.from_bytes(digest.digest(), "big", signed=True)
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    def _sweep(self, now_ms: int) -> None:
        """Delete every address's rows that left the window, at most every SWEEP_EVERY_MS."""
        with self._sweep_lock:
            if now_ms - self._swept_at < SWEEP_EVERY_MS:
                return
            self._swept_at = now_ms
        with self.engine.begin() as conn:
            conn.execute(delete(_HITS).where(_HITS.c.purpose == self.purpose,
                                             _HITS.c.at <= datetime_from_ms(
                                                 now_ms - self.window_ms)))

    def held(self) -> int:
        """Rows this limiter's purpose holds (for tests and the operator)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(_HITS)
                                .where(_HITS.c.purpose == self.purpose)).scalar_one()
