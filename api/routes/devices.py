"""`/api/v1/devices`: list, get (with its latest reading and open alerts), create, update, take
out of service, bulk import.

Viewers read; managers create, update and retire; admins import. A zone-bound key sees only its
zones' devices: lists are filtered, any other device is a 404 exactly like a missing one, and it
cannot create a device in, or move one to, a zone it does not see (403).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api import devices as registry
from api.auth import Admin, Manager, Viewer
from api.device_import import (
    MAX_IMPORT_BYTES,
    check_device,
    device_cells,
    import_devices,
    parse_csv_body,
    parse_geojson_body,
    time_cell,
)
from api.devices import DeviceConflict, DeviceKind, DeviceQuery, DeviceState
from api.formats import json_answer
from api.keys import Principal
from api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from api.readings import latest_reading
from api.request_body import check_announced_size, read_within
from api.resources import Res, Resources
from streetwatch.alerts.model import rfc3339_ms
from streetwatch.alerts.records import StoredAlert
from streetwatch.registry.csv_import import parse_service_cells
from streetwatch.registry.timestamps import ms_from_datetime
from streetwatch.schemas import ID_PATTERN

router = APIRouter(tags=["devices"])
DeviceId = Annotated[str, Path(pattern=ID_PATTERN, description="The device id (id rule).")]
KindChoice = Annotated[DeviceKind | None, Query(
    description="Needed only when one id names devices of two kinds (the registry CSV allows a "
                "lamp and a drain to share an id).")]
IdFilter = Annotated[str | None, Query(pattern=ID_PATTERN)]
TimeValue = str | int  # RFC 3339 with a zone, or epoch milliseconds
_TEXT = 200  # longest text accepted in a device field (the CSV rules then say exactly why)
CSV_TYPES = ("text/csv",)
GEOJSON_TYPES = ("application/geo+json", "application/json")


# Models ------------------------------------------------------------------------------------------
class Device(BaseModel):
    """A registered device. `state`: `retired` (taken out for good: `in_service` false),
    `out_of_service` (inside its planned-works window [out_of_service_from,
    out_of_service_until), an open end reaching forever) or `in_service`. Lamps carry road,
    position and cabinet; drains their geometry and band; only a kind's own fields appear."""

    kind: DeviceKind
    id: str
    gateway: str
    zone: str
    state: DeviceState
    in_service: bool
    out_of_service_from: str | None = None
    out_of_service_until: str | None = None
    out_of_service_reason: str | None = None
    lat: float | None = None
    lon: float | None = None
    road: str | None = None
    position: int | None = None
    cabinet: str | None = None
    depth_cm: float | None = None
    overflow_cm: float | None = None
    downstream: str | None = None
    pipe_diameter_cm: float | None = None
    normal_low_cm: float | None = None
    normal_high_cm: float | None = None


class Reading(BaseModel):
    """One reading (or, downsampled, one bucket: see the readings routes); a kind's fields only."""

    time: str
    on: bool | None = None
    dim: float | None = None
    power_w: float | None = None
    voltage_v: float | None = None
    fault: str | None = None
    level_cm: float | None = None
    battery_v: float | None = None
    rssi_dbm: float | None = None
    cover_open: bool | None = None
    rain_mm: float | None = None
    readings: int | None = Field(None, description="Readings in the bucket (downsampled only).")


class DeviceAlert(BaseModel):
    """An open alert about the device (GET /api/v1/alerts/{id} has its history)."""

    id: int
    kind: str
    severity: str
    state: str
    zone: str
    subject: str
    devices: list[str]
    message: str
    raised_at: str
    deadline: str
    overdue: bool


class DeviceDetail(Device):
    """A device with its newest reading (null when it never reported) and its open alerts."""

    latest_reading: Reading | None = None
    open_alerts: list[DeviceAlert] = []


