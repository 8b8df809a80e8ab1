"""The InfluxDB answers a real influxd gives, through the adapter and through the ingester process.

A private influxd runs with authentication on, so it can answer 401 (a rotated password) and 403
(a user without the right); 400 (field type conflict) and 404 (no database) need no auth. The
answers a real influxd 1.6 cannot give (408, 429, 5xx, Retry-After) are unit-tested in
tests/unit/test_writer.py with an httpx.MockTransport.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from ingest.dead_letter import read_dead_letters
from ingest.runner import EXIT_CONFIG
from streetwatch.errors import InfluxAuthError, InfluxRejected
from streetwatch.influx import InfluxClient
from streetwatch.registry.migrate import upgrade
from streetwatch.services.influxd import LocalInfluxd, render_influxd_conf
from streetwatch.services.process import free_port, write_atomically
from streetwatch.settings import Settings

from processes import publish_as, wait_for

ADMIN, ADMIN_PASSWORD = "admin", "admin-secret"
INGEST, INGEST_PASSWORD = "ingest", "first-password"


class AuthInfluxd(LocalInfluxd):
    """The project's local influxd with `auth-enabled = true` (a test-only variant)."""

    def write_files(self) -> None:
        super().write_files()
        conf = render_influxd_conf(self.paths, self.port, self.rpc_port)
        write_atomically(self.paths.conf, conf.replace("auth-enabled = false", "auth-enabled = true"))


def admin_query(url: str, statement: str) -> dict:
    response = httpx.post(f"{url}/query", data={"q": statement}, auth=(ADMIN, ADMIN_PASSWORD),
                          timeout=10)
    response.raise_for_status()
    return response.json()


@pytest.fixture(scope="module")
def auth_influxd(tmp_path_factory):
    state = tmp_path_factory.mktemp("auth-influxd")
    server = AuthInfluxd(state, free_port(), free_port(), Settings(state_dir=state))
    server.start()
    # With auth on and no users yet, influxd accepts exactly this first statement unauthenticated.
    httpx.post(f"{server.url}/query", timeout=10, data={
        "q": f"CREATE USER {ADMIN} WITH PASSWORD '{ADMIN_PASSWORD}' WITH ALL PRIVILEGES"},
    ).raise_for_status()
    yield server
    server.stop()


@pytest.fixture
def ingest_user(auth_influxd):
    """Database `sw_<n>` and a non-admin user `ingest` with WRITE and READ on it."""
    database = f"sw_{time.time_ns()}"
    admin_query(auth_influxd.url, f'CREATE DATABASE "{database}"')
    admin_query(auth_influxd.url, f"DROP USER {INGEST}") if _user_exists(auth_influxd.url) else None
    admin_query(auth_influxd.url, f"CREATE USER {INGEST} WITH PASSWORD '{INGEST_PASSWORD}'")
    admin_query(auth_influxd.url, f'GRANT ALL ON "{database}" TO {INGEST}')
    return database


def _user_exists(url: str) -> bool:
    series = admin_query(url, "SHOW USERS")["results"][0].get("series", [])
    return any(row[0] == INGEST for s in series for row in s.get("values", []))


def test_wrong_password_is_401_and_an_auth_error(auth_influxd, ingest_user):
    with InfluxClient(auth_influxd.url, ingest_user, INGEST, "wrong") as client, \
            pytest.raises(InfluxAuthError) as caught:
        client.write_lines(["m v=1 1"])
    assert caught.value.status == 401


def test_reads_send_the_password_and_a_wrong_one_is_an_auth_error(auth_influxd, ingest_user):
    with InfluxClient(auth_influxd.url, ingest_user, INGEST, INGEST_PASSWORD) as client:
        client.write_lines(["m v=1 1"])
        assert client.scalar("SELECT v FROM m") == 1
    with InfluxClient(auth_influxd.url, ingest_user, INGEST, "wrong") as client, \
            pytest.raises(InfluxAuthError) as caught:
        client.rows("SELECT v FROM m")
    assert caught.value.status == 401


def test_a_user_without_the_right_gets_403_and_an_auth_error(auth_influxd, ingest_user):
    other = f"{ingest_user}_other"
    admin_query(auth_influxd.url, f'CREATE DATABASE "{other}"')
    with InfluxClient(auth_influxd.url, other, INGEST, INGEST_PASSWORD) as client:
        with pytest.raises(InfluxAuthError) as write_refused:
            client.write_lines(["m v=1 1"])
        with pytest.raises(InfluxAuthError) as create_refused:
            client.create_database()
    assert write_refused.value.status == 403 and create_refused.value.status == 403


