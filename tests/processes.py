"""Run `streetwatch ingest` / `streetwatch simulate` as real child processes in tests.

Readiness and completion are waited on as conditions with deadlines (log events, InfluxQL counts),
never with fixed sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import paho.mqtt.client as mqtt

from simulators.fleet import build_fleet
from streetwatch.influx import InfluxClient
from streetwatch.registry.migrate import upgrade
from streetwatch.registry.store import make_engine, upsert_devices
from streetwatch.settings import Settings

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout_s: float, what: str, every_s: float = 0.1) -> T:
    """Poll `predicate` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    last: T = predicate()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {last!r})")
        time.sleep(every_s)
        last = predicate()
    return last


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment that makes a child `streetwatch` process use exactly these settings.

    The ingester's /metrics endpoint is off (INGEST_METRICS_PORT=0) unless `extra` sets a port:
    two ingesters on one machine cannot both listen on the default port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREETWATCH_")}
    values = {
        "STATE_DIR": str(settings.state_dir),
        "MQTT_URL": settings.mqtt_url.get_secret_value() if settings.mqtt_url else None,
        "INFLUX_URL": settings.influx_url,
        "INFLUX_DB": settings.influx_db,
        "DATABASE_URL": settings.sql_url(),
        "INGEST_CLIENT_ID": settings.ingest_client_id,
        "INGEST_SHARE_GROUP": settings.ingest_share_group,
        "INGEST_FLUSH_INTERVAL_S": str(settings.ingest_flush_interval_s),
        "INGEST_METRICS_PORT": "0",
        "RULES_METRICS_PORT": "0",
        "LOG_LEVEL": "INFO",
    }
    env.update({f"STREETWATCH_{k}": v for k, v in values.items() if v is not None})
    env.update({f"STREETWATCH_{k}": v for k, v in extra.items()})
    return env


class IngesterProcess:
    """`python -m streetwatch ingest` (or another service: `command`, ready when its log says
    `ready_event`) with its JSON log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path, command: tuple[str, ...] = ("ingest",),
                 ready_event: str = "ingest.subscribed") -> None:
        self.env = env
        self.log_path = log_path
        self.command = command
        self.ready_event = ready_event
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self, timeout_s: float = 30) -> IngesterProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streetwatch", *self.command],
                stdout=log, stderr=log, env=self.env, start_new_session=True,
            )
        wait_for(lambda: self.events(self.ready_event) or self._died(), timeout_s,
                 f"{' '.join(self.command)} to log {self.ready_event}")
        assert self.alive, f"ingester exited early:\n{self.log_tail()}"
        return self

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def events(self, name: str) -> list[dict]:
        """Log events named `name` written since the last start."""
        if not self.log_path.exists():
            return []
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            lines = log.read().decode("utf-8", "replace").splitlines()
        found = []
        for line in lines:
            if f'"event": "{name}"' in line:
                found.append(json.loads(line))
        return found

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout_s: float = 60) -> int:
        """SIGTERM and wait: the ingester flushes, acks and exits 0."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"ingester ignored SIGTERM for {timeout_s} s:\n{self.log_tail()}") from None


def start_simulator(env: dict[str, str], passwords_file: Path, summary: Path, *args: str
                    ) -> subprocess.Popen[bytes]:
    """Start `streetwatch simulate ARGS` in the background; see `finish_simulator`."""
    cmd = [sys.executable, "-m", "streetwatch", "simulate", "--passwords-file", str(passwords_file),
           "--summary-json", str(summary), *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish_simulator(process: subprocess.Popen[bytes], summary: Path, timeout_s: float = 300) -> dict:
    """Wait for the simulator; return its summary (readings published, all acked by the broker)."""
    out, err = process.communicate(timeout=timeout_s)
    assert process.returncode == 0, f"simulator failed ({process.returncode}):\n{err.decode()[-3000:]}"
    return json.loads(summary.read_text())


def write_passwords(path: Path, credentials: dict[str, str], gateways: list[str]) -> Path:
    path.write_text(json.dumps({gw: credentials[gw] for gw in gateways}))
    path.chmod(0o600)
    return path


def publish_as(mosquitto, gateway: str, messages: list[tuple[str, bytes]], retain: bool = False
               ) -> None:
    """Publish QoS 1 messages as `gateway` (MQTT 3.1.1) and wait until the broker has acked every
    one. The broker uses the username as client id: this connection takes over any other
    connection of `gateway` (a simulator running as it), so never call it during one."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(gateway, mosquitto.password(gateway))
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1, retain=retain) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=30)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def drop_session(host: str, port: int, username: str, password: str, timeout_s: float = 10) -> None:
    """Connect once as `username` with a clean session: the broker discards that account's
    persistent session (client id == username) with its subscriptions and queued messages, so a
    finished test's ingester no longer has every later test's messages queued for it."""
    connacks: list[mqtt.ReasonCode] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username, clean_session=True)
    client.username_pw_set(username, password)
    client.on_connect = lambda c, u, flags, reason_code, p: connacks.append(reason_code)
    client.connect(host, port)
    try:
        deadline = time.monotonic() + timeout_s
        while not connacks and time.monotonic() < deadline:
            client.loop(timeout=0.05)
        assert connacks and not connacks[0].is_failure, f"{username}: no clean CONNACK {connacks}"
    finally:
        client.disconnect()


def clear_retained_status(mosquitto, gateways: list[str]) -> None:
    """Delete the retained `streetwatch/<gw>/status` messages earlier simulator runs left on the
    broker (an empty retained publish): a fresh ingest session would receive them, and a test
    counting what its ingester received would count another test's messages."""
    for gateway in gateways:
        publish_as(mosquitto, gateway, [(f"streetwatch/{gateway}/status", b"")], retain=True)


def last_stats(ingester: IngesterProcess) -> dict:
    """The ingester's latest `ingest.stats` event (the final one once it has stopped)."""
    stats = ingester.events("ingest.stats")
    assert stats, f"no ingest.stats event:\n{ingester.log_tail()}"
    return stats[-1]


# End-to-end scenario helpers ------------------------------------------------------------
COUNT_FIELDS = {"lamp": "on", "drain": "level_cm", "rain": "rain_mm"}


def stored(influx: InfluxClient) -> dict[str, int]:
    return {kind: influx.scalar(f'SELECT count("{field}") FROM "{kind}"') or 0
            for kind, field in COUNT_FIELDS.items()}


def register(settings, seed: int, gateways: int, lamps: int, drains: int):
    upgrade(settings.sql_url())
    fleet = build_fleet(seed, gateways, lamps, drains)
    engine = make_engine(settings.sql_url())
    upsert_devices(engine, *fleet.registry_rows())
    engine.dispose()
    return fleet


def sim_args(seed: int, gateways: int, lamps: int, drains: int, rounds: int, rate: float = 0) -> list[str]:
    return ["--seed", str(seed), "--gateways", str(gateways), "--lamps", str(lamps),
            "--drains", str(drains), "--rounds", str(rounds), "--rate", str(rate),
            "--interval", "60", "--backfill", str(rounds * 60 + 60)]
