"""InfluxDB adapter over the v1-compatible HTTP API: `/write` (gzip, line protocol) and `/query`.

Speaks v1 because Debian's influxd 1.6 has no `/api/v2/write` (DESIGN s.8); InfluxDB 1.8+, 2.x and
3.x serve the same endpoints. Errors are split into InfluxUnavailable (retry later) and
InfluxRejected (the request itself is wrong); passwords go in a Basic auth header, never a URL.

Reads (`GET /query`) go over pooled keep-alive stdlib connections (`QueryConnections`): httpx's
own work per request (URL and parameter merging, auth flow, pool bookkeeping) cost the API more
CPU than a small answer itself. They ask for no compression (gzip cost both ends CPU for the
loopback answers of a one-box install); `rows_chunked` (large reads) still accepts gzip. Writes,
and every call of a client given a transport (tests) or behind a proxy from the environment, use
httpx.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import logging
import time
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

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
        self._reads = (None if transport is not None or _proxied(self.base_url) else
                       QueryConnections(self.base_url, timeout_s, username, password))

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
        if self._reads is not None:
            self._reads.close()

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
                answer = json.loads(self._checked(self._send("POST", "/query", data=params)))
            elif self._reads is not None:
                answer = json.loads(self._reads.get(params))
            else:
                answer = json.loads(self._checked(self._send("GET", "/query", params=params)))
            results: list[dict[str, Any]] = answer.get("results", [])
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
    @staticmethod
    def _checked(response: httpx.Response) -> bytes:
        """The body of a 200 answer to a query; the error that says why for any other."""
        if response.status_code != 200:
            _raise_for(response, "query")
        return response.content

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


class QueryConnections:
    """`GET /query` over keep-alive `http.client` connections, one per concurrent caller: an
    idle one is taken from the pool (or a new one opened) and put back after a whole answer.
    A kept connection the server has closed meanwhile is replaced once, at no retry's cost."""

    def __init__(self, base_url: str, timeout_s: float, username: str | None,
                 password: str | None) -> None:
        parts = urlsplit(base_url)
        self._connection_class = (http.client.HTTPSConnection if parts.scheme == "https"
                                  else http.client.HTTPConnection)
        self._host, self._port = parts.hostname or "localhost", parts.port
        self._path = parts.path.rstrip("/") + "/query?"
        self._timeout_s = timeout_s
        self._base_url = base_url
        self._headers = {"Accept": "application/json"}
        if username:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._idle: list[http.client.HTTPConnection] = []

    def get(self, params: dict[str, str]) -> bytes:
        """The body of a 200 answer; InfluxUnavailable, InfluxAuthError or InfluxRejected."""
        target = self._path + urlencode(params)
        try:
            connection = self._idle.pop()
        except IndexError:
            connection = None
        try:
            if connection is not None:
                try:
                    return self._exchange(connection, target)
                except (ConnectionError, http.client.BadStatusLine):
                    connection.close()  # closed by the server while idle: once more, anew
            return self._exchange(self._connect(), target)
        except (OSError, http.client.HTTPException) as exc:
            raise InfluxUnavailable(f"InfluxDB at {self._base_url} is unreachable: "
                                    f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    def _connect(self) -> http.client.HTTPConnection:
        return self._connection_class(self._host, self._port, timeout=self._timeout_s)

    def _exchange(self, connection: http.client.HTTPConnection, target: str) -> bytes:
        try:
            connection.request("GET", target, headers=self._headers)
            answer = connection.getresponse()
            body = answer.read()
        except BaseException:
            connection.close()
            raise
        if answer.will_close:
            connection.close()
        else:
            self._idle.append(connection)
        if answer.status != 200:
            _raise_for_answer(answer.status, body.decode("utf-8", "replace"),
                              answer.getheader("Retry-After"), "query")
        return body


def _proxied(base_url: str) -> bool:
    """Whether the environment routes `base_url` through a proxy (httpx heeds that; the stdlib
    read path does not, so such a client reads over httpx)."""
    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies()
    return parts.scheme in proxies and not urllib.request.proxy_bypass(parts.hostname or "")


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
    _raise_for_answer(response.status_code, response.text, response.headers.get("Retry-After"),
                      what)


def _raise_for_answer(status: int, text: str, retry_after_header: str | None, what: str) -> None:
    body = text[:1000]
    try:
        message = json.loads(text).get("error", body)
    except (ValueError, AttributeError):
        message = body
    if status >= 500 or status in TRANSIENT_STATUS:
        raise InfluxUnavailable(f"InfluxDB {what} failed with {status}: {message}",
                                retry_after(retry_after_header))
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
