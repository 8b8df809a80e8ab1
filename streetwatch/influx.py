"""InfluxDB adapter over the v1-compatible HTTP API: `/write` (gzip, line protocol) and `/query`.

Speaks v1 because Debian's influxd 1.6 has no `/api/v2/write` (DESIGN s.8); InfluxDB 1.8+, 2.x and
3.x serve the same endpoints. Errors are split into InfluxUnavailable (retry later) and
InfluxRejected (the request itself is wrong); passwords go in a Basic auth header, never a URL.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from streetwatch.errors import InfluxAuthError, InfluxRejected, InfluxUnavailable
from streetwatch.logs import log_event
from streetwatch.settings import Settings

log = logging.getLogger("streetwatch.influx")

MAX_LINES_PER_REQUEST = 5_000
# 408 (request timeout), 429 (throttled) and 5xx mean "not now": the request may succeed later.
TRANSIENT_STATUS = frozenset({408, 429})
AUTH_STATUS = frozenset({401, 403})
# A Retry-After above this is capped: a misbehaving proxy must not park the writer for a day.
MAX_RETRY_AFTER_S = 60.0


class InfluxClient:
    """A small synchronous client for one database; thread-safe for concurrent writes."""

    def __init__(
        self,
        base_url: str,
        database: str,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        auth = httpx.BasicAuth(username, password or "") if username else None
        self.base_url = base_url.rstrip("/")
        self.database = database
        self.retries = max(1, retries)
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url, auth=auth, timeout=timeout_s, transport=transport
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> InfluxClient:
        password = settings.influx_password.get_secret_value() if settings.influx_password else None
        return cls(
            settings.influx_base_url(),
            settings.influx_db,
            settings.influx_username,
            password,
            timeout_s=settings.influx_timeout_s,
            retries=settings.influx_retries,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> InfluxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Health -------------------------------------------------------------------------------
    def ping(self) -> bool:
        """True when the server answers /ping with 204."""
        try:
            return self._http.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def create_database(self) -> None:
        """Create the database if it does not exist (idempotent in InfluxQL)."""
        self.query(f'CREATE DATABASE "{self.database}"', write=True)

    # Writes -------------------------------------------------------------------------------
    def write_lines(self, lines: Sequence[str], precision: str = "ms") -> None:
        """Write line-protocol lines in gzip'd requests of at most 5,000 lines, with retries."""
        for start in range(0, len(lines), MAX_LINES_PER_REQUEST):
            chunk = lines[start : start + MAX_LINES_PER_REQUEST]
            body = gzip.compress("\n".join(chunk).encode("utf-8"), compresslevel=1)
            self._with_retries(lambda body=body: self._write_once(body, precision), "write")

    def _write_once(self, body: bytes, precision: str) -> None:
        response = self._send(
            "POST",
            "/write",
            params={"db": self.database, "precision": precision},
            content=body,
            headers={"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"},
        )
        if response.status_code != 204:
            _raise_for(response, "write")

    # Queries ------------------------------------------------------------------------------
    def query(self, q: str, write: bool = False) -> list[dict[str, Any]]:
        """Run InfluxQL; returns the `results` list. `write` uses POST (CREATE, DROP, ...)."""

        def once() -> list[dict[str, Any]]:
            params = {"db": self.database, "q": q, "epoch": "ms"}
            if write:
                response = self._send("POST", "/query", data=params)
            else:
                response = self._send("GET", "/query", params=params)
            if response.status_code != 200:
                _raise_for(response, "query")
            results: list[dict[str, Any]] = response.json().get("results", [])
            for result in results:
                if "error" in result:
                    raise InfluxRejected(f"query failed: {result['error']}", 200, result["error"])
            return results

        return self._with_retries(once, "query")

    def rows(self, q: str) -> list[dict[str, Any]]:
        """The rows of the first statement's series as dicts (column -> value), tags merged in."""
        return _series_rows((self.query(q) or [{}])[0])

    def rows_chunked(self, q: str, chunk_size: int = 10_000) -> list[dict[str, Any]]:
        """Like `rows`, for answers of any size: asks for a chunked answer, which a server's
        `max-row-limit` cannot cut short (a plain answer past it is silently marked "partial").
        The answer is one JSON document per chunk, one per line."""

        def once() -> list[dict[str, Any]]:
            params = {"db": self.database, "q": q, "epoch": "ms", "chunked": "true",
                      "chunk_size": str(chunk_size)}
            response = self._send("GET", "/query", params=params)
            if response.status_code != 200:
                _raise_for(response, "query")
            rows: list[dict[str, Any]] = []
            for line in response.text.splitlines():
                for result in json.loads(line).get("results", []) if line.strip() else []:
                    if "error" in result:
                        raise InfluxRejected(f"query failed: {result['error']}", 200,
                                             result["error"])
                    if result.get("statement_id", 0) == 0:
                        rows.extend(_series_rows(result))
            return rows

        return self._with_retries(once, "query")

    def tag_values(self, measurement: str, key: str) -> list[str]:
        """Every value tag `key` has in `measurement` (SHOW TAG VALUES), sorted."""
        found = self.rows(f"SHOW TAG VALUES FROM {influxql_ident(measurement)} "
                          f"WITH KEY = {influxql_ident(key)}")
        return sorted(row["value"] for row in found)

    def scalar(self, q: str) -> Any:
        """The first value after `time` of the first row, or None when there is no row."""
        found = self.rows(q)
        if not found:
            return None
        return next((v for k, v in found[0].items() if k != "time"), None)

    # Plumbing -----------------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise InfluxUnavailable(
                f"InfluxDB at {self.base_url} is unreachable: {type(exc).__name__}: {exc}"
            ) from exc

    def _with_retries(self, call: Callable[[], Any], what: str) -> Any:
        delay_s = 0.2
        for attempt in range(1, self.retries + 1):
            try:
                return call()
            except InfluxUnavailable as exc:
                if attempt == self.retries:
                    raise
                wait_s = max(delay_s, exc.retry_after_s or 0.0)
                log_event(log, "influx.retry", logging.WARNING, op=what, attempt=attempt,
                          error=str(exc), retry_in_s=wait_s)
                self._sleep(wait_s)
                delay_s = min(delay_s * 2, 5.0)
        raise AssertionError("unreachable")


