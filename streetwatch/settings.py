"""The one settings object: env prefix STREETWATCH_, optional TOML file, secrets as SecretStr.

Nothing here runs at import: call `load_settings()` at the edge (CLI, test fixture) and pass the
result down. When `mqtt_url` / `influx_url` are unset, Streetwatch uses the local services it
starts itself under `state_dir` (the embedded default).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError

from streetwatch.alerts.model import ALERT_KINDS, SEVERITIES
from streetwatch.errors import ConfigError
from streetwatch.fixed_schedule import parse_fixed_schedule
from streetwatch.schemas import ID_PATTERN

CONFIG_ENV = "STREETWATCH_CONFIG"
DEFAULT_INGEST_CLIENT_ID = "streetwatch-ingest"
DEFAULT_CONFIG_FILE = "streetwatch.toml"
SCORE_PARTS = ("lighting", "on_time", "overdue", "repair", "citizen", "patrol")  # api/scores.py

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


Seconds = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(gt=0.0, le=1.0)]


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
    # Retention (`streetwatch db upgrade`, streetwatch/influx_retention.py), 0 = keep for ever:
    # raw points (the default policy) for 400 days, so last year's month can still be reported;
    # the hourly means of lamp, drain, rain and lighting_rate for ten years.
    influx_raw_retention_days: int = Field(400, ge=0, le=100 * 365)
    influx_hourly_retention_days: int = Field(3650, ge=0, le=100 * 365)
    # False: db upgrade leaves InfluxDB's policies alone (servers without InfluxQL retention
    # policies and continuous queries: InfluxDB 2.x and 3.x behind their v1 API).
    influx_manage_retention: bool = True

    # Logging.
    log_level: str = "INFO"

    # Rules: where the town is and when lamps must be lit (DESIGN s.5). Dusk and dawn are civil
    # twilight at these coordinates in this IANA zone; a zone in `zone_schedules` uses fixed
    # local times "HH:MM-HH:MM" instead. The grace is taken off each end of the lights-on period.
    town_latitude: float = Field(31.2304, ge=-90.0, le=90.0)
    town_longitude: float = Field(121.4737, ge=-180.0, le=180.0)
    town_timezone: str = "Asia/Shanghai"
    lights_on_grace_s: int = Field(900, ge=0, le=3 * 3600)
    zone_schedules: dict[str, str] = {}

    # Lighting rate: target per zone (default for all), in (0, 1].
    lighting_target: Fraction = 0.99
    zone_targets: dict[str, Fraction] = {}

    # Lamp alerts: how long a condition holds before it is raised (and cleared).
    stale_after_s: Seconds = 900
    lamp_out_after_s: Seconds = 600
    day_burner_after_s: Seconds = 1800
    cycling_changes: int = Field(4, ge=2)
    cycling_window_s: Seconds = 1800
    lamp_silent_after_s: Seconds = 1800
    cabinet_down_fraction: Fraction = 0.5
    zone_below_target_after_s: Seconds = 900
    zone_below_target_clear_s: Seconds = 900

    # Drains (issue 15): a zone is wet while rain over the last `wet_window_s` on any of its gauges
    # reaches `wet_threshold_mm`, and for `wet_drain_out_s` after. A drain's dry-weather band per
    # hour of day is its median +- `baseline_band_k` scaled MADs (at least `baseline_min_halfwidth_cm`)
    # over the dry days of the last `baseline_window_days`, from at least `baseline_min_samples`.
    wet_window_s: Seconds = 21600
    wet_threshold_mm: float = Field(2.0, gt=0, le=1000)
    wet_drain_out_s: Seconds = 21600
    baseline_window_days: int = Field(14, ge=1, le=365)
    baseline_band_k: float = Field(3.0, gt=0, le=20)
    baseline_min_halfwidth_cm: float = Field(2.0, ge=0, le=1000)
    baseline_min_samples: int = Field(6, ge=1, le=10_000)
    # Drain rules (docs/alerts.md has each kind's reasoning).
    blockage_hold_s: Seconds = 3600
    blockage_rise_cm_per_h: float = Field(4.0, gt=0, le=1000)
    overflow_margin_fraction: float = Field(0.10, ge=0, le=1)
    overflow_horizon_s: Seconds = 1800
    drain_silent_after_s: Seconds = 3600
    stuck_after_s: Seconds = 10800
    stuck_tolerance_cm: float = Field(0.1, ge=0, le=100)
    neighbour_move_cm: float = Field(2.0, gt=0, le=1000)
    max_rise_cm_per_min: float = Field(10.0, gt=0, le=10_000)
    low_battery_v: float = Field(3.3, ge=0, le=60)
    surge_fraction: float = Field(0.5, ge=0, lt=1)

    # Alert deadlines per severity (red is the most urgent), and per-kind overrides.
    deadline_red_s: Seconds = 86400
    deadline_yellow_s: Seconds = 259200
    deadline_blue_s: Seconds = 604800
    alert_severity_overrides: dict[str, str] = {}
    alert_deadline_overrides_s: dict[str, Seconds] = {}

    # Rule runner: tick period, webhook URLs (may hold tokens: SecretStr, never logged), and the
    # Prometheus /metrics port (0 turns it off).
    rules_every_s: Seconds = 60
    # How often the runner looks whether the registry changed (then it rebuilds itself).
    rules_registry_check_s: Seconds = 30
    alert_webhooks: list[SecretStr] = []
    rules_metrics_port: int = Field(9642, ge=0, le=65535)

    # HTTP API (`streetwatch api`)
    api_host: str = "127.0.0.1"
    api_port: int = Field(8080, ge=0, le=65535)
    api_workers: int = Field(1, ge=1, le=64)  # processes (citizen limits are shared, in SQL)
    api_threads: int = Field(2, ge=1, le=256)  # per process, for blocking SQL and InfluxDB calls
    # Proxies trusted to name the client (X-Forwarded-For): comma-separated addresses or
    # networks, `*` for any. A citizen's limits count the client's address, so a load balancer
    # in front of the API must be listed here, or every citizen would share its address.
    api_forwarded_allow_ips: str = Field("127.0.0.1", max_length=2000)
    # Citizen reports (`POST /api/v1/reports`, no key): per client address, a report is at most
    # this many bytes, at most this many an hour, and is linked to a device this close.
    api_report_max_bytes: int = Field(8 * 1024, ge=256, le=1024 * 1024)
    api_reports_per_hour: int = Field(10, ge=1, le=100_000)
    api_report_link_m: float = Field(30.0, gt=0, le=10_000)

    # Monthly zone scores and the rectification list (api/scores.py says how they are computed)
    score_weights: dict[str, float] = {"lighting": 40.0, "on_time": 30.0, "overdue": 10.0,
                                       "repair": 10.0, "citizen": 10.0, "patrol": 10.0}
    score_lighting_floor: float = Field(0.9, ge=0, lt=1)
    score_overdue_penalty: float = Field(0.2, ge=0, le=1)
    score_repair_target_h: float = Field(24.0, gt=0, le=24 * 365)
    rectification_card_months: int = Field(2, ge=1, le=12)
    rectification_card_severity: Literal["red", "yellow", "blue"] = "red"
    score_patrols_per_week: float = Field(3.0, gt=0, le=100)  # the `patrol` part's target

    # Crew console (`/console`, docs/console.md): a sign-in lasts `console_session_s` (a shift);
    # the open page asks for new alerts every `console_poll_s`; a place's map link is
    # `console_map_url` with {lat} and {lon}; lamps repaired in the last `console_repaired_days`
    # are on a patrol's route.
    console_session_s: int = Field(12 * 3600, ge=300, le=7 * 86400)
    console_poll_s: int = Field(5, ge=1, le=300)
    console_map_url: str = "https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=19/{lat}/{lon}"
    console_repaired_days: int = Field(7, ge=0, le=365)

    # Grafana (`streetwatch dashboards push`): where it is, a service-account token with the
    # Editor role (or admin: creating the datasource needs it), the folder that holds the boards.
    grafana_url: str = "http://127.0.0.1:3000"
    grafana_token: SecretStr | None = None
    grafana_folder: str = "Streetwatch"
    # The campaign's target date (the town overview counts the days left to it); None: no campaign.
    campaign_target_date: date | None = None

    @field_validator("score_weights")
    @classmethod
    def _score_parts(cls, weights: dict[str, float]) -> dict[str, float]:
        for part, weight in weights.items():
            if part not in SCORE_PARTS:
                raise ValueError(f"{part!r} is not a score part (one of {', '.join(SCORE_PARTS)})")
            if not 0 <= weight <= 1000:
                raise ValueError(f"score weight {part}={weight} must be within 0-1000")
        return weights

    @field_validator("console_map_url")
    @classmethod
    def _map_url(cls, url: str) -> str:
        try:
            example = url.format(lat=31.2304, lon=121.4737)
        except (KeyError, IndexError, ValueError):
            raise ValueError("console_map_url may hold {lat} and {lon} and no other {field}"
                             ) from None
        has_both = "{lat}" in url and "{lon}" in url
        if not has_both or urlsplit(example).scheme not in ("http", "https", "geo"):
            raise ValueError("console_map_url must be an http(s):// or geo: URL with {lat} "
                             "and {lon}")
        return url

    @field_validator("town_timezone")
    @classmethod
    def _iana_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not an IANA time zone name (e.g. 'Asia/Shanghai', "
                             "'Europe/Berlin')") from None
        return name

    @field_validator("zone_schedules")
    @classmethod
    def _fixed_schedules(cls, schedules: dict[str, str]) -> dict[str, str]:
        for zone, text in schedules.items():
            _check_zone(zone)
            try:
                parse_fixed_schedule(text)
            except ValueError as exc:
                raise ValueError(f"zone {zone!r}: {exc}") from None
        return schedules

    @field_validator("zone_targets")
    @classmethod
    def _zone_keys(cls, targets: dict[str, float]) -> dict[str, float]:
        for zone in targets:
            _check_zone(zone)
        return targets

    @field_validator("alert_severity_overrides")
    @classmethod
    def _severities(cls, overrides: dict[str, str]) -> dict[str, str]:
        for kind, severity in overrides.items():
            _check_kind(kind)
            if severity not in SEVERITIES:
                raise ValueError(f"kind {kind!r}: severity {severity!r} is not one of "
                                 f"{', '.join(SEVERITIES)}")
        return overrides

    @field_validator("alert_deadline_overrides_s")
    @classmethod
    def _deadline_kinds(cls, overrides: dict[str, int]) -> dict[str, int]:
        for kind in overrides:
            _check_kind(kind)
        return overrides

    @field_validator("alert_webhooks")
    @classmethod
    def _webhook_urls(cls, urls: list[SecretStr]) -> list[SecretStr]:
        for index, url in enumerate(urls):
            parts = urlsplit(url.get_secret_value())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"entry {index} must be an http:// or https:// URL with a host "
                                 "(its value is not shown: it may hold a token)")
        return urls

    @model_validator(mode="after")
    def _deadlines_by_urgency(self) -> Settings:
        if not self.deadline_red_s <= self.deadline_yellow_s <= self.deadline_blue_s:
            raise ValueError("deadlines must follow urgency: deadline_red_s <= deadline_yellow_s "
                             f"<= deadline_blue_s (got {self.deadline_red_s}, "
                             f"{self.deadline_yellow_s}, {self.deadline_blue_s})")
        return self

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

    def zone_target(self, zone: str) -> Fraction:
        """The zone's lighting-rate target (`zone_targets`, else `lighting_target`)."""
        return self.zone_targets.get(zone, self.lighting_target)

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


