"""Composition of the live rule runner: settings -> registry, alert store, InfluxDB, broker."""

from __future__ import annotations

import logging
import signal
import threading

import httpx

from rules.metrics import RuleMetrics
from rules.runner import RuleRunner, RunnerConfig
from rules.sources import SqlRegistry
from rules.webhooks import WebhookCourier
from streetwatch.alerts.store import AlertStore
from streetwatch.errors import InfluxAuthError
from streetwatch.influx import InfluxClient
from streetwatch.logs import log_event
from streetwatch.metrics_http import MetricsHttpServer
from streetwatch.registry.migrate import upgrade
from streetwatch.registry.store import make_engine
from streetwatch.settings import RULES_USER, MqttEndpoint, Settings

log = logging.getLogger("streetwatch.rules")


def rules_endpoint(settings: Settings) -> MqttEndpoint:
    """The configured broker URL, or the local broker as `rules@streetwatch`."""
    if not settings.uses_local_mqtt:
        return settings.mqtt_endpoint()
    from streetwatch.services import local_mosquitto

    broker = local_mosquitto(settings)
    return settings.mqtt_endpoint(RULES_USER, broker.credentials.get(RULES_USER))


def run_rules(settings: Settings, every_s: int, warm_up_s: int,
              stop: threading.Event | None = None) -> None:
    """Rebuild, then run until SIGTERM/SIGINT (or `stop`)."""
    stop = stop or _stop_on_signals()
    sql_url = settings.sql_url()
    upgrade(sql_url)
    sql = make_engine(sql_url)
    store = AlertStore(sql, [hook.get_secret_value() for hook in settings.alert_webhooks])
    endpoint = rules_endpoint(settings)
    with InfluxClient.from_settings(settings) as influx, httpx.Client(timeout=10) as http:
        _ensure_database(influx)
        runner = RuleRunner(settings, RunnerConfig(endpoint, endpoint.username or "streetwatch-rules",
                                                   every_s * 1000, warm_up_s * 1000),
                            store, influx, dict, registry=SqlRegistry(sql))
        metrics = _start_metrics(settings, runner)
        runner.connect()  # first, so what the rebuild decides is published as it happens
        runner.rebuild_from_registry()
        courier = threading.Thread(target=WebhookCourier(store, http).run, args=(stop,),
                                   name="webhooks", daemon=True)
        courier.start()
        try:
            runner.run(stop)
        finally:
            if metrics is not None:
                metrics.stop()
        courier.join(timeout=5)
    sql.dispose()
    log_event(log, "rules.stopped")


def _start_metrics(settings: Settings, runner: RuleRunner) -> MetricsHttpServer | None:
    """`/metrics` and `/healthz` on `rules_metrics_port` (0: off), on the ingester's host setting."""
    if not settings.rules_metrics_port:
        return None
    metrics = RuleMetrics(runner)
    server = MetricsHttpServer(settings.ingest_metrics_host, settings.rules_metrics_port,
                               metrics.exposition, runner.health, "rules-metrics").start()
    log_event(log, "rules.metrics", url=f"http://{settings.ingest_metrics_host}:{server.port}")
    return server


def _ensure_database(influx: InfluxClient) -> None:
    try:
        influx.create_database()
    except InfluxAuthError as exc:
        if exc.status != 403:
            raise


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop
