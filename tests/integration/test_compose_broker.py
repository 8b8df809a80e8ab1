"""The broker pieces docker-compose.yml runs, run natively (no Docker engine on these machines):
deploy/mosquitto/accounts.sh with Debian's mosquitto_passwd, the committed ACL under a real
Mosquitto with the generated zero-loss config, and the compose healthcheck command.

What stays untested here: the eclipse-mosquitto image itself (its entrypoint, paths, user).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from test_broker_acl import NOT_AUTHORIZED, MqttSession  # tests/integration, same folder

from streetwatch.services.credentials import mosquitto_password_line, password_line_matches
from streetwatch.services.mosquitto import MosquittoPaths, render_mosquitto_conf
from streetwatch.services.process import free_port, port_is_open, require_binary, wait_until
from streetwatch.settings import INGEST_USER, RULES_USER, Settings

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy/mosquitto/accounts.sh"
PASSWORDS = {"MQTT_INGEST_PASSWORD": "ingest0secret", "MQTT_RULES_PASSWORD": "rules0secret"}
GATEWAY_PASSWORD = "gateway0secret"


def script_env(passwd: Path, **values: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in PASSWORDS}
    return {**base, **PASSWORDS, "MOSQUITTO_PASSWORD_FILE": str(passwd), **values}


def run_script(passwd: Path, **values: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(SCRIPT)], env=script_env(passwd, **values),
                          capture_output=True, text=True, timeout=30, check=False)


def password_lines(passwd: Path) -> dict[str, str]:
    return {line.split(":", 1)[0]: line for line in passwd.read_text().splitlines()}


def test_accounts_script_writes_the_service_accounts_and_keeps_the_gateways(tmp_path: Path):
    require_binary("mosquitto_passwd", "mosquitto")
    passwd = tmp_path / "accounts" / "passwd"
    passwd.parent.mkdir()
    gateway = mosquitto_password_line("north-7", "its-own")
    passwd.write_text(gateway + "\n")

    first = run_script(passwd)
    assert first.returncode == 0, first.stderr
    lines = password_lines(passwd)
    assert set(lines) == {"north-7", INGEST_USER, RULES_USER}
    assert lines["north-7"] == gateway
    assert password_line_matches(lines[INGEST_USER], "ingest0secret")
    assert stat.S_IMODE(passwd.stat().st_mode) & 0o077 == 0

    rotated = run_script(passwd, MQTT_INGEST_PASSWORD="rotated0", SIMULATOR_GATEWAY_PASSWORD="s1")
    assert rotated.returncode == 0, rotated.stderr
    lines = password_lines(passwd)
    assert set(lines) == {"north-7", INGEST_USER, RULES_USER, "gw1", "gw2", "gw3", "gw4"}
    assert password_line_matches(lines[INGEST_USER], "rotated0")
    assert not password_line_matches(lines[INGEST_USER], "ingest0secret")
    assert password_line_matches(lines["gw3"], "s1") and lines["north-7"] == gateway


def test_accounts_script_refuses_an_empty_password(tmp_path: Path):
    result = run_script(tmp_path / "passwd", MQTT_RULES_PASSWORD="")
    assert result.returncode != 0
    assert "MQTT_RULES_PASSWORD" in result.stderr and "set it in .env" in result.stderr


def compose_healthcheck(port: int) -> str:
    """The broker's healthcheck command from docker-compose.yml, aimed at `port`."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    kind, command = compose["services"]["mosquitto"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL" and "-p 1883 " in command
    return command.replace("-p 1883 ", f"-p {port} ").replace("$$", "$")  # compose's escape


@pytest.fixture
def compose_broker(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen]]:
    """Mosquitto started the way compose starts it: accounts.sh, then exec of the broker, with the
    committed ACL and the generated config (local paths: the container's do not exist here)."""
    binary = require_binary("mosquitto", "mosquitto")
    require_binary("mosquitto_passwd", "mosquitto")
    port = free_port()
    paths = MosquittoPaths.under(tmp_path)
    paths.data_dir.mkdir(parents=True)
    shutil.copyfile(ROOT / "deploy/mosquitto/acl", paths.acl)
    paths.conf.write_text(render_mosquitto_conf(paths, port, Settings(state_dir=tmp_path)))
    broker = subprocess.Popen(
        ["sh", str(SCRIPT), binary, "-c", str(paths.conf)],
        env=script_env(paths.passwd, SIMULATOR_GATEWAY_PASSWORD=GATEWAY_PASSWORD),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: port_is_open("127.0.0.1", port), 15, "the broker to listen",
                   logs=(paths.log,))
        yield port, broker
    finally:
        broker.terminate()
        broker.wait(timeout=15)


def test_the_compose_accounts_and_acl_work_on_a_real_broker(compose_broker):
    port, _ = compose_broker
    ingest = MqttSession("127.0.0.1", port, INGEST_USER, "ingest0secret")
    gw1 = MqttSession("127.0.0.1", port, "gw1", GATEWAY_PASSWORD)
    stranger = MqttSession("127.0.0.1", port, RULES_USER, "not-its-password")
    try:
        assert not ingest.connect().is_failure
        assert not ingest.subscribe("streetwatch/#").is_failure
        assert not gw1.connect().is_failure
        assert gw1.publish("streetwatch/gw2/lamp/L1", b"spoof").value == NOT_AUTHORIZED
        assert not gw1.publish("streetwatch/gw1/lamp/L1", b"own").is_failure
        ingest.wait_for_payload(b"own")  # same publisher, same subscriber: order is kept
        assert b"spoof" not in ingest.payloads()
        assert stranger.connect().is_failure
    finally:
        ingest.close()
        gw1.close()


def test_the_compose_healthcheck_tells_a_live_broker_from_a_stopped_one(compose_broker):
    port, broker = compose_broker
    up = subprocess.run(["sh", "-c", compose_healthcheck(port)], timeout=30, check=False)
    broker.terminate()
    broker.wait(timeout=15)
    down = subprocess.run(["sh", "-c", compose_healthcheck(port)], timeout=30, check=False)

    assert up.returncode == 0
    assert down.returncode != 0
