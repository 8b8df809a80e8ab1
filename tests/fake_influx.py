"""An in-memory stand-in for InfluxDB's v1 `/write` and `/query`, as an `httpx.MockTransport`.

For unit tests of the ingester's writer only: the answers a real influxd 1.6 cannot be made to give
(408, 429 with Retry-After, 5xx) and exact request counting. Behaviour a real influxd CAN show
(400 field type conflict, 401, 403, 404) is also tested against the real server in
tests/integration. Like InfluxDB 1.x, a partially refused write stores the acceptable points.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from streetwatch.influx import InfluxClient

Scripted = tuple[int, dict[str, str], str]  # status, headers, error text


@dataclass
class FakeInflux:
    """Stored lines, every request seen, and answers to give before behaving normally."""

    database: str = "streetwatch"
    stored: list[str] = field(default_factory=list)
    writes: int = 0
    queries: list[str] = field(default_factory=list)
    script: list[Scripted] = field(default_factory=list)  # consumed one per /write
    refuse: Callable[[str], bool] = lambda line: False  # lines answered "field type conflict"
    database_exists: bool = True
    query_status: int = 200

    def client(self, retries: int = 3) -> InfluxClient:
        slept: list[float] = []
        client = InfluxClient("http://influx.test", self.database, retries=retries,
                              transport=httpx.MockTransport(self.handle), sleep=slept.append)
        client.slept = slept  # type: ignore[attr-defined]
        return client

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/write":
            return self._write(request)
        if request.url.path == "/query":
            return self._query(request)
        return httpx.Response(404, text="404 page not found")

    def _write(self, request: httpx.Request) -> httpx.Response:
        self.writes += 1
        if self.script:
            status, headers, text = self.script.pop(0)
            return httpx.Response(status, headers=headers, json={"error": text})
        if not self.database_exists:
            return httpx.Response(404, json={"error": f'database not found: "{self.database}"'})
        lines = gzip.decompress(request.content).decode().split("\n")
        refused = [line for line in lines if self.refuse(line)]
        self.stored += [line for line in lines if not self.refuse(line)]
        if refused:
            error = f"partial write: field type conflict: input field \"dim\" dropped={len(refused)}"
            return httpx.Response(400, json={"error": error})
        return httpx.Response(204)

    def _query(self, request: httpx.Request) -> httpx.Response:
        q = dict(httpx.QueryParams(request.content.decode() or request.url.query.decode()))["q"]
        self.queries.append(q)
        if self.query_status != 200:
            return httpx.Response(self.query_status, json={"error": "forbidden"})
        if q.startswith("CREATE DATABASE"):
            self.database_exists = True
        return httpx.Response(200, content=json.dumps({"results": [{"statement_id": 0}]}))
