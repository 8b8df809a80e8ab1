"""`streetwatch services up|down|status` against real mosquitto and influxd processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from typer.testing import CliRunner

from streetwatch.errors import ConfigError, ServiceError
from streetwatch.services import (
    ensure_gateways,
    ensure_service_accounts,
    local_influxd,
    local_mosquitto,
    mqtt_url_for,
    services_down,
    services_status,
    services_up,
)
from streetwatch.services.cli import services_app
from streetwatch.services.process import free_port, pid_alive, port_is_open
from streetwatch.settings import INGEST_USER, Settings, ingest_account, rules_account

TIMEOUT_S = 10.0


def free_influx_port() -> int:
    """A free HTTP port whose `+ 2` RPC companion (what `services up` uses) is free too."""
    while True:
        port = free_port()
        if port + 2 < 65536 and not port_is_open("127.0.0.1", port + 2):
            return port


@pytest.fixture
def local_settings(tmp_path: Path) -> Iterator[Settings]:
    """Settings for local services on free ports under tmp_path; whatever runs is stopped after."""
    settings = Settings(
        state_dir=tmp_path / "state",
        local_mqtt_port=free_port(),
        local_influx_port=free_influx_port(),
    )
    yield settings
    services_down(settings)


def stored_passwords(settings: Settings) -> list[str]:
    return list(json.loads((settings.state_dir / "credentials.json").read_text()).values())


def mqtt_login_ok(settings: Settings, username: str) -> bool:
    """Connect with the stored credentials (MQTT 3.1.1) and report whether the broker accepted."""
    endpoint = settings.mqtt_endpoint()
    password = local_mosquitto(settings).credentials.get(username)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"probe-{username}")
    client.username_pw_set(username, password)
    answered, outcome = threading.Event(), []

    def on_connect(client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        outcome.append(not reason_code.is_failure)
        answered.set()

    client.on_connect = on_connect
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    try:
        assert answered.wait(TIMEOUT_S), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return outcome[0]


def test_up_twice_is_idempotent(local_settings: Settings) -> None:
    first = services_up(local_settings)
    second = services_up(local_settings)

    assert first.mqtt.started and first.influx.started
    assert not second.mqtt.started and not second.influx.started
    assert second.mqtt.running and second.influx.running
    assert (second.mqtt.pid, second.influx.pid) == (first.mqtt.pid, first.influx.pid)
    assert httpx.get(f"{local_settings.influx_base_url()}/ping").status_code == 204


def test_status_shows_urls_without_passwords(local_settings: Settings) -> None:
    services_up(local_settings, gateways=["gw1", "gw2"])
    status = services_status(local_settings)
    text = "\n".join(status.lines())

    assert f"mqtt://127.0.0.1:{local_settings.local_mqtt_port}" in text
    assert f"http://127.0.0.1:{local_settings.local_influx_port}" in text
    assert not status.mqtt.external and not status.influx.external
    passwords = stored_passwords(local_settings)
    assert len(passwords) == 4  # ingest, rules, gw1, gw2
    assert not any(password in text for password in passwords)


def test_down_stops_services_and_frees_ports(local_settings: Settings) -> None:
    up = services_up(local_settings)
    down = services_down(local_settings)

    assert not down.mqtt.running and not down.influx.running
    assert not pid_alive(up.mqtt.pid) and not pid_alive(up.influx.pid)  # type: ignore[arg-type]
    assert not port_is_open("127.0.0.1", local_settings.local_mqtt_port)
    assert not port_is_open("127.0.0.1", local_settings.local_influx_port)
    assert not local_mosquitto(local_settings).paths.pid.exists()
    assert not local_influxd(local_settings).paths.pid.exists()
    services_down(local_settings)  # stopping what is stopped is harmless


def test_restart_after_down_keeps_credentials(local_settings: Settings) -> None:
    services_up(local_settings, gateways=["gw1"])
    before = stored_passwords(local_settings)
    services_down(local_settings)
    assert services_up(local_settings).mqtt.started
    assert stored_passwords(local_settings) == before
    assert mqtt_login_ok(local_settings, "gw1")


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.mark.parametrize(
    "stale_pid", [dead_pid, os.getpid], ids=["dead-process", "foreign-process"]
)
def test_stale_pid_file_is_cleaned_and_replaced(local_settings: Settings, stale_pid) -> None:  # noqa: ANN001
    pid_file = local_mosquitto(local_settings).paths.pid
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{stale_pid()}\n")

    assert not services_status(local_settings).mqtt.running
    assert not pid_file.exists()
    pid_file.write_text(f"{stale_pid()}\n")
    status = services_up(local_settings)
    assert status.mqtt.started and status.mqtt.running
    assert pid_file.read_text().strip() == str(status.mqtt.pid)


def test_external_services_are_reported_not_started(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path / "state",
        mqtt_url=f"mqtt://{INGEST_USER.replace('@', '%40')}:topsecret@127.0.0.1:{free_port()}",
        influx_url=f"http://admin:influxsecret@127.0.0.1:{free_port()}",
    )
    status = services_up(settings)
    text = "\n".join(status.lines())

    assert status.mqtt.external and status.influx.external
    assert not status.mqtt.running and not status.influx.running  # nothing listens there
    assert "topsecret" not in text and "influxsecret" not in text
    assert "***" in text
    assert not (tmp_path / "state").exists()  # nothing local was provisioned or started
    assert mqtt_url_for(settings, INGEST_USER).endswith(
        f"topsecret@127.0.0.1:{settings.mqtt_endpoint().port}"
    )
    with pytest.raises(ConfigError, match="external broker"):
        ensure_gateways(settings, ["gw1"])
    with pytest.raises(ConfigError, match="external broker"):
        ensure_service_accounts(settings, [ingest_account("b")])


def test_missing_binary_is_a_clear_error(local_settings: Settings) -> None:
    broken = local_settings.model_copy(update={"mosquitto_bin": "/nonexistent/bin/mosquitto"})
    with pytest.raises(
        ServiceError, match=r"install Debian package 'mosquitto' \(apt-get install mosquitto\)"
    ):
        services_up(broken)


def test_port_taken_by_another_process_is_reported(local_settings: Settings) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", local_settings.local_mqtt_port))
        squatter.listen()
        with pytest.raises(ServiceError, match="already in use by another process"):
            services_up(local_settings)


def test_ensure_gateways_applies_to_the_running_broker(local_settings: Settings) -> None:
    services_up(local_settings)
    passwords = ensure_gateways(local_settings, ["gw5", "lamp-gw.07"])

    assert set(passwords) == {"gw5", "lamp-gw.07"}
    assert mqtt_login_ok(local_settings, "lamp-gw.07")
    with pytest.raises(ConfigError, match="reserved"):
        ensure_gateways(local_settings, ["alerts"])


def test_ensure_service_accounts_applies_to_the_running_broker(local_settings: Settings) -> None:
    services_up(local_settings)
    accounts = [ingest_account("ingest-2"), rules_account("r2")]
    passwords = ensure_service_accounts(local_settings, accounts)

    assert set(passwords) == set(accounts)
    assert all(mqtt_login_ok(local_settings, account) for account in accounts)
    acl = local_mosquitto(local_settings).paths.acl.read_text().splitlines()
    assert all(f"user {account}" in acl for account in accounts)
    with pytest.raises(ConfigError, match="not a service account"):
        ensure_service_accounts(local_settings, ["gw1"])


def test_cli_up_status_down(local_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREETWATCH_STATE_DIR", str(local_settings.state_dir))
    monkeypatch.setenv("STREETWATCH_LOCAL_MQTT_PORT", str(local_settings.local_mqtt_port))
    monkeypatch.setenv("STREETWATCH_LOCAL_INFLUX_PORT", str(local_settings.local_influx_port))
    runner = CliRunner()

    up = runner.invoke(services_app, ["up", "--gateways", "gw1,gw2"])
    again = runner.invoke(services_app, ["up"])
    status = runner.invoke(services_app, ["status"])
    down = runner.invoke(services_app, ["down"])

    assert up.exit_code == 0, up.output
    assert "started" in up.output and "gw1, gw2" in up.output
    assert "mqtt: already running" in again.output and "influxdb: already running" in again.output
    assert "running (pid" in status.output
    assert down.exit_code == 0 and down.output.count("stopped") == 2
    everything = up.output + again.output + status.output + down.output
    assert not any(password in everything for password in stored_passwords(local_settings))


def test_cli_reports_errors_without_traceback(
    local_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREETWATCH_STATE_DIR", str(local_settings.state_dir))
    result = CliRunner().invoke(services_app, ["up", "--gateways", "alerts"])
    assert result.exit_code == 1
    assert "reserved" in result.output


def test_fresh_influxd_restarts_on_the_same_data(fresh_influxd) -> None:  # noqa: ANN001
    influx = fresh_influxd("keep")
    httpx.post(
        f"{influx.url}/write", params={"db": "keep"}, content=b"m v=1i 1000000000"
    ).raise_for_status()

    assert influx.server.stop()
    assert not influx.server.is_running() and not port_is_open(influx.host, influx.port)
    assert influx.server.start()

    answer = httpx.get(f"{influx.url}/query", params={"db": "keep", "q": "SELECT v FROM m"}).json()
    assert answer["results"][0]["series"][0]["values"] == [["1970-01-01T00:00:01Z", 1]]


def test_settings_for_points_at_the_session_services(
    settings_for, influx_db, mosquitto, influxd
) -> None:  # noqa: ANN001
    settings = settings_for()
    endpoint = settings.mqtt_endpoint()

    assert (endpoint.host, endpoint.port, endpoint.username) == (
        mosquitto.host,
        mosquitto.port,
        INGEST_USER,
    )
    assert (
        endpoint.password is not None
        and endpoint.password.get_secret_value() == mosquitto.password(INGEST_USER)
    )
    assert settings.influx_db == influx_db and settings.influx_base_url() == influxd.url
    databases = httpx.get(f"{influxd.url}/query", params={"q": "SHOW DATABASES"}).json()
    assert [influx_db] in databases["results"][0]["series"][0]["values"]
    assert settings_for("gw1").mqtt_endpoint().username == "gw1"


def test_pid_file_naming_another_mosquitto_is_not_ours(local_settings: Settings, mosquitto) -> None:  # noqa: ANN001
    other_pid = mosquitto.server.pid()
    pid_file = local_mosquitto(local_settings).paths.pid
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{other_pid}\n")

    assert not services_down(local_settings).mqtt.running
    assert not pid_file.exists()
    assert mosquitto.server.is_running() and mosquitto.server.pid() == other_pid  # left alone