class DeviceFields(BaseModel):
    """Device columns as in the registry CSV (docs/devices-csv.md), checked by the same rules;
    the service columns apply to every kind here. Times: RFC 3339 with a zone or epoch ms."""

    model_config = ConfigDict(extra="forbid")

    gateway: str | None = Field(None, max_length=_TEXT)
    zone: str | None = Field(None, max_length=_TEXT)
    lat: float | None = None
    lon: float | None = None
    road: str | None = Field(None, max_length=_TEXT)
    position: int | None = None
    cabinet: str | None = Field(None, max_length=_TEXT)
    depth_cm: float | None = None
    overflow_cm: float | None = None
    downstream: str | None = Field(None, max_length=_TEXT)
    pipe_diameter_cm: float | None = None
    normal_low_cm: float | None = None
    normal_high_cm: float | None = None
    in_service: bool | None = None
    out_of_service_from: TimeValue | None = Field(None, examples=["2026-03-02T07:00:00+01:00"])
    out_of_service_until: TimeValue | None = None


class DeviceCreate(DeviceFields):
    """A new device: kind, id, gateway and zone are required."""

    kind: DeviceKind
    id: str = Field(max_length=_TEXT)
    gateway: str = Field(max_length=_TEXT)
    zone: str = Field(max_length=_TEXT)


class RetireRequest(BaseModel):
    """Take a device out of service: for good (no `from`, no `until`: state `retired`) or for
    planned works [from, until) (`from` defaults to now; no `until`: until further notice)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    reason: str = Field(min_length=1, max_length=500)
    from_: TimeValue | None = Field(None, alias="from")
    until: TimeValue | None = None


class ImportRowError(BaseModel):
    """One problem: its CSV line (header = 1) or GeoJSON feature (first = 1, 0 = the whole)."""

    line: int | None = None
    feature: int | None = None
    message: str


class ImportResult(BaseModel):
    """What an import did: counts when written; else every problem, and nothing was written."""

    imported: bool
    lamps: int = 0
    drains: int = 0
    gauges: int = 0
    inserted: int = 0
    updated: int = 0
    errors: list[ImportRowError] = []


# Helpers -----------------------------------------------------------------------------------------
def visible_device(res: Resources, principal: Principal, device_id: str,
                   kind: DeviceKind | None) -> dict[str, Any]:
    """The device the key may see: 404 when missing or in another zone, 409 when ambiguous."""
    found = registry.find_devices(res.engine, device_id, kind, res.clock())
    return found[_visible_one([(d["kind"], d["zone"]) for d in found], principal, device_id)]


def visible_kind(res: Resources, principal: Principal, device_id: str,
                 kind: DeviceKind | None) -> DeviceKind:
    """`visible_device`'s kind, read without the rest of the device."""
    found = registry.device_zones(res.engine, device_id, kind)
    return found[_visible_one(found, principal, device_id)][0]


def _visible_one(found: list[tuple[DeviceKind, str]], principal: Principal,
                 device_id: str) -> int:
    """The index of the one (kind, zone) in `found` the key sees: 404 when there is none, 409
    when there are two."""
    seen = [n for n, (_, zone) in enumerate(found) if principal.sees(zone)]
    if not seen:
        raise HTTPException(404, f"no device {device_id!r}")
    if len(seen) > 1:
        kinds = " and a ".join(found[n][0] for n in seen)
        raise HTTPException(409, f"{device_id!r} names a {kinds}; add ?kind= to choose")
    return seen[0]


def _device(record: dict[str, Any]) -> Device:
    """The device with its kind's columns set (others left unset, so left out of the answer)."""
    return Device(**record)


_DEVICE_FIELDS = tuple(Device.model_fields)


def device_json(record: dict[str, Any]) -> dict[str, Any]:
    """What `_device(record)` answers, as a plain dict: its kind's fields in Device's order.
    The registry's columns have Device's types already (tests/unit/test_api_answers.py)."""
    return {name: record[name] for name in _fields_of(tuple(record))}


@lru_cache(maxsize=16)
def _fields_of(names: tuple[str, ...]) -> tuple[str, ...]:
    """Device's fields among a record's `names`, in Device's order: the same few per kind."""
    return tuple(name for name in _DEVICE_FIELDS if name in names)


def _alert(alert: StoredAlert) -> DeviceAlert:
    return DeviceAlert(id=alert.id, kind=alert.kind, severity=alert.severity, state=alert.state,
                       zone=alert.zone, subject=alert.subject, devices=list(alert.devices),
                       message=alert.message, raised_at=rfc3339_ms(alert.raised_at_ms),
                       deadline=rfc3339_ms(alert.deadline_ms), overdue=alert.overdue)


