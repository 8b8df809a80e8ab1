"""Fixtures for tests that run the ingester process against the session's real services, and the
SQL databases (a SQLite file, the PostgreSQL server at 127.0.0.1:5432) for registry and alerts."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from streetwatch.influx import InfluxClient
from streetwatch.registry.migrate import upgrade
from streetwatch.settings import RULES_USER

from api_world import api_world
from processes import (
    IngesterProcess,
    clear_retained_status,
    drop_session,
    env_for,
    start_simulator,
    write_passwords,
)

GATEWAYS = [f"gw{n}" for n in range(1, 9)]
# Set to another server, or to a closed port to see the PostgreSQL tests skip cleanly.
POSTGRES_URL = os.environ.get(
    "STREETWATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


# SQL databases -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on the test server, or a skip saying why the server cannot be used."""
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except Exception as exc:  # noqa: BLE001 - any failure means "no server to test against"
        engine.dispose()
        first_line = str(exc).strip().splitlines()[0]
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {first_line}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin: Engine) -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped (with its tables) after the test."""
    schema = f"sw_test_{uuid.uuid4().hex[:12]}"
    with postgres_admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with postgres_admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a SQLite file (in a folder that does not exist yet) and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'registry.db'}"
    return request.getfixturevalue("postgres_url")


# The HTTP API ------------------------------------------------------------------------------------
@pytest.fixture
def api(settings_for, tmp_path):
    """The API on a SQLite file and a fresh InfluxDB database (see tests/api_world.py)."""
    with api_world(settings_for(RULES_USER)) as world:
        yield world


@pytest.fixture
def api_on(settings_for, sql_url):
    """The API on each SQL backend (`sql_url`: SQLite, and PostgreSQL where reachable)."""
    with api_world(settings_for(RULES_USER, database_url=sql_url)) as world:
        yield world


# Ingester runs -----------------------------------------------------------------------------------
@pytest.fixture
def e2e(settings_for, mosquitto, tmp_path):
    """Settings, env, InfluxDB client and gateway password file for one end-to-end run.

    The ingester logs in as an account of its own (`ingest.e2e-<hex>@streetwatch`): the broker
    uses the username as client id, so a shared account would mean a shared persistent session,
    and tests would see each other's messages. Retained gateway status left by earlier tests is
    cleared, so the ingester receives only this test's messages. The registry schema exists
    before the ingester starts (it consumes nothing until it has read the registry once).
    Afterwards the account's session is dropped: the broker stops queueing for it."""
    account = mosquitto.new_ingest_account("e2e")

    class Run:
        username = account  # the ingester's broker account (and client id)
        settings = settings_for(account, ingest_client_id=f"ingest-{uuid.uuid4().hex[:8]}",
                                ingest_flush_interval_s=0.1)
        env = env_for(settings)
        passwords = write_passwords(tmp_path / "passwords.json", mosquitto.credentials, GATEWAYS)
        influx = InfluxClient(settings.influx_base_url(), settings.influx_db)
        ingester = IngesterProcess(env, tmp_path / "ingest.log")

        def simulate(self, *args: str):
            summary = tmp_path / f"summary-{uuid.uuid4().hex[:6]}.json"
            return start_simulator(self.env, self.passwords, summary, *args), summary

    run = Run()
    clear_retained_status(mosquitto, GATEWAYS)
    upgrade(run.settings.sql_url())
    yield run
    run.ingester.stop()
    run.influx.close()
    drop_session(mosquitto.host, mosquitto.port, account, mosquitto.password(account))


@pytest.fixture
def private_broker(tmp_path_factory):
    """A Mosquitto of this test's own (gw1..gw4 and the ingester provisioned), free to restart.

    One ingester only: it logs in as INGEST_USER, and a second connection with that account would
    take over its session (client id == username)."""
    from streetwatch.services.mosquitto import LocalMosquitto
    from streetwatch.services.process import free_port
    from streetwatch.settings import INGEST_USER, Settings

    state_dir = tmp_path_factory.mktemp("private-broker")
    server = LocalMosquitto(state_dir, free_port(), Settings(state_dir=state_dir))
    credentials = server.ensure_users([INGEST_USER, "gw1", "gw2", "gw3", "gw4"])
    server.start()
    yield server, credentials
    server.stop()