def test_missing_database_is_404_and_type_conflict_is_400(auth_influxd, ingest_user):
    with InfluxClient(auth_influxd.url, "no_such_db", ADMIN, ADMIN_PASSWORD) as client, \
            pytest.raises(InfluxRejected) as missing:
        client.write_lines(["m v=1 1"])
    assert missing.value.status == 404 and "database not found" in missing.value.body
    with InfluxClient(auth_influxd.url, ingest_user, INGEST, INGEST_PASSWORD) as client:
        client.write_lines(["m v=1 1"])
        with pytest.raises(InfluxRejected) as conflict:
            client.write_lines(['m v="text" 2'])
    assert conflict.value.status == 400 and "conflict" in str(conflict.value)


def lamp_messages(n: int, now_ms: int) -> list[tuple[str, bytes]]:
    return [(f"streetwatch/gw1/lamp/L{i}", json.dumps({"ts": now_ms + i, "on": True}).encode())
            for i in range(n)]


def count_lamps(url: str, database: str) -> int:
    with InfluxClient(url, database, ADMIN, ADMIN_PASSWORD) as client:
        return client.scalar('SELECT count("on") FROM lamp') or 0


def test_a_rotated_password_stops_the_ingester_loudly_and_loses_nothing(
        e2e, mosquitto, auth_influxd, ingest_user):
    """The issue's operator finding: after a password rotation the ingester kept running with a
    dead writer and sent the 5 readings it held to the dead-letter file as storage_rejected."""
    e2e.env.update(STREETWATCH_INFLUX_URL=auth_influxd.url, STREETWATCH_INFLUX_DB=ingest_user,
                   STREETWATCH_INFLUX_USERNAME=INGEST, STREETWATCH_INFLUX_PASSWORD=INGEST_PASSWORD)
    e2e.ingester.env = e2e.env
    upgrade(e2e.settings.sql_url())
    e2e.ingester.start()
    now = int(time.time() * 1000)
    publish_as(mosquitto, "gw1", lamp_messages(3, now))
    wait_for(lambda: count_lamps(auth_influxd.url, ingest_user) == 3, 30, "the first 3 readings")

    admin_query(auth_influxd.url, f"SET PASSWORD FOR {INGEST} = 'rotated-password'")
    publish_as(mosquitto, "gw1", lamp_messages(5, now + 100))
    assert e2e.ingester.process.wait(60) == EXIT_CONFIG
    fatal = e2e.ingester.events("ingest.fatal")
    assert len(fatal) == 1 and fatal[0]["error_type"] == "InfluxAuthError"
    assert INGEST_PASSWORD not in e2e.ingester.log_path.read_text()
    assert read_dead_letters(Path(e2e.settings.state_dir) / "dead-letter") == []

    e2e.env["STREETWATCH_INFLUX_PASSWORD"] = "rotated-password"  # the operator fixes the config
    e2e.ingester.start()
    wait_for(lambda: count_lamps(auth_influxd.url, ingest_user) == 8, 60,
             "the 5 unacked readings, redelivered to the restarted ingester")
    assert e2e.ingester.stop() == 0


def test_a_user_who_may_not_write_stops_the_ingester_with_the_config_exit_code(
        e2e, mosquitto, auth_influxd, ingest_user):
    admin_query(auth_influxd.url, f'REVOKE ALL ON "{ingest_user}" FROM {INGEST}')
    admin_query(auth_influxd.url, f'GRANT READ ON "{ingest_user}" TO {INGEST}')
    e2e.env.update(STREETWATCH_INFLUX_URL=auth_influxd.url, STREETWATCH_INFLUX_DB=ingest_user,
                   STREETWATCH_INFLUX_USERNAME=INGEST, STREETWATCH_INFLUX_PASSWORD=INGEST_PASSWORD)
    e2e.ingester.env = e2e.env
    upgrade(e2e.settings.sql_url())
    e2e.ingester.start()  # CREATE DATABASE is refused (403): the ingester goes on, as documented
    assert e2e.ingester.events("ingest.create_database_forbidden")
    publish_as(mosquitto, "gw1", lamp_messages(2, int(time.time() * 1000)))
    assert e2e.ingester.process.wait(60) == EXIT_CONFIG
    assert [e["error_type"] for e in e2e.ingester.events("ingest.fatal")] == ["InfluxAuthError"]
    assert count_lamps(auth_influxd.url, ingest_user) == 0
