"""The FastAPI application: `create_app(settings)` builds it, `streetwatch api` serves it.

Resource paths live under `/api/v1`; `/healthz`, `/readyz` and `/metrics` at the root. The app
opens its connections in its lifespan (or takes `Resources` from a test), so importing this
module builds nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from api.console import patrol_api
from api.console.routes import router as console_router
from api.observability import AccessMiddleware, RequestMetrics
from api.resources import Resources, open_resources, wall_clock_ms
from api.routes import alerts, citizen, devices, health, lighting, readings, report_page, scores
from streetwatch.errors import InfluxError
from streetwatch.logs import log_event
from streetwatch.settings import Settings

API_PREFIX = "/api/v1"


class ErrorOut(BaseModel):
    """Every error answer: why, in a sentence (validation errors: FastAPI's list of problems)."""

    detail: str | list[dict[str, Any]]


# Answers any `/api/v1` route may give besides its own, documented once for all of them.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text} for status, text in (
        (400, "a malformed request (e.g. a cursor this API did not hand out)"),
        (401, "no API key, or not a valid one"),
        (403, "the key's role does not allow this"),
        (404, "no such thing, or not in the key's zones"),
        (409, "the change does not apply in the thing's current state"),
        (413, "the body is too large"),
        (415, "the body's content type is not one this route reads"),
        (422, "a parameter or the body is invalid: a reason, or a list of problems (loc, msg)"),
        (429, "too many requests from this address"),
        (503, "storage (SQL or InfluxDB) is unavailable; retry later"),
    )
}
_log = logging.getLogger(__name__)


def create_app(settings: Settings, res: Resources | None = None,
               clock: Callable[[], int] = wall_clock_ms) -> FastAPI:
    """The API app; it opens (and closes) its own resources unless `res` is given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if res is None:
            app.state.resources = open_resources(settings, clock)
        # Blocking work (SQL, InfluxDB) runs in this many threads: Python runs one at a time, and
        # more threads only queue on the interpreter lock (bench/api.py: 2 beat 40 on the tail).
        to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        log_event(_log, "api.ready", routes=len(app.routes), threads=settings.api_threads)
        try:
            yield
        finally:
            app.state.resources.close()

    app = FastAPI(title="Streetwatch API", version="1", lifespan=lifespan,
                  description="Streetlights and drains: devices, readings, lighting rate, "
                              "alerts, citizen reports, scores. Send `Authorization: Bearer "
                              "<API key>` (create one with `streetwatch apikey create`).")
    if res is not None:
        app.state.resources = res
    app.state.metrics = RequestMetrics()
    app.add_middleware(AccessMiddleware, metrics=app.state.metrics)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(InfluxError, _storage_unavailable)
    app.add_exception_handler(OperationalError, _storage_unavailable)
    app.include_router(health.router)
    app.include_router(report_page.router)  # /reports/monthly: a page, outside /api/v1
    app.include_router(console_router)  # /console: the crew console's pages (docs/console.md)
    for router in _resource_routers():
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    return app


def app_from_env() -> FastAPI:
    """The app for the configured settings: uvicorn's factory in each worker process (their
    logs JSON lines, as the parent's)."""
    from streetwatch.logs import configure_logging
    from streetwatch.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def _resource_routers() -> list[APIRouter]:
    """The `/api/v1` routers, one module per resource."""
    return [devices.router, readings.router, lighting.router, alerts.router, citizen.router,
            scores.router, patrol_api.router]


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each problem by place, message and type; the offending input is not echoed
    (hostile text stays out of answers, and a lone surrogate could not even be encoded)."""
    problems = [{"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")),
                 "type": str(error.get("type", ""))} for error in exc.errors()]
    body = json.dumps({"detail": problems}, ensure_ascii=True)  # any text encodes as ASCII
    return Response(body, status_code=422, media_type="application/json")


async def _storage_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """InfluxDB or SQL down or refusing: 503 with a short reason (no internals), logged."""
    log_event(_log, "api.storage_unavailable", level=logging.WARNING, path=request.url.path,
              error=type(exc).__name__)
    return JSONResponse({"detail": "storage is unavailable, try again shortly"}, status_code=503,
                        headers={"Retry-After": "5"})
