"""Builds a running ingester from Settings (the composition root of `streetwatch ingest`).

Start-up order: settings checked, InfluxDB database ensured, device registry read once, metrics
endpoint up, then the MQTT session. A failure that no waiting can fix (bad settings, InfluxDB
refusing our credentials) raises IngestFatal with its exit code; everything else is waited out.
"""

from __future__ import annotations

import logging
import signal
import threading

from ingest.dead_letter import DeadLetterFile
from ingest.metrics import MetricsServer
from ingest.registry_cache import DeviceDirectory
from ingest.runner import IngestConfig, Ingester, IngestFatal, exit_code_for
from streetwatch.errors import ConfigError, InfluxAuthError, InfluxUnavailable
from streetwatch.influx import InfluxClient
from streetwatch.logs import log_event
from streetwatch.settings import (
    DEFAULT_INGEST_CLIENT_ID,
    INGEST_USER,
    MqttEndpoint,
    Settings,
    ingest_account,
)

log = logging.getLogger("streetwatch.ingest")


def ingest_endpoint(settings: Settings) -> MqttEndpoint:
    """The configured broker URL, or the local broker with the ingester's own account.

    The local broker ties client ids to accounts (use_username_as_clientid), so an ingester with
    a client id of its own (a share-group member) logs in as `ingest.<client id>@streetwatch`,
    provisioned here on first use."""
    if not settings.uses_local_mqtt:
        return settings.mqtt_endpoint()
    from streetwatch.services import local_mosquitto

    client_id = settings.ingest_client_id
    account = INGEST_USER if client_id == DEFAULT_INGEST_CLIENT_ID else ingest_account(client_id)
    broker = local_mosquitto(settings)
    password = broker.ensure_users([account])[account] if account != INGEST_USER \
        else broker.credentials.get(INGEST_USER)
    return settings.mqtt_endpoint(account, password)


def device_directory(settings: Settings) -> DeviceDirectory:
    from streetwatch.registry.store import load_device_index, make_engine

    engine = make_engine(settings.sql_url())
    return DeviceDirectory(lambda: load_device_index(engine), settings.ingest_registry_refresh_s)


def wait_for_database(influx: InfluxClient, stop: threading.Event) -> bool:
    """Create the InfluxDB database, waiting for the server if it is not up yet.

    401 is fatal (wrong credentials). 403 means the user may not create databases, which a
    write-only production user need not: go on, and let the first write tell whether it exists."""
    delay_s = 0.5
    while not stop.is_set():
        try:
            influx.create_database()
            return True
        except InfluxAuthError as exc:
            if exc.status != 403:
                raise
            log_event(log, "ingest.create_database_forbidden", logging.WARNING, error=str(exc)[:300],
                      hint="assuming the database exists; a write to a missing one is fatal")
            return True
        except InfluxUnavailable as exc:
            log_event(log, "ingest.influx_waiting", logging.WARNING, error=str(exc)[:300])
            stop.wait(delay_s)
            delay_s = min(delay_s * 2, 5.0)
    return False


def run_ingester(
    settings: Settings, stop: threading.Event | None = None, leave: bool = False
) -> None:
    """Run until SIGTERM/SIGINT (or `stop`), then flush, ack and disconnect. `leave`: take this
    member out of its share group for good, after storing what its session holds.

    Raises IngestFatal (with the process exit code) when the ingester cannot go on."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    try:
        config = IngestConfig.from_settings(settings, ingest_endpoint(settings), leave)
        with InfluxClient.from_settings(settings) as influx:
            if not wait_for_database(influx, stop):
                return
            devices = device_directory(settings)
            if not devices.wait_loaded(stop):
                return
            dead_letters = DeadLetterFile(settings.state_dir / "dead-letter")
            _run(Ingester(config, influx, devices, dead_letters), settings, stop)
    except (ConfigError, InfluxAuthError) as exc:
        code = exit_code_for(exc)
        log_event(log, "ingest.fatal", logging.CRITICAL, error_type=type(exc).__name__,
                  error=str(exc)[:500], exit_code=code)
        raise IngestFatal(str(exc), code) from exc


def _run(ingester: Ingester, settings: Settings, stop: threading.Event) -> None:
    server = None
    if settings.ingest_metrics_port:
        host, port = settings.ingest_metrics_host, settings.ingest_metrics_port
        try:
            server = MetricsServer(ingester, host, port).start()
        except OSError as exc:
            raise ConfigError(f"cannot serve /metrics on {host}:{port}: {exc}; set "
                              "STREETWATCH_INGEST_METRICS_PORT (0 turns it off)") from exc
        log_event(log, "ingest.metrics_listening", host=settings.ingest_metrics_host,
                  port=server.port)
    try:
        ingester.run(stop)
    finally:
        if server is not None:
            server.stop()
