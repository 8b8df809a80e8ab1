"""Shared fixtures: real Mosquitto and influxd processes on free loopback ports under tmp dirs.

`mosquitto` and `influxd` are session-wide; `influx_db` gives each test its own database;
`settings_for(...)` builds a Settings pointing at all of them; `fresh_influxd()` starts a private
influxd a test may stop and restart. Missing binaries fail loudly: the Makefile installs them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from streetwatch.errors import ServiceError
from streetwatch.services.influxd import LocalInfluxd
from streetwatch.services.mosquitto import LocalMosquitto
from streetwatch.services.process import free_port, require_binary
from streetwatch.settings import INGEST_USER, RULES_USER, Settings, ingest_account

GATEWAYS = tuple(f"gw{n}" for n in range(1, 9))


@dataclass(frozen=True)
class BrokerFixture:
    """A running test broker and the passwords of INGEST_USER, RULES_USER and gw1..gw8.

    The broker ties client ids to accounts (use_username_as_clientid): two connections with one
    username are one client, the second knocks the first off. So every ingester of a test gets
    its own account (`new_ingest_account`), and its own persistent session with it."""

    host: str
    port: int
    state_dir: Path
    credentials: dict[str, str]
    server: LocalMosquitto

    def password(self, username: str) -> str:
        """The password of an account provisioned at start or later (`new_ingest_account`)."""
        return self.credentials.get(username) or self.server.credentials.get(username)

    def new_ingest_account(self, label: str = "t") -> str:
        """Provision `ingest.<label>-<random>@streetwatch` (ACL block written, broker reloaded)."""
        username = ingest_account(f"{label}-{uuid.uuid4().hex[:8]}")
        self.server.ensure_users([username])
        return username

    def url_for(self, username: str) -> str:
        """`mqtt://user:password@host:port` for a provisioned account."""
        return self.server.url_for(username)


@dataclass(frozen=True)
class InfluxFixture:
    """A running test influxd."""

    host: str
    port: int
    rpc_port: int
    url: str
    state_dir: Path
    server: LocalInfluxd


def _require(binary: str, package: str) -> None:
    try:
        require_binary(binary, package)
    except ServiceError as exc:
        pytest.fail(
            f"{exc} -- the integration tests need it (the Makefile installs it)", pytrace=False
        )


def _service_settings(state_dir: Path) -> Settings:
    return Settings(state_dir=state_dir)


def start_influxd(state_dir: Path) -> InfluxFixture:
    """Start an influxd on two free loopback ports with its data under `state_dir`."""
    settings = _service_settings(state_dir)
    _require(settings.influxd_bin, "influxdb")
    server = LocalInfluxd(state_dir, free_port(), free_port(), settings)
    server.start()
    return InfluxFixture(server.host, server.port, server.rpc_port, server.url, state_dir, server)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerFixture]:
    """Session broker with INGEST_USER, RULES_USER and gw1..gw8 provisioned before it starts."""
    state_dir = tmp_path_factory.mktemp("mosquitto-state")
    settings = _service_settings(state_dir)
    _require(settings.mosquitto_bin, "mosquitto")
    server = LocalMosquitto(state_dir, free_port(), settings)
    credentials = server.ensure_users([INGEST_USER, RULES_USER, *GATEWAYS])
    server.start()
    try:
        yield BrokerFixture(server.host, server.port, state_dir, credentials, server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxFixture]:
    """Session influxd; tests get their own database through `influx_db`."""
    running = start_influxd(tmp_path_factory.mktemp("influxd-state"))
    try:
        yield running
    finally:
        running.server.stop()


def influx_query(base_url: str, query: str) -> dict:
    """POST an InfluxQL statement to /query and return the JSON answer (raises on HTTP errors)."""
    response = httpx.post(f"{base_url}/query", data={"q": query}, timeout=10)
    response.raise_for_status()
    return response.json()


@pytest.fixture
def influx_db(influxd: InfluxFixture) -> Iterator[str]:
    """A uniquely named, freshly created database on the session influxd (dropped afterwards)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    influx_query(influxd.url, f'CREATE DATABASE "{name}"')
    yield name
    influx_query(influxd.url, f'DROP DATABASE "{name}"')


@pytest.fixture
def settings_for(
    mosquitto: BrokerFixture, influxd: InfluxFixture, influx_db: str, tmp_path: Path
) -> Callable[..., Settings]:
    """`settings_for(username=INGEST_USER, **overrides)`: Settings aimed at the test services."""

    def build(username: str = INGEST_USER, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "state_dir": tmp_path / "state",
            "mqtt_url": mosquitto.url_for(username),
            "influx_url": influxd.url,
            "influx_db": influx_db,
            "database_url": f"sqlite:///{tmp_path / 'streetwatch.db'}",
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return build


@pytest.fixture
def fresh_influxd(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., InfluxFixture]]:
    """Factory: `fresh_influxd(*databases)` starts a private influxd (to stop/restart) with those
    databases created; every one started is stopped after the test."""
    started: list[InfluxFixture] = []

    def start(*databases: str) -> InfluxFixture:
        running = start_influxd(tmp_path_factory.mktemp("fresh-influxd"))
        started.append(running)
        for name in databases:
            influx_query(running.url, f'CREATE DATABASE "{name}"')
        return running

    yield start
    for running in started:
        running.server.stop()
