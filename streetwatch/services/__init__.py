"""Local services: the Mosquitto broker and influxd that `streetwatch services up` runs.

When `STREETWATCH_MQTT_URL` / `STREETWATCH_INFLUX_URL` are unset, Streetwatch starts its own
Mosquitto and influxd on 127.0.0.1 with their files under `settings.state_dir`; when set, that
service is external and is never started or stopped here. This package holds the facade used by
the CLI and tests (`services_up/down/status`, `ensure_gateways`, `mqtt_url_for`), the two service
classes (`mosquitto.py`, `influxd.py`), broker accounts (`credentials.py`) and the daemon plumbing
(`process.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from streetwatch.errors import ConfigError
from streetwatch.services.credentials import service_role, validate_gateway_id
from streetwatch.services.influxd import LocalInfluxd
from streetwatch.services.mosquitto import LocalMosquitto
from streetwatch.services.process import port_is_open
from streetwatch.settings import INGEST_USER, RULES_USER, Settings, parse_mqtt_url, redact_url

# Offset of influxd's RPC port from its HTTP port (8086 -> 8088 upstream).
INFLUX_RPC_PORT_OFFSET = 2


@dataclass(frozen=True)
class ServiceStatus:
    """One service as `status` reports it; `url` never contains a password."""

    name: str
    url: str
    external: bool
    running: bool
    pid: int | None = None
    started: bool = False  # True when this very call started it

    def describe(self) -> str:
        """One line: name, local/external, URL, state (e.g. `running (pid 7), started`)."""
        where = "external" if self.external else "local"
        if self.external:
            state = "reachable" if self.running else "NOT reachable"
        elif not self.running:
            state = "stopped"
        else:
            state = f"running (pid {self.pid})" + (", started" if self.started else "")
        return f"{self.name:<9} {where:<9} {self.url:<32} {state}"


@dataclass(frozen=True)
class ServicesStatus:
    """The broker and the time-series store, as configured and as found."""

    mqtt: ServiceStatus
    influx: ServiceStatus

    def lines(self) -> list[str]:
        return [self.mqtt.describe(), self.influx.describe()]


def local_mosquitto(settings: Settings) -> LocalMosquitto:
    """The local broker the settings describe (not started)."""
    return LocalMosquitto(settings.state_dir, settings.local_mqtt_port, settings)


def local_influxd(settings: Settings, rpc_port: int | None = None) -> LocalInfluxd:
    """The local influxd the settings describe (not started); RPC on HTTP port + 2 by default."""
    rpc = rpc_port if rpc_port is not None else settings.local_influx_port + INFLUX_RPC_PORT_OFFSET
    return LocalInfluxd(settings.state_dir, settings.local_influx_port, rpc, settings)


def services_up(
    settings: Settings, gateways: Iterable[str] = (), influx_rpc_port: int | None = None
) -> ServicesStatus:
    """Start the local services that are not external (idempotent); provision gateway accounts."""
    gateway_ids = [validate_gateway_id(gid) for gid in gateways]
    mqtt_started = influx_started = False
    if settings.uses_local_mqtt:
        broker = local_mosquitto(settings)
        broker.ensure_users([INGEST_USER, RULES_USER, *gateway_ids])
        mqtt_started = broker.start()
    elif gateway_ids:
        raise _external_broker_error()
    if settings.uses_local_influx:
        influx_started = local_influxd(settings, influx_rpc_port).start()
    return _status(settings, mqtt_started, influx_started)


def services_down(settings: Settings) -> ServicesStatus:
    """Stop the local services (external ones are left alone); harmless when already stopped."""
    if settings.uses_local_mqtt:
        local_mosquitto(settings).stop()
    if settings.uses_local_influx:
        local_influxd(settings).stop()
    return _status(settings)


def services_status(settings: Settings) -> ServicesStatus:
    """Which URLs are in use (passwords redacted), which are external, which are running."""
    return _status(settings)


def ensure_gateways(settings: Settings, gateway_ids: Iterable[str]) -> dict[str, str]:
    """Provision broker accounts for gateways on the local broker (reloaded if running)."""
    if not settings.uses_local_mqtt:
        raise _external_broker_error()
    ids = [validate_gateway_id(gid) for gid in gateway_ids]
    return local_mosquitto(settings).ensure_users(ids)


def ensure_service_accounts(settings: Settings, usernames: Iterable[str]) -> dict[str, str]:
    """Provision service accounts (e.g. `ingest_account(instance)`) on the local broker: password,
    ACL block, reload if running. Each share-group member needs its own, because the broker uses
    the username as client id. Returns their passwords."""
    if not settings.uses_local_mqtt:
        raise _external_broker_error()
    names = list(usernames)
    for name in names:
        if service_role(name) is None:
            raise ConfigError(f"{name!r} is not a service account (ingest[.<instance>]@streetwatch "
                              "or rules[.<instance>]@streetwatch)")
    return local_mosquitto(settings).ensure_users(names)


def mqtt_url_for(settings: Settings, username: str) -> str:
    """Broker URL with credentials: the configured one, or `username` on the local broker."""
    if settings.mqtt_url is not None:
        return settings.mqtt_url.get_secret_value()
    return local_mosquitto(settings).url_for(username)


def _status(
    settings: Settings, mqtt_started: bool = False, influx_started: bool = False
) -> ServicesStatus:
    return ServicesStatus(
        _mqtt_status(settings, mqtt_started), _influx_status(settings, influx_started)
    )


def _mqtt_status(settings: Settings, started: bool) -> ServiceStatus:
    if settings.mqtt_url is not None:
        url = settings.mqtt_url.get_secret_value()
        try:
            endpoint = parse_mqtt_url(url)
        except ValueError as exc:
            raise ConfigError(f"STREETWATCH_MQTT_URL is not usable: {exc}") from exc
        reachable = port_is_open(endpoint.host, endpoint.port)
        return ServiceStatus("mqtt", redact_url(url), external=True, running=reachable)
    broker = local_mosquitto(settings)
    url = f"mqtt://{broker.host}:{broker.port}"
    running = broker.is_running()
    return ServiceStatus("mqtt", url, False, running, broker.pid() if running else None, started)


def _influx_status(settings: Settings, started: bool) -> ServiceStatus:
    url = settings.influx_base_url()
    if settings.influx_url is not None:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        reachable = port_is_open(parts.hostname or "", port)
        return ServiceStatus("influxdb", redact_url(url), external=True, running=reachable)
    server = local_influxd(settings)
    running = server.is_running()
    return ServiceStatus(
        "influxdb", url, False, running, server.pid() if running else None, started
    )


def _external_broker_error() -> ConfigError:
    return ConfigError(
        "STREETWATCH_MQTT_URL points at an external broker: gateway and service accounts there "
        "are managed by that broker's operator, not by `streetwatch services`"
    )


__all__ = [
    "ServiceStatus",
    "ServicesStatus",
    "ensure_gateways",
    "ensure_service_accounts",
    "local_influxd",
    "local_mosquitto",
    "mqtt_url_for",
    "services_down",
    "services_status",
    "services_up",
]
