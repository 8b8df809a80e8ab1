"""Operations: `/healthz` (the process answers), `/readyz` (SQL, InfluxDB and MQTT reachable),
`/metrics` (Prometheus text). Unauthenticated, as orchestrators and scrapers call them."""

from __future__ import annotations

import socket

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.resources import Res, Resources

router = APIRouter(tags=["operations"])
PROBE_TIMEOUT_S = 2.0


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="SQL, InfluxDB and the MQTT broker are reachable",
            responses={503: {"description": "a dependency is not reachable"}})
def readyz(res: Res) -> JSONResponse:
    checks = {"sql": _sql_ok(res), "influxdb": _influx_ok(res), "mqtt": _mqtt_ok(res)}
    ready = all(checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready",
                         "checks": {k: "ok" if v else "unreachable" for k, v in checks.items()}},
                        status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics of this API process",
            response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)


def _sql_ok(res: Resources) -> bool:
    try:
        with res.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 -- any failure means not ready; the reason is not exposed
        return False
    return True


def _influx_ok(res: Resources) -> bool:
    try:
        return res.influx.ping()
    except Exception:  # noqa: BLE001
        return False


def _mqtt_ok(res: Resources) -> bool:
    """A TCP connection to the broker opens (the API publishes nothing itself)."""
    endpoint = res.settings.mqtt_endpoint()
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False