def reading_model(reading: dict[str, Any]) -> Reading:
    return Reading(**{**reading, "time": rfc3339_ms(reading["time"])})


def _checked(principal: Principal, cells: dict[str, str],
             wrong: list[str]) -> tuple[DeviceKind, dict[str, Any]]:
    """A device's model values by the CSV rules (422 listing every problem); 403 for a zone the
    key does not see."""
    kind, values, problems = check_device(cells)
    if wrong or problems:
        raise HTTPException(422, "; ".join(wrong + problems))
    if not principal.sees(values["zone"]):
        raise HTTPException(403, f"this key may not act on zone {values['zone']!r}")
    return kind, registry.model_values(values)  # type: ignore[return-value]


def _api_cells(record: dict[str, Any]) -> dict[str, object]:
    """A stored device as CSV-named JSON values (the base a PATCH writes over)."""
    names = set(DeviceFields.model_fields) | {"kind", "id"}
    return {k: v for k, v in record.items() if k in names and v is not None}


def _cursor_key(cursor: str | None) -> tuple[str, str] | None:
    after = decode_cursor(cursor, str)
    if after is None:
        return None
    kind, _, device_id = str(after).partition(":")
    if kind not in registry.KINDS or not device_id:
        raise HTTPException(400, "cursor is not one this API handed out")
    return kind, device_id


# Routes ------------------------------------------------------------------------------------------
@router.get("/devices", summary="List devices", response_model=Page[Device],
            response_model_exclude_unset=True)
def list_devices(principal: Viewer, res: Res, kind: DeviceKind | None = None,
                 zone: IdFilter = None, gateway: IdFilter = None,
                 road: Annotated[str | None, Query(max_length=64)] = None,
                 cabinet: IdFilter = None, state: DeviceState | None = None,
                 limit: Limit = 100, cursor: Cursor = None) -> Response:
    """Devices in list order (lamps, drains, rain gauges; each by id), filtered: `road` and
    `cabinet` select lamps only; `state` is the device's state now (see Device). A zone-bound
    key lists its zones only."""
    zones = None if zone is None else frozenset({zone})
    if principal.zones is not None:
        zones = principal.zones if zones is None else zones & principal.zones
    query = DeviceQuery(kind, zones, gateway, road, cabinet, state)
    found = registry.list_devices(res.engine, query, _cursor_key(cursor), limit + 1, res.clock())
    more = len(found) > limit
    items = found[:limit]
    last = f"{items[-1]['kind']}:{items[-1]['id']}" if more else None
    return json_answer({"items": [device_json(d) for d in items],
                        "next_cursor": None if last is None else encode_cursor(last)})


@router.get("/devices/{device_id}", summary="A device, its latest reading and open alerts",
            response_model_exclude_unset=True)
def get_device(device_id: DeviceId, principal: Viewer, res: Res,
               kind: KindChoice = None) -> DeviceDetail:
    device = visible_device(res, principal, device_id, kind)
    reading = latest_reading(res.influx, device["kind"], device_id, res.clock())
    alerts = registry.open_alerts_about(res.engine, device["kind"], device_id, device["zone"])
    return DeviceDetail(**_device(device).model_dump(exclude_unset=True),
                        latest_reading=None if reading is None else reading_model(reading),
                        open_alerts=[_alert(a) for a in alerts if principal.sees(a.zone)])


@router.post("/devices", status_code=201, summary="Register a device",
             response_model_exclude_unset=True)
def create_device(body: DeviceCreate, principal: Manager, res: Res) -> Device:
    cells, wrong = device_cells(body.model_dump(exclude_unset=True))
    kind, values = _checked(principal, cells, wrong)
    try:
        created = registry.create_device(res.engine, kind, values, principal.name, res.clock())
    except DeviceConflict as exc:
        raise HTTPException(409, str(exc)) from None
    return _device(created)


@router.patch("/devices/{device_id}", summary="Change a device",
              response_model_exclude_unset=True)
