"""Prometheus counters of the live rule runner (`/metrics`, `/healthz` on `rules_metrics_port`).

Read from the runner's own counters at scrape time (nothing added per message). `/healthz`
answers 503 when the runner's loop has not completed a step for `STUCK_AFTER_S` (or three ticks),
so compose and systemd restart it; the rebuild loses nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from rules.runner import RuleRunner

PREFIX = "streetwatch_rules"


class RuleMetrics:
    """A registry with one collector reading `runner` at scrape time."""

    def __init__(self, runner: RuleRunner) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_RunnerCollector(runner))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _RunnerCollector(Collector):
    def __init__(self, runner: RuleRunner) -> None:
        self.runner = runner

    def collect(self) -> Iterator[Metric]:
        r = self.runner
        counters = {
            "messages": ("MQTT messages taken (acked)", r.messages),
            "lamp_readings": ("lamp readings judged", r.lamp_readings),
            "drain_readings": ("drain readings judged", r.drain_readings),
            "rain_readings": ("rain readings taken", r.rain_readings),
            "failed_messages": ("messages the core failed on (logged, acked)", r.failed_messages),
            "ticks": ("ticks run", r.ticks),
            "rebuilds": ("rebuilds from the registry (the start's, then each structural change)",
                         r.rebuilds),
        }
        for name, (help_text, value) in counters.items():
            yield CounterMetricFamily(f"{PREFIX}_{name}", help_text, value=value)
        events = CounterMetricFamily(f"{PREFIX}_alert_events", "alert events, by event and kind",
                                     labels=["event", "kind"])
        for (event, kind), count in sorted(r.alert_events.items()):
            events.add_metric([event, kind], count)
        yield events
        core = r.core
        gauges = {
            "open_alerts": ("alerts the core holds open", len(core.book.open) if core else 0),
            "lamps": ("lamps in the fleet", len(core.fleet) if core else 0),
            "last_tick_timestamp_seconds": ("instant of the last tick", r.next_tick_done_s),
            "influx_pending_lines": ("derived points waiting for InfluxDB", len(r.pending_lines)),
            "connected": ("1 while connected to the broker", float(r.connected)),
            "healthy": ("1 while /healthz answers 200", float(r.health()[0])),
        }
        for name, (help_text, value) in gauges.items():
            yield GaugeMetricFamily(f"{PREFIX}_{name}", help_text, value=value)
