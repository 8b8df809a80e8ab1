"""Timestamps in SQL: timezone-aware UTC datetimes in storage, epoch milliseconds in Python code.

SQLite keeps no zone (SQLAlchemy writes naive ISO text), PostgreSQL does (`timestamptz`).
`UtcDateTime` makes both hand back aware UTC datetimes, and refuses naive ones on the way in, so
no code path ever compares a local time with a UTC one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


class UtcDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that stores UTC and always returns aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: stored as UTC without a zone
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def datetime_from_ms(ts_ms: int | None) -> datetime | None:
    """Epoch milliseconds -> aware UTC datetime (None stays None)."""
    return None if ts_ms is None else _EPOCH + ts_ms * _ONE_MS


def ms_from_datetime(moment: datetime | None) -> int | None:
    """Aware datetime -> epoch milliseconds, floored (None stays None); exact for whole ms."""
    return None if moment is None else (moment - _EPOCH) // _ONE_MS


__all__ = ["UtcDateTime", "datetime_from_ms", "ms_from_datetime"]
