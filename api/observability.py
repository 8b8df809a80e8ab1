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

from fastapi import Request
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
            self._record(Request(scope), status[0], time.perf_counter() - started)

    def _record(self, request: Request, status: int, seconds: float) -> None:
        route = _route_of(request)
        self.metrics.requests.labels(request.method, route, str(status)).inc()
        self.metrics.latency.labels(request.method, route).observe(seconds)
        principal = request.scope.get("state", {}).get("principal")
        log_event(_log, "api.request", method=request.method, route=route,
                  path=_loggable_path(request, route), status=status,
                  ms=round(seconds * 1000, 2),
                  key=None if principal is None else f"{principal.name}#{principal.key_id}",
                  client=request.client.host if request.client else None)


def _loggable_path(request: Request, route: str) -> str:
    """The path, except where it carries a citizen's receipt code (the route template then)."""
    return route if "{receipt}" in route else request.url.path


def _route_of(request: Request) -> str:
    """The matched route's full template (`/api/v1/alerts/{alert_id}`); `unmatched` for a 404
    path (no raw path as a label). FastAPI mounts included routers, so the route knows its own
    path but not the prefix it was included under: that is the request path's leading part."""
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    if not template:
        return "unmatched"
    depth = template.count("/")
    prefix = "/".join(request.url.path.split("/")[:-depth]) if depth else ""
    return prefix + template
