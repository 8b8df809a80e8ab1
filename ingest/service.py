"""Builds a running ingester from Settings (the composition root of `streetwatch ingest`)."""

from __future__ import annotations

import logging
import signal
import threading

from ingest.dead_letter import DeadLetterFile
from ingest.registry_cache import DeviceDirectory
from ingest.runner import IngestConfig, Ingester
from streetwatch.errors import InfluxUnavailable
from streetwatch.influx import InfluxClient
from streetwatch.logs import log_event
from streetwatch.settings import INGEST_USER, MqttEndpoint, Settings

log = logging.getLogger("streetwatch.ingest")


def ingest_endpoint(settings: Settings) -> MqttEndpoint:
    """The configured broker URL, or the local broker with the ingester's generated password."""
    if not settings.uses_local_mqtt:
        return settings.mqtt_endpoint()
    from streetwatch.services import local_mosquitto

    password = local_mosquitto(settings).credentials.get(INGEST_USER)
    return settings.mqtt_endpoint(INGEST_USER, password)


def device_directory(settings: Settings) -> DeviceDirectory:
    from streetwatch.registry.store import load_device_index, make_engine

    engine = make_engine(settings.sql_url())
    return DeviceDirectory(lambda: load_device_index(engine), settings.ingest_registry_refresh_s)


def wait_for_database(influx: InfluxClient, stop: threading.Event) -> bool:
    """Create the InfluxDB database, waiting for the server if it is not up yet."""
    delay_s = 0.5
    while not stop.is_set():
        try:
            influx.create_database()
            return True
        except InfluxUnavailable as exc:
            log_event(log, "ingest.influx_waiting", logging.WARNING, error=str(exc)[:300])
            stop.wait(delay_s)
            delay_s = min(delay_s * 2, 5.0)
    return False


def run_ingester(settings: Settings, stop: threading.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop`), then flush, ack and disconnect."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    with InfluxClient.from_settings(settings) as influx:
        if not wait_for_database(influx, stop):
            return
        ingester = Ingester(
            IngestConfig.from_settings(settings, ingest_endpoint(settings)),
            influx,
            device_directory(settings),
            DeadLetterFile(settings.state_dir / "dead-letter"),
        )
        ingester.run(stop)
