"""SQL for citizen reports: the `citizen_reports` table, the devices a report may be linked to,
and the open alert of a device (queries the alert store does not have).

Answer and close are single conditional UPDATEs, so two managers acting at once cannot close an
unanswered report or answer a closed one; the table's check constraint is the last line of
defence ("never closed without an answer").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from api.citizen import (
    LINKABLE,
    DeviceTable,
    ReportKind,
    bounding_box,
    haversine_m,
    new_receipt,
)
from api.devices import open_alerts_about
from streetwatch.alerts.model import drain_subject, lamp_subject
from streetwatch.registry.models import CitizenReport, Drain, Lamp
from streetwatch.registry.timestamps import datetime_from_ms, ms_from_datetime

_REPORTS = CitizenReport.__table__
_TABLES = {"lamp": Lamp.__table__, "drain": Drain.__table__}
_SUBJECT = {"lamp": lamp_subject, "drain": drain_subject}
RECEIPT_ATTEMPTS = 5


class ReportConflict(Exception):
    """The report cannot change so (closed already, or closing without an answer): a 409."""


@dataclass(frozen=True, slots=True)
class LinkedDevice:
    """A registered lamp or drain a report is about, and where it is."""

    table: DeviceTable
    id: str
    zone: str
    lat: float | None
    lon: float | None
    road: str | None = None
    position: int | None = None

    @property
    def subject(self) -> str:
        return _SUBJECT[self.table](self.id)


@dataclass(frozen=True, slots=True)
class StoredReport:
    """One row of `citizen_reports`, times in epoch ms."""

    id: int
    receipt: str
    created_at_ms: int
    kind: ReportKind
    text: str
    contact: str | None
    lat: float | None
    lon: float | None
    device_id: str | None
    zone: str | None
    alert_id: int | None
    status: str
    answer: str | None
    answered_by: str | None
    answered_at_ms: int | None
    closed_at_ms: int | None


# Devices ---------------------------------------------------------------------------------------

def device_by_id(engine: Engine, device_id: str, kind: ReportKind) -> LinkedDevice | None:
    """The registered device `device_id` among those a `kind` report may name."""
    with engine.connect() as conn:
        for table in LINKABLE[kind]:
            row = conn.execute(_device_query(table).where(_TABLES[table].c.id == device_id)
                               ).one_or_none()
            if row is not None:
                return _device(table, row)
    return None


def nearest_device(engine: Engine, lat: float, lon: float, radius_m: float,
                   kind: ReportKind) -> LinkedDevice | None:
    """The registered device nearest (lat, lon) within `radius_m` among those a `kind` report
    may be linked to (lamps for a dark lamp, drains for a drain, either for `other`); the
    lowest id on a tie. A lat/lon box narrows the rows in SQL, the exact distance decides."""
    box = bounding_box(lat, lon, radius_m)
    best: tuple[float, str, LinkedDevice] | None = None
    with engine.connect() as conn:
        for table in LINKABLE[kind]:
            columns = _TABLES[table].c
            query = _device_query(table).where(columns.lat.between(box.min_lat, box.max_lat),
                                               columns.lon.between(box.min_lon, box.max_lon))
            for row in conn.execute(query):
                distance = haversine_m(lat, lon, row.lat, row.lon)
                key = (distance, row.id)
                if distance <= radius_m and (best is None or key < best[:2]):
                    best = (distance, row.id, _device(table, row))
    return None if best is None else best[2]


def _device_query(table: DeviceTable) -> Any:
    columns = _TABLES[table].c
    chosen = [columns.id, columns.zone, columns.lat, columns.lon]
    if table == "lamp":
        chosen += [columns.road, columns.position_on_road]
    return select(*chosen)


def _device(table: DeviceTable, row: Any) -> LinkedDevice:
    if table == "lamp":
        return LinkedDevice(table, row.id, row.zone, row.lat, row.lon, row.road,
                            row.position_on_road)
    return LinkedDevice(table, row.id, row.zone, row.lat, row.lon)


def open_alert_of(engine: Engine, device: LinkedDevice) -> int | None:
    """The open alert about `device`: one whose subject it is (the oldest), else the oldest
    one that lists it among its devices (a blind spot, a failed cabinet); None if none."""
    alerts = open_alerts_about(engine, device.table, device.id, device.zone)  # oldest first
    chosen = [a for a in alerts if a.subject == device.subject] or alerts
    return chosen[0].id if chosen else None


# Reports ---------------------------------------------------------------------------------------

def insert_report(engine: Engine, kind: ReportKind, text: str, contact: str | None,
                  lat: float | None, lon: float | None, device: LinkedDevice | None,
                  at_ms: int) -> StoredReport:
    """Store a new open report under a fresh receipt (drawn again on the rare collision: the
    receipt is the only unique column, and the checked columns were validated before)."""
    values = {"created_at": datetime_from_ms(at_ms), "kind": kind, "text": text,
              "contact": contact, "lat": lat, "lon": lon,
              "device_id": None if device is None else device.id,
              "zone": None if device is None else device.zone, "status": "open"}
    for attempt in range(1, RECEIPT_ATTEMPTS + 1):
        try:
            with engine.begin() as conn:
                row = conn.execute(insert(_REPORTS).values({**values, "receipt": new_receipt()})
                                   .returning(*_REPORTS.c)).one()
            return _report(row)
        except IntegrityError:
            if attempt == RECEIPT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def link_alert(engine: Engine, report_id: int, alert_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(_REPORTS).where(_REPORTS.c.id == report_id)
                     .values(alert_id=alert_id))


def by_receipt(engine: Engine, receipt: str) -> StoredReport | None:
    with engine.connect() as conn:
        row = conn.execute(select(_REPORTS).where(_REPORTS.c.receipt == receipt)).one_or_none()
    return None if row is None else _report(row)


def list_reports(engine: Engine, *, zones: Sequence[str] | None, status: str | None,
                 zone: str | None, kind: str | None, after_id: int | None,
                 limit: int) -> list[StoredReport]:
    """Reports oldest first, after `after_id`, at most `limit`; `zones` (a bound key's) keeps
    only reports in those zones (a report linked to no device has no zone)."""
    query = select(_REPORTS).order_by(_REPORTS.c.id).limit(limit)
    if zones is not None:
        query = query.where(_REPORTS.c.zone.in_(list(zones)))
    for column, wanted in (("status", status), ("zone", zone), ("kind", kind)):
        if wanted is not None:
            query = query.where(_REPORTS.c[column] == wanted)
    if after_id is not None:
        query = query.where(_REPORTS.c.id > after_id)
    with engine.connect() as conn:
        return [_report(row) for row in conn.execute(query)]


def answer_report(engine: Engine, report_id: int, answer: str, by: str,
                  at_ms: int) -> StoredReport:
    """Answer the report (again, if answered already): `answered`; ReportConflict if closed."""
    values = {"status": "answered", "answer": answer, "answered_by": by,
              "answered_at": datetime_from_ms(at_ms)}
    return _change(engine, report_id, [_REPORTS.c.status != "closed"], values,
                   "the report is closed")


def close_report(engine: Engine, report_id: int, answer: str | None, by: str,
                 at_ms: int) -> StoredReport:
    """Close the report, answering it with `answer` if given; ReportConflict if it is closed
    already, or has no answer and none is given."""
    values: dict[str, Any] = {"status": "closed", "closed_at": datetime_from_ms(at_ms)}
    where = [_REPORTS.c.status != "closed"]
    if answer is None:
        where.append(_REPORTS.c.answer.is_not(None))
    else:
        values |= {"answer": answer, "answered_by": by, "answered_at": datetime_from_ms(at_ms)}
    return _change(engine, report_id, where, values,
                   "the report is closed already, or has no answer: give one to close it")


def _change(engine: Engine, report_id: int, where: list[Any], values: dict[str, Any],
            conflict: str) -> StoredReport:
    try:
        with engine.begin() as conn:
            row = conn.execute(update(_REPORTS).where(_REPORTS.c.id == report_id, *where)
                               .values(values).returning(*_REPORTS.c)).one_or_none()
    except IntegrityError:  # the check constraint: never closed without an answer
        raise ReportConflict(conflict) from None
    if row is None:
        raise ReportConflict(conflict)
    return _report(row)


def _report(row: Any) -> StoredReport:
    return StoredReport(
        row.id, row.receipt, ms_from_datetime(row.created_at), row.kind, row.text, row.contact,
        row.lat, row.lon, row.device_id, row.zone, row.alert_id, row.status, row.answer,
        row.answered_by, ms_from_datetime(row.answered_at), ms_from_datetime(row.closed_at))


__all__ = ["LinkedDevice", "ReportConflict", "StoredReport", "answer_report", "by_receipt",
           "close_report", "device_by_id", "insert_report", "link_alert",
           "list_reports", "nearest_device", "open_alert_of"]
