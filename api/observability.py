"""Request metrics (Prometheus) and structured access logs, as one ASGI-level middleware.

Each app has its own `CollectorRegistry`, so two apps in one process (tests) never collide. Routes
are labelled by their template (`/api/v1/alerts/{alert_id}`), not the raw path, so ids cannot blow
up the series count. The access log names the key by its name and id, never the key itself, and
logs no query string (citizen text and contacts travel in bodies, never in logs), nor a
citizen's receipt code (the route template stands in for such paths).
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streetwatch.logs import log_event

_log = logging.getLogger("api.access")
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class RequestMetrics:
    """The API's Prometheus counters, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("streetwatch_api_requests", "HTTP requests answered",
                                ("method", "route", "status"), registry=self.registry)
        self.latency = Histogram("streetwatch_api_request_seconds", "Time to answer a request",
                                 ("method", "route"), buckets=LATENCY_BUCKETS_S,
                                 registry=self.registry)
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count and time one request (each label set's series looked up once, then kept: the
        labels are templates and statuses, a bounded set)."""
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (self.requests.labels(method, route, str(status)),
                                          self.latency.labels(method, route))
        series[0].inc()
        series[1].observe(seconds)


class AccessMiddleware:
    """Counts, times and logs every HTTP request (one `api.request` event per line). Plain ASGI:
    Starlette's BaseHTTPMiddleware costs a task and a stream per request."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]  # unless the app starts an answer

        async def send_noting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self._record(scope, status[0], time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        path = _path_of(scope)
        route = _route_of(scope, path)
        self.metrics.record(scope["method"], route, status, seconds)
        principal = scope.get("state", {}).get("principal")
        client = scope.get("client")
        log_event(_log, "api.request", method=scope["method"], route=route,
                  path=route if "{receipt}" in route else path, status=status,
                  ms=round(seconds * 1000, 2),
                  key=None if principal is None else f"{principal.name}#{principal.key_id}",
                  client=client[0] if client else None)


def _path_of(scope: Scope) -> str:
    """The request path as Starlette's `request.url.path` gives it (`?`, `#` and `\\` escaped),
    without building the whole URL. A path carrying a citizen's receipt code is logged as its
    route template instead (see _record)."""
    return scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def _route_of(scope: Scope, path: str) -> str:
    """The matched route's full template (`/api/v1/alerts/{alert_id}`); `unmatched` for a 404
    path (no raw path as a label). FastAPI mounts included routers, so the route knows its own
    path but not the prefix it was included under: that is the request path's leading part."""
    template = getattr(scope.get("route"), "path", None)
    if not template:
        return "unmatched"
    depth = template.count("/")
    prefix = "/".join(path.split("/")[:-depth]) if depth else ""
    return prefix + template
