"""The ingester as a child process: its options, its environment (our services only), how it is
launched, and the JSON log events the bench times it by."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from streetwatch.services.process import log_tail, stop_child, wait_until

from local_services import Services

REPO = Path(__file__).resolve().parent.parent
LOG_TAIL_LINES = 30
INGEST_MODULE_ARGS = ["-m", "streetwatch", "ingest"]
# Same composition root as `streetwatch ingest` (streetwatch/cli.py), without importing the CLI.
INGEST_FALLBACK_ARGS = [
    "-c",
    (
        "from streetwatch.settings import load_settings\n"
        "from streetwatch.logs import configure_logging\n"
        "from ingest.service import run_ingester\n"
        "s = load_settings(); configure_logging(s.log_level); run_ingester(s)\n"
    ),
]


@dataclass(frozen=True)
class IngestOptions:
    client_id: str
    batch_size: int | None  # STREETWATCH_INGEST_BATCH_SIZE override (messages per write)
    flush_interval_s: float | None
    profile_dir: Path | None
    launcher: list[str]

    @property
    def command(self) -> str:
        """How the child is started, for the report."""
        if self.launcher == INGEST_MODULE_ARGS:
            return "python -m streetwatch ingest"
        return "python -c run_ingester(load_settings())"


def ingester_env(services: Services, options: IngestOptions, database: str) -> dict[str, str]:
    """The child's environment: exactly our services, nothing from the caller's STREETWATCH_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREETWATCH_")}
    values = {
        "STATE_DIR": str(services.root / "ingest-state"),
        "MQTT_URL": services.broker.url_for(services.ingest_login(options.client_id)),
        "INFLUX_URL": services.influxd.url,
        "INFLUX_DB": database,
        "DATABASE_URL": services.sql_url,
        "INGEST_CLIENT_ID": options.client_id,
        "INGEST_METRICS_PORT": "0",  # nothing scrapes it here, and 9641 may be taken
        "LOG_LEVEL": "INFO",
    }
    if options.batch_size is not None:
        values["INGEST_BATCH_SIZE"] = str(options.batch_size)
    if options.flush_interval_s is not None:
        values["INGEST_FLUSH_INTERVAL_S"] = str(options.flush_interval_s)
    env.update({f"STREETWATCH_{k}": v for k, v in values.items()})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def choose_launcher() -> list[str]:
    """`python -m streetwatch ingest`, as in production; if the CLI module does not import (another
    component mid-edit), the same composition root via `python -c`, and say so."""
    probe = subprocess.run(
        [sys.executable, "-c", "import streetwatch.cli"],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode == 0:
        return INGEST_MODULE_ARGS
    last = (probe.stderr.strip().splitlines() or ["?"])[-1]
    print(
        f"warning: `python -m streetwatch` does not import ({last}); running the ingester as "
        f"`python -c 'run_ingester(load_settings())'` instead",
        file=sys.stderr,
    )
    return INGEST_FALLBACK_ARGS


class IngesterChild:
    """The ingester as a child process, JSON log lines (stderr) in a file we read for events."""

    def __init__(self, env: dict[str, str], log_path: Path, launcher: list[str]) -> None:
        self.env = env
        self.log_path = log_path
        self.launcher = launcher
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, stack: contextlib.ExitStack) -> IngesterChild:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, *self.launcher],
                cwd=self.log_path.parent,
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        stack.callback(stop_child, self.process)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def exit_reason(self) -> str | None:
        if self.process is not None and self.process.poll() is not None:
            return f"the ingester exited ({self.process.returncode})"
        return None

    def event(self, name: str) -> dict[str, Any] | None:
        """The first log event called `name`, or None."""
        marker = f'"event": "{name}"'
        with contextlib.suppress(FileNotFoundError), open(self.log_path, errors="replace") as log:
            for line in log:
                if marker in line:
                    return json.loads(line)
        return None

    def wait_event(self, name: str, timeout_s: float) -> dict[str, Any]:
        """The first log event called `name`, once it is logged (ServiceError if it never is)."""
        wait_until(
            lambda: self.event(name) is not None,
            timeout_s,
            f"the ingester's {name} event",
            logs=(self.log_path,),
            abort=self.exit_reason,
        )
        event = self.event(name)  # the first one, as seen by the wait
        assert event is not None
        return event

    def log_tail(self) -> str:
        return log_tail((self.log_path,), LOG_TAIL_LINES)

    def stop(self) -> int | None:
        """SIGTERM: the ingester flushes, acks and exits 0 (its session stays in the broker)."""
        assert self.process is not None
        return stop_child(self.process, 60)


def log_time(event: dict[str, Any]) -> float:
    """Epoch seconds of a JSON log line's `ts` (UTC, millisecond resolution)."""
    return datetime.fromisoformat(event["ts"]).timestamp()
