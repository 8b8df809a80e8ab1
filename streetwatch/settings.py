"""The one settings object: env prefix STREETWATCH_, optional TOML file, secrets as SecretStr.

Nothing here runs at import: call `load_settings()` at the edge (CLI, test fixture) and pass the
result down. When `mqtt_url` / `influx_url` are unset, Streetwatch uses the local services it
starts itself under `state_dir` (the embedded default).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from streetwatch.errors import ConfigError

CONFIG_ENV = "STREETWATCH_CONFIG"
DEFAULT_INGEST_CLIENT_ID = "streetwatch-ingest"
DEFAULT_CONFIG_FILE = "streetwatch.toml"

# Service accounts contain '@', which is outside the gateway-id alphabet, so no gateway can be
# named like them and `pattern write streetwatch/%u/#` never lets them publish as a gateway.
INGEST_USER = "ingest@streetwatch"
RULES_USER = "rules@streetwatch"
# The broker ties each client id to its account (use_username_as_clientid), so every ingester of a
# share group (and every rule-engine replica) logs in as its own instance account:
# `ingest.<instance>@streetwatch`, `rules.<instance>@streetwatch`.
SERVICE_INSTANCE_PATTERN = r"[A-Za-z0-9_-]{1,48}"


def ingest_account(instance: str | None = None) -> str:
    """The broker account of ingester `instance`: INGEST_USER for None, else
    `ingest.<instance>@streetwatch`; ConfigError when `instance` is not SERVICE_INSTANCE_PATTERN."""
    return _service_account("ingest", instance)


def rules_account(instance: str | None = None) -> str:
    """The broker account of rule-engine `instance` (RULES_USER for None); see `ingest_account`."""
    return _service_account("rules", instance)


def _service_account(role: str, instance: str | None) -> str:
    if instance is None:
        return f"{role}@streetwatch"
    if not re.fullmatch(SERVICE_INSTANCE_PATTERN, instance):
        raise ConfigError(
            f"service instance {instance!r} must match {SERVICE_INSTANCE_PATTERN} (letters, "
            f"digits, '_', '-'; 1 to 48 characters): it names broker account {role}.<instance>"
            "@streetwatch"
        )
    return f"{role}.{instance}@streetwatch"


@dataclass(frozen=True)
class MqttEndpoint:
    """Where and as whom to connect to the broker; `password` is never printed."""

    host: str
    port: int
    username: str | None
    password: SecretStr | None
    tls: bool = False

    def display(self) -> str:
        user = f"{self.username}:***@" if self.username else ""
        scheme = "mqtts" if self.tls else "mqtt"
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """Parse `mqtt://user:pass@host:port` (or `mqtts://`) into an endpoint."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {parts.scheme!r}://")
    if not parts.hostname:
        raise ValueError("MQTT URL has no host")
    tls = parts.scheme in ("mqtts", "ssl")
    password = SecretStr(unquote(parts.password)) if parts.password is not None else None
    username = unquote(parts.username) if parts.username else None
    return MqttEndpoint(parts.hostname, parts.port or (8883 if tls else 1883), username, password, tls)


def redact_url(url: str) -> str:
    """Return `url` with any password replaced by `***`, for logs and `status` output."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class Settings(BaseSettings):
    """Every knob of every Streetwatch process."""

    model_config = SettingsConfigDict(env_prefix="STREETWATCH_", extra="ignore")

    state_dir: Path = Path(".streetwatch")

    # Connections. None means "the local service started by `streetwatch services up`".
    mqtt_url: SecretStr | None = None
    influx_url: str | None = None
    influx_db: str = "streetwatch"
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    database_url: SecretStr | None = None

    # Local services (embedded default), bound to 127.0.0.1.
    local_mqtt_port: int = 11883
    local_influx_port: int = 18086
    mosquitto_bin: str = "mosquitto"
    influxd_bin: str = "influxd"
    # Broker queue bound: the ingester survives an outage of max_queued_messages / message rate.
    broker_max_queued_messages: int = 2_000_000
    broker_max_inflight_messages: int = 10_000
    broker_autosave_interval_s: int = 10

    # Ingester. Each member of a share group needs its own client id (and, on a broker with
    # use_username_as_clientid, its own account): two clients with one id knock each other off.
    ingest_client_id: str = DEFAULT_INGEST_CLIENT_ID
    ingest_share_group: str | None = None
    ingest_batch_size: int = 2_000
    ingest_flush_interval_s: float = 0.2
    ingest_max_payload_bytes: int = 64 * 1024
    ingest_max_batch_bytes: int = 1024 * 1024
    ingest_max_future_s: float = 300.0
    ingest_max_age_s: float = 30 * 24 * 3600.0
    ingest_registry_refresh_s: float = 30.0
    ingest_keepalive_s: int = 30
    # Bytes the ingester holds (queued + being written): at the bound it stops reading QoS 1
    # messages (the broker keeps them) and refuses QoS 0 ones as `overload_qos0`.
    ingest_max_queue_bytes: int = 256 * 1024 * 1024
    # Prometheus /metrics and /healthz; port 0 turns the endpoint off.
    ingest_metrics_host: str = "127.0.0.1"
    ingest_metrics_port: int = 9641
    # /healthz fails once the oldest unacknowledged message is older than this (writer stuck).
    ingest_stuck_after_s: float = 300.0

    # InfluxDB client.
    influx_timeout_s: float = 10.0
    influx_retries: int = 3

    # Logging.
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    # Derived values -------------------------------------------------------------------------
    @property
    def uses_local_mqtt(self) -> bool:
        return self.mqtt_url is None

    @property
    def uses_local_influx(self) -> bool:
        return self.influx_url is None

    def influx_base_url(self) -> str:
        return self.influx_url or f"http://127.0.0.1:{self.local_influx_port}"

    def sql_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.state_dir / 'streetwatch.db').resolve()}"

    def mqtt_endpoint(self, username: str | None = None, password: str | None = None) -> MqttEndpoint:
        """Broker endpoint; explicit credentials override those in the URL."""
        if self.mqtt_url is not None:
            ep = parse_mqtt_url(self.mqtt_url.get_secret_value())
        else:
            ep = MqttEndpoint("127.0.0.1", self.local_mqtt_port, None, None)
        if username is not None:
            ep = MqttEndpoint(ep.host, ep.port, username, SecretStr(password or ""), ep.tls)
        return ep


def _config_file() -> Path | None:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"{CONFIG_ENV} names {path}, which does not exist")
        return path
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_settings(**overrides: object) -> Settings:
    """Build settings from (in order of precedence) overrides, environment, TOML file, defaults."""
    return Settings(**overrides)  # type: ignore[arg-type]


__all__ = [
    "INGEST_USER",
    "RULES_USER",
    "SERVICE_INSTANCE_PATTERN",
    "MqttEndpoint",
    "Settings",
    "ingest_account",
    "load_settings",
    "parse_mqtt_url",
    "redact_url",
    "rules_account",
]
