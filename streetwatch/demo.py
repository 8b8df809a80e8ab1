"""`streetwatch demo`: local services, registry, ingester and a simulated town, all at once.

The ingester runs as its own process (as in production); the simulator publishes from this one.
Ctrl-C (or --duration) stops the simulator, then the ingester flushes and exits; the demo ends by
printing what is stored and the InfluxQL that shows it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from streetwatch.services.process import stop_child
from streetwatch.settings import Settings

READY_EVENT = '"event": "ingest.subscribed"'


def demo(
    gateways: Annotated[int, typer.Option(help="Gateways (one zone each).")] = 4,
    lamps: Annotated[int, typer.Option(help="Lamps over all gateways.")] = 1000,
    drains: Annotated[int, typer.Option(help="Drain sensors over all gateways.")] = 100,
    rate: Annotated[float, typer.Option(help="Messages per second; 0 = unlimited.")] = 500.0,
    duration: Annotated[float | None, typer.Option(help="Stop after N s (default: Ctrl-C).")] = None,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 1,
    passwords_file: Annotated[Path | None, typer.Option(help="Gateway passwords (external broker).")] = None,
) -> None:
    """Run everything locally and print where the data can be seen."""
    from simulators.cli import SimulationConfig, resolve_passwords, run_simulation, stop_on_signals
    from streetwatch.registry.migrate import upgrade
    from streetwatch.services import services_up
    from streetwatch.settings import load_settings

    settings = load_settings()
    config = SimulationConfig(gateways=gateways, lamps=lamps, drains=drains, rate=rate, seed=seed,
                              duration_s=duration, register=True)
    gateway_ids = [f"gw{n}" for n in range(1, gateways + 1)]
    for line in services_up(settings, gateways=gateway_ids).lines():
        typer.echo(line)
    upgrade(settings.sql_url())
    ingester = start_ingester(settings)
    try:
        print_where_to_look(settings)
        stop = threading.Event()
        with stop_on_signals(stop):
            summary = run_simulation(config, settings,
                                     lambda s, ids: resolve_passwords(s, ids, passwords_file),
                                     stop=stop)
        typer.echo(f"simulator: {summary.to_dict()}")
    finally:
        stop_child(ingester)  # SIGTERM: the ingester flushes its last batch and acks it
    print_counts(settings)


def start_ingester(settings: Settings, timeout_s: float = 60.0) -> subprocess.Popen[bytes]:
    """Start `streetwatch ingest` as a child process and wait until it has subscribed."""
    log_path = settings.state_dir / "logs" / "ingest.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path, "ab")  # noqa: SIM115 -- handed to the child process
    start = log_path.stat().st_size
    process = subprocess.Popen(
        [sys.executable, "-m", "streetwatch", "ingest"], stdout=log_file, stderr=log_file,
        env=os.environ.copy(), start_new_session=True,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        with open(log_path, "rb") as log:
            log.seek(start)
            if READY_EVENT.encode() in log.read():
                typer.echo(f"ingester: running (pid {process.pid}), log {log_path}")
                return process
        time.sleep(0.1)
    process.kill()
    raise typer.Exit(f"ingester did not subscribe within {timeout_s:.0f} s; see {log_path}")


def print_where_to_look(settings: Settings) -> None:
    url = settings.influx_base_url()
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    db = settings.influx_db
    typer.echo(
        "\nData is in InfluxDB. Look at it with InfluxQL, e.g.:\n"
        f"  influx -host {host} -port {port} -database {db} -execute "
        "'SELECT count(\"on\") FROM lamp GROUP BY zone'\n"
        f"  curl -G {url}/query --data-urlencode db={db} --data-urlencode "
        "'q=SELECT last(level_cm) FROM drain GROUP BY sensor LIMIT 5'\n"
    )


def print_counts(settings: Settings) -> None:
    from streetwatch.influx import InfluxClient

    with InfluxClient.from_settings(settings) as influx:
        for measurement, field in (("lamp", "on"), ("drain", "level_cm"), ("rain", "rain_mm"),
                                   ("ingest_reject", "payload")):
            count = influx.scalar(f'SELECT count("{field}") FROM "{measurement}"') or 0
            typer.echo(f"stored {measurement:<14} {count}")
