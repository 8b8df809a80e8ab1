"""`/api/v1/devices/{id}/readings`: a device's history (raw or downsampled) and its latest reading.

Viewers read; a zone-bound key reads its zones' devices only (any other is a 404). The device is
looked up in the registry first, so InfluxDB is only ever asked about a registered device, by
the kind's own measurement and tag (api/readings.py builds every query from validated parts).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field

from api.auth import Viewer
from api.formats import json_response
from api.query_params import EVERY_PATTERN, QueryError
from api.readings import (
    latest_reading,
    reading_history,
    reading_range,
)
from api.resources import Res
from api.routes.devices import (
    DeviceId,
    KindChoice,
    Reading,
    reading_model,
    visible_kind,
)
from streetwatch.alerts.model import rfc3339_ms

router = APIRouter(tags=["readings"])
_TIME_HELP = "RFC 3339 with a zone (`2026-11-23T18:00:00Z`) or epoch milliseconds."
FromParam = Annotated[str | None, Query(alias="from", max_length=40, description=_TIME_HELP)]
ToParam = Annotated[str | None, Query(max_length=40, description=_TIME_HELP)]


class ReadingSeries(BaseModel):
    """A device's readings in [from, to), oldest first. With `every`, each item is a bucket of
    that size at its start time (empty buckets left out): numeric fields are the bucket's mean,
    `rain_mm` its sum, booleans and `fault` its last value, `readings` how many it holds."""

    device: str
    kind: str
    from_: str = Field(alias="from")
    to: str
    every: str | None = None
    items: list[Reading]
    next_from: str | None = Field(None, description=(
        "Raw answers stop after 10,000 readings: ask again from here for the rest."))


@router.get("/devices/{device_id}/readings", summary="A device's readings over a range",
            response_model_exclude_unset=True, response_model_by_alias=True)
def device_readings(device_id: DeviceId, principal: Viewer, res: Res,
                    from_: FromParam = None, to: ToParam = None,
                    every: Annotated[str | None, Query(max_length=10, pattern=EVERY_PATTERN,
                                                       description="Downsample into buckets: "
                                                       "30s, 5m, 1h, 1d (1s .. 31d).")] = None,
                    kind: KindChoice = None) -> ReadingSeries:
    """`to` defaults to now, `from` to 24 h before `to`; the range spans at most 366 days and,
    downsampled, at most 10,000 buckets."""
    device_kind = visible_kind(res, principal, device_id, kind)
    try:
        span = reading_range(from_, to, every, res.clock())
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from None
    found, more = reading_history(res.influx, device_kind, device_id, span)
    return ReadingSeries(device=device_id, kind=device_kind, to=rfc3339_ms(span.to_ms),
                         every=every, items=[reading_model(r) for r in found],
                         next_from=None if more is None else rfc3339_ms(more),
                         **{"from": rfc3339_ms(span.from_ms)})


@router.get("/devices/{device_id}/readings/latest", summary="A device's latest reading",
            response_model=Reading, response_model_exclude_unset=True)
def device_latest_reading(device_id: DeviceId, principal: Viewer, res: Res,
                          kind: KindChoice = None) -> Response:
    """404 when the device is not there (for this key) or has never reported."""
    device_kind = visible_kind(res, principal, device_id, kind)
    reading = latest_reading(res.influx, device_kind, device_id, res.clock())
    if reading is None:
        raise HTTPException(404, f"{device_kind} {device_id!r} has no readings yet")
    return json_response(reading_model(reading), exclude_unset=True)
