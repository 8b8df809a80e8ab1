"""The bench's own Mosquitto and influxd on free loopback ports, their accounts, the registry DB."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from streetwatch.influx import InfluxClient
from streetwatch.services.influxd import LocalInfluxd
from streetwatch.services.mosquitto import LocalMosquitto
from streetwatch.services.process import free_port
from streetwatch.settings import INGEST_USER, Settings, ingest_account


@dataclass
class Services:
    """Our own broker and influxd, their accounts, and the registry database."""

    root: Path
    settings: Settings
    broker: LocalMosquitto
    influxd: LocalInfluxd
    passwords: dict[str, str]
    sql_url: str

    @property
    def pids(self) -> dict[str, int]:
        return {"mosquitto": self.broker.pid() or 0, "influxd": self.influxd.pid() or 0}

    @property
    def broker_logs(self) -> tuple[Path, ...]:
        """The broker's log, whose tail goes into an MQTT wait's error message."""
        return (self.broker.paths.log,)

    def ingest_login(self, client_id: str) -> str:
        """The broker account of the ingest session `client_id` (`ingest.<client_id>@streetwatch`),
        provisioned on first use. The broker uses the username as client id, so two sessions
        (the raw paho one and the ingester's) need two accounts."""
        username = ingest_account(client_id)
        if username not in self.passwords:
            self.passwords.update(self.broker.ensure_users([username]))
        return username

    def broker_conf(self, key: str) -> str:
        """A value from the generated mosquitto.conf (what the broker really runs with)."""
        match = re.search(rf"^{key}\s+(\S+)", self.broker.paths.conf.read_text(), re.MULTILINE)
        return match.group(1) if match else "(default)"


def start_services(root: Path, gateways: Sequence[str], stack: contextlib.ExitStack) -> Services:
    """Mosquitto and influxd on free loopback ports under `root`; stopped when `stack` closes."""
    settings = Settings(state_dir=root / "services")
    broker = LocalMosquitto(settings.state_dir, free_port(), settings)
    passwords = broker.ensure_users([INGEST_USER, *gateways])
    stack.callback(broker.stop)
    broker.start()
    influxd = LocalInfluxd(settings.state_dir, free_port(), free_port(), settings)
    stack.callback(influxd.stop)
    influxd.start()
    return Services(root, settings, broker, influxd, passwords, f"sqlite:///{root / 'registry.db'}")


def lamp_count(influx: InfluxClient) -> int:
    """Lamp points stored in the client's database."""
    return int(influx.scalar('SELECT count("on") FROM lamp') or 0)