def update_device(device_id: DeviceId, body: DeviceFields, principal: Manager, res: Res,
                  kind: KindChoice = None) -> Device:
    """Only the fields sent change; null clears one. Bringing a device back into service
    (`in_service` true, no window) also clears its out-of-service reason."""
    device = visible_device(res, principal, device_id, kind)
    cells, wrong = device_cells({**_api_cells(device), **body.model_dump(exclude_unset=True)})
    checked_kind, values = _checked(principal, cells, wrong)
    if values["in_service"] and values["out_of_service_from"] is None \
            and values["out_of_service_until"] is None:
        values["out_of_service_reason"] = None
    values.pop("id")
    updated = registry.update_device(res.engine, checked_kind, device_id, values,
                                     principal.name, res.clock())
    if updated is None:
        raise HTTPException(404, f"no device {device_id!r}")
    return _device(updated)


@router.post("/devices/{device_id}/retire", summary="Take a device out of service",
             response_model_exclude_unset=True)
def retire_device(device_id: DeviceId, body: RetireRequest, principal: Manager, res: Res,
                  kind: KindChoice = None) -> Device:
    device = visible_device(res, principal, device_id, kind)
    reason = body.reason.strip()
    if not reason or not reason.isprintable():
        raise HTTPException(422, "reason must be printable text (no control characters)")
    window = _window(body, res.clock())
    try:
        retired = registry.take_out_of_service(res.engine, device["kind"], device_id, window,
                                               reason, principal.name, res.clock())
    except DeviceConflict as exc:
        raise HTTPException(409, str(exc)) from None
    if retired is None:
        raise HTTPException(404, f"no device {device_id!r}")
    return _device(retired)


def _window(body: RetireRequest, now_ms: int) -> tuple[int | None, int | None] | None:
    """The planned-works window in epoch ms (None: for good), checked by the CSV's rules."""
    if body.from_ is None and body.until is None:
        return None
    cells = {"out_of_service_from": time_cell(now_ms if body.from_ is None else body.from_),
             "out_of_service_until": "" if body.until is None else time_cell(body.until)}
    values, problems = parse_service_cells({k: v or "" for k, v in cells.items()})
    if problems:
        raise HTTPException(422, "; ".join(problems).replace("out_of_service_", ""))
    start_ms = ms_from_datetime(values["out_of_service_from"])
    end_ms = ms_from_datetime(values["out_of_service_until"])
    if end_ms is not None and end_ms <= now_ms:
        raise HTTPException(422, "until has passed already")
    return start_ms, end_ms


@router.post("/devices/import", summary="Import devices (registry CSV or GeoJSON), all or none",
             response_model=ImportResult, response_model_exclude_none=True,
             responses={422: {"model": ImportResult, "description": "nothing was imported"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string"}},
                 "application/geo+json": {"schema": {"type": "object"}},
                 "application/json": {"schema": {"type": "object"}}}}})
async def import_devices_route(request: Request, principal: Admin, res: Res) -> Any:
    """Upserts by (kind, id) as `streetwatch devices import` does, in one transaction: one bad
    row (feature) and nothing is written; every problem is listed with its line (feature)."""
    if principal.zones is not None:
        raise HTTPException(403, "a bulk import needs a key for every zone")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in CSV_TYPES + GEOJSON_TYPES:
        raise HTTPException(415, "send text/csv (the registry CSV) or application/geo+json")
    too_large = f"the body may hold at most {MAX_IMPORT_BYTES} bytes"
    check_announced_size(request, MAX_IMPORT_BYTES, too_large)
    data = await read_within(request, MAX_IMPORT_BYTES, too_large)
    parse = parse_csv_body if media in CSV_TYPES else parse_geojson_body
    parsed = await run_in_threadpool(parse, data)
    if not parsed.ok:
        where = "line" if media in CSV_TYPES else "feature"
        errors = [ImportRowError(**{where: e.line, "message": e.message}) for e in parsed.errors]
        return JSONResponse(ImportResult(imported=False, errors=errors)
                            .model_dump(exclude_none=True), status_code=422)
    counts = await run_in_threadpool(import_devices, res.engine, parsed, principal.name)
    return ImportResult(imported=True, lamps=counts.lamps, drains=counts.drains,
                        gauges=counts.gauges, inserted=counts.inserted, updated=counts.updated)
