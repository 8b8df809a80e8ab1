"""Where the drain reports' inputs come from: the registry and alerts (SQL), drain and rain
readings (InfluxDB). I/O adapter around rules/drain_reports.py (pure), which defines the figures.

Readings are read an hour at a time in time order and streamed into the core, so a month of
readings never sits in memory; rain (a few gauges) is read whole. Alerts are narrowed to drain
subjects and the report window in SQL.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Engine, select

from rules.drain_reports import (
    DrainAlert,
    DrainReportConfig,
    DredgingConfig,
    drain_period_rows,
    drains_csv,
    drains_report_spans,
    dredging_csv,
    dredging_list,
    dredging_spans,
)
from streetwatch.alerts.model import drain_subject
from streetwatch.influx import InfluxClient, influxql_ident
from streetwatch.registry.models import Alert
from streetwatch.registry.store import load_drains, load_gauges, make_engine
from streetwatch.registry.timestamps import datetime_from_ms, ms_from_datetime
from streetwatch.settings import Settings
from streetwatch.town import DrainObservation, RainObservation

CHUNK_MS = 3_600_000
DRAIN_PREFIX = drain_subject("")


def drains_report_csv(settings: Settings, influx: InfluxClient, from_ms: int, to_ms: int) -> str:
    """`report drains` over [from_ms, to_ms) as CSV text."""
    config = DrainReportConfig.from_settings(settings)
    readings_from, rain_from = drains_report_spans((from_ms, to_ms), config)
    sql = make_engine(settings.sql_url())
    try:
        drains, gauges = load_drains(sql), load_gauges(sql)
        alerts = drain_alerts(sql, from_ms, to_ms)
    finally:
        sql.dispose()
    rain = list(rain_observations(influx, rain_from, to_ms))
    readings = drain_observations(influx, readings_from, to_ms)
    return drains_csv(drain_period_rows(drains, gauges, readings, rain, alerts, (from_ms, to_ms),
                                        config))


def dredging_report_csv(settings: Settings, influx: InfluxClient, at_ms: int, weeks: int) -> str:
    """`report dredging` at `at_ms` over the `weeks` whole weeks before its local day, as CSV."""
    config = DredgingConfig.from_settings(settings, weeks)
    (readings_from, readings_to), rain_from = dredging_spans(at_ms, config)
    sql = make_engine(settings.sql_url())
    try:
        drains, gauges = load_drains(sql), load_gauges(sql)
    finally:
        sql.dispose()
    rain = list(rain_observations(influx, rain_from, readings_to))
    readings = drain_observations(influx, readings_from, readings_to)
    return dredging_csv(dredging_list(drains, gauges, readings, rain, at_ms, config))


def drain_alerts(sql: Engine, from_ms: int, to_ms: int) -> list[DrainAlert]:
    """The alerts about a drain (subject `drain:<id>`) raised in [from_ms, to_ms)."""
    query = (select(Alert.subject, Alert.kind, Alert.raised_at)
             .where(Alert.subject.startswith(DRAIN_PREFIX, autoescape=True),
                    Alert.raised_at >= datetime_from_ms(from_ms),
                    Alert.raised_at < datetime_from_ms(to_ms))
             .order_by(Alert.id))
    with sql.connect() as conn:
        return [DrainAlert(subject.removeprefix(DRAIN_PREFIX), kind, ms_from_datetime(raised))
                for subject, kind, raised in conn.execute(query)]


def drain_observations(influx: InfluxClient, from_ms: int, to_ms: int
                       ) -> Iterator[DrainObservation]:
    """`drain` levels in [from_ms, to_ms), in time order (then by sensor)."""
    for row in _hourly_rows(influx, "drain", ("level_cm", "sensor"), from_ms, to_ms, "sensor"):
        if row.get("level_cm") is not None:
            yield DrainObservation(int(row["time"]), row["sensor"], float(row["level_cm"]))


def rain_observations(influx: InfluxClient, from_ms: int, to_ms: int
                      ) -> Iterator[RainObservation]:
    """`rain` readings in [from_ms, to_ms), in time order (then by gauge)."""
    for row in _hourly_rows(influx, "rain", ("rain_mm", "gauge"), from_ms, to_ms, "gauge"):
        if row.get("rain_mm") is not None:
            yield RainObservation(int(row["time"]), row["gauge"], float(row["rain_mm"]))


def _hourly_rows(influx: InfluxClient, measurement: str, columns: tuple[str, ...], from_ms: int,
                 to_ms: int, tag: str) -> Iterator[dict]:
    """Rows of `measurement` in [from_ms, to_ms), an hour per query, ordered by (time, tag)."""
    selected = ", ".join(influxql_ident(column) for column in columns)
    for start in range(from_ms, to_ms, CHUNK_MS):
        end = min(start + CHUNK_MS, to_ms)
        rows = influx.rows_chunked(f"SELECT {selected} FROM {influxql_ident(measurement)} "
                                   f"WHERE time >= {start}ms AND time < {end}ms")
        rows.sort(key=lambda row: (row["time"], row[tag]))
        yield from rows


__all__ = [
    "drain_alerts",
    "drain_observations",
    "drains_report_csv",
    "dredging_report_csv",
    "rain_observations",
]
