"""Times and bucket sizes in query parameters, parsed once for every route (pure).

A time is RFC 3339 with a zone or epoch milliseconds, between 1970 and 2100 (months
`YYYY-MM` and quarters `YYYY-Qn` likewise) (far inside
InfluxDB's int64-nanosecond range, and the lights-on schedule is not asked about later); a bucket
size (`every`) is a whole number and a unit s, m, h or d. Anything else is a `QueryError`, which
routes answer with 422 and its message.
"""

from __future__ import annotations

import re

from streetwatch.schemas import parse_timestamp_ms

EARLIEST_MS = 0
LATEST_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
EVERY_PATTERN = r"^[1-9][0-9]{0,6}(s|m|h|d)$"
_YEAR = r"(19[7-9][0-9]|20[0-9][0-9])"  # 1970-2099, as times
MONTH_PATTERN = rf"^{_YEAR}-(0[1-9]|1[0-2])$"
QUARTER_PATTERN = rf"^{_YEAR}-Q[1-4]$"
_EPOCH_MS = re.compile(r"[0-9]{1,15}")
_EVERY = re.compile(EVERY_PATTERN)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


class QueryError(ValueError):
    """A query parameter that cannot be used; the message says why (the 422's detail)."""


def moment_ms(name: str, text: str) -> int:
    """`text` (RFC 3339 with a zone, or epoch ms) -> epoch ms between 1970 and 2100."""
    try:
        ms = int(text) if _EPOCH_MS.fullmatch(text) else parse_timestamp_ms(text)
    except ValueError:
        raise QueryError(f"{name} must be RFC 3339 with a zone (2026-11-23T18:00:00Z) or epoch "
                         "milliseconds") from None
    if not EARLIEST_MS <= ms < LATEST_MS:
        raise QueryError(f"{name} must lie between 1970 and 2100")
    return ms


def every_s(text: str, max_s: int) -> int:
    """`90s`, `5m`, `1h`, `1d` -> seconds, at most `max_s`."""
    if not _EVERY.fullmatch(text):
        raise QueryError("every must be a whole number and a unit s, m, h or d, like 30s, 5m, "
                         "1h or 1d")
    seconds = int(text[:-1]) * _UNIT_S[text[-1]]
    if seconds > max_s:
        raise QueryError(f"every may be at most {max_s // 86_400}d")
    return seconds
