"""Where the drain reports' inputs come from: the registry and alerts (SQL), drain and rain
readings (InfluxDB). I/O adapter around rules/drain_reports.py (pure), which defines the figures.

Readings are read an hour at a time in time order (rules/sources.py, as replay reads them) and
streamed into the core, so a month of readings never sits in memory; rain (a few gauges) is read
whole. Alerts are narrowed to drain subjects and the report window in SQL.
"""

from __future__ import annotations

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
from rules.sources import stored_drains, stored_rain
from streetwatch.alerts.model import drain_subject
from streetwatch.influx import InfluxClient
from streetwatch.registry.models import Alert
from streetwatch.registry.store import load_drains, load_gauges, make_engine
from streetwatch.registry.timestamps import datetime_from_ms, ms_from_datetime
from streetwatch.settings import Settings

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
    rain = list(stored_rain(influx, rain_from, to_ms))
    readings = stored_drains(influx, readings_from, to_ms)
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
    rain = list(stored_rain(influx, rain_from, readings_to))
    readings = stored_drains(influx, readings_from, readings_to)
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


__all__ = [
    "drain_alerts",
    "drains_report_csv",
    "dredging_report_csv",
]
