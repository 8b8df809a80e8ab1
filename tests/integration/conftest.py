"""Fixtures for tests that run the ingester process against the session's real services."""

from __future__ import annotations

import uuid

import pytest

from streetwatch.influx import InfluxClient

from processes import IngesterProcess, env_for, start_simulator, write_passwords


@pytest.fixture
def e2e(settings_for, mosquitto, tmp_path):
    """Settings, env, InfluxDB client and gateway password file for one end-to-end run."""

    class Run:
        settings = settings_for(ingest_client_id=f"ingest-{uuid.uuid4().hex[:8]}",
                                ingest_flush_interval_s=0.1)
        env = env_for(settings)
        passwords = write_passwords(tmp_path / "passwords.json", mosquitto.credentials,
                                    [f"gw{n}" for n in range(1, 9)])
        influx = InfluxClient(settings.influx_base_url(), settings.influx_db)
        ingester = IngesterProcess(env, tmp_path / "ingest.log")

        def simulate(self, *args: str):
            summary = tmp_path / f"summary-{uuid.uuid4().hex[:6]}.json"
            return start_simulator(self.env, self.passwords, summary, *args), summary

    run = Run()
    yield run
    run.ingester.stop()
    run.influx.close()


@pytest.fixture
def private_broker(tmp_path_factory):
    """A Mosquitto of this test's own (gw1..gw4 and the ingester provisioned), free to restart."""
    from streetwatch.services.mosquitto import LocalMosquitto
    from streetwatch.services.process import free_port
    from streetwatch.settings import INGEST_USER, Settings

    state_dir = tmp_path_factory.mktemp("private-broker")
    server = LocalMosquitto(state_dir, free_port(), Settings(state_dir=state_dir))
    credentials = server.ensure_users([INGEST_USER, "gw1", "gw2", "gw3", "gw4"])
    server.start()
    yield server, credentials
    server.stop()
