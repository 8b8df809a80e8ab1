"""Fixtures for tests that run the ingester process against the session's real services."""

from __future__ import annotations

import uuid

import pytest
from processes import IngesterProcess, env_for, start_simulator, write_passwords

from streetwatch.influx import InfluxClient


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
