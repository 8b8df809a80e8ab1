"""A small threaded HTTP server for Prometheus `/metrics` and `/healthz`, on its own daemon thread.

Shared by the ingester and the rule runner: each passes what to expose and how to judge health.
No access log (scrapes every few seconds would drown the structured log).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST

Health = Callable[[], tuple[bool, dict[str, Any]]]


class MetricsHttpServer:
    """`/metrics` answers `exposition()`; `/healthz` answers 200 or 503 with `health()`'s detail."""

    def __init__(self, host: str, port: int, exposition: Callable[[], bytes], health: Health,
                 name: str) -> None:
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(exposition, health))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=name, daemon=True)

    def start(self) -> MetricsHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler_for(exposition: Callable[[], bytes], health: Health
                 ) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 -- the name http.server calls
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, exposition(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                healthy, detail = health()
                self._send(200 if healthy else 503, json.dumps(detail).encode(), "application/json")
            else:
                self._send(404, b"not found: try /metrics or /healthz\n", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 -- no access log
            return None

    return Handler