def influxql_ident(name: str) -> str:
    """`name` as a double-quoted InfluxQL identifier (measurement, tag or field key)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def influxql_string(value: str) -> str:
    """`value` as a single-quoted InfluxQL string literal (a tag value in WHERE)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _series_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of one statement result's series as dicts (column -> value), tags merged in."""
    rows: list[dict[str, Any]] = []
    for series in result.get("series", []):
        tags = series.get("tags", {})
        for values in series.get("values", []):
            rows.append({**tags, **dict(zip(series["columns"], values, strict=False))})
    return rows


def _raise_for(response: httpx.Response, what: str) -> None:
    """Turn a non-success answer into the error class that says what the caller should do."""
    status = response.status_code
    body = response.text[:1000]
    try:
        message = response.json().get("error", body)
    except (ValueError, AttributeError):
        message = body
    if status >= 500 or status in TRANSIENT_STATUS:
        raise InfluxUnavailable(f"InfluxDB {what} failed with {status}: {message}",
                                retry_after(response.headers.get("Retry-After")))
    if status in AUTH_STATUS:
        raise InfluxAuthError(
            f"InfluxDB refused the {what} ({status}): {message} -- check the InfluxDB user and "
            "password (STREETWATCH_INFLUX_USERNAME / _PASSWORD) and the user's rights", status)
    raise InfluxRejected(f"InfluxDB refused the {what} ({status}): {message}", status, body)


def retry_after(header: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped; None if
    absent or unreadable."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return min(float(header), MAX_RETRY_AFTER_S)
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return min(max((moment - datetime.now(UTC)).total_seconds(), 0.0), MAX_RETRY_AFTER_S)