def _check_zone(zone: str) -> None:
    if not re.fullmatch(ID_PATTERN, zone):
        raise ValueError(f"zone {zone!r} is not a zone id ({ID_PATTERN})")


def _check_kind(kind: str) -> None:
    if kind not in ALERT_KINDS:
        raise ValueError(f"{kind!r} is not an alert kind (one of {', '.join(ALERT_KINDS)})")


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
    """Build settings from (in order of precedence) overrides, environment, TOML file, defaults.

    Invalid values raise ConfigError naming each setting, its variable and what is wrong; the
    values themselves are left out of the message (a webhook URL or a password may be one)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc)) from None
    except SettingsError as exc:
        raise ConfigError(f"{exc} (dict and list settings from the environment are JSON, e.g. "
                          """STREETWATCH_ZONE_TARGETS='{"Z01": 0.98}')""") from None


def describe_errors(exc: ValidationError) -> str:
    """One line per invalid setting: `name (STREETWATCH_NAME): problem`, without input values."""
    lines = ["invalid settings:"]
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(part) for part in error["loc"]]
        name = loc[0] if loc else "settings"
        where = f"{name} (STREETWATCH_{name.upper()})" if loc else name
        detail = f" [{'.'.join(loc[1:])}]" if len(loc) > 1 else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"  {where}{detail}: {message}")
    return "\n".join(lines)


__all__ = [
    "INGEST_USER",
    "RULES_USER",
    "SERVICE_INSTANCE_PATTERN",
    "MqttEndpoint",
    "Settings",
    "describe_errors",
    "ingest_account",
    "load_settings",
    "parse_mqtt_url",
    "redact_url",
    "rules_account",
]
