"""`streetwatch demo`: local services, registry, ingester and a simulated town, all at once.

The ingester runs as its own process (as in production); the simulator publishes from this one.
Ctrl-C (or --duration) stops the simulator; the ingester stores what the broker still holds,
flushes and exits; the demo ends by printing what this run stored.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from streetwatch.influx import InfluxClient
from streetwatch.services.process import stop_child
from streetwatch.settings import Settings

if TYPE_CHECKING:
    from simulators.cli import SimulationConfig

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
    from streetwatch.errors import StreetwatchError

    try:
        run_demo(gateways, lamps, drains, rate, duration, seed, passwords_file)
    except StreetwatchError as exc:
        typer.echo(f"demo: {exc}", err=True)
        raise typer.Exit(code=1) from None


def run_demo(
    gateways: int, lamps: int, drains: int, rate: float, duration: float | None, seed: int,
    passwords_file: Path | None,
) -> None:
    from simulators.cli import SimulationConfig, register_fleet
    from simulators.fleet import build_fleet
    from streetwatch.registry.migrate import upgrade
    from streetwatch.services import services_up
    from streetwatch.settings import load_settings

    settings = load_settings()
    config = SimulationConfig(gateways=gateways, lamps=lamps, drains=drains, rate=rate, seed=seed,
                              duration_s=duration)
    gateway_ids = [f"gw{n}" for n in range(1, gateways + 1)]
    for line in services_up(settings, gateways=gateway_ids).lines():
        typer.echo(line)
    upgrade(settings.sql_url())
    # Registered before the ingester starts, so its first registry load already has the zones.
    register_fleet(settings, build_fleet(seed, gateways, lamps, drains))
    with InfluxClient.from_settings(settings) as influx:
        influx.create_database()  # idempotent; needed before the first count below
        before = stored_counts(influx)
        simulate_with_ingester(settings, config, passwords_file, influx, before)
        for kind, count in stored_counts(influx).items():
            typer.echo(f"stored this run {kind:<14} {count - before[kind]}")


def simulate_with_ingester(
    settings: Settings, config: SimulationConfig, passwords_file: Path | None,
    influx: InfluxClient, before: dict[str, int],
) -> None:
    """Run the simulator while an ingester child stores its readings; stop the child after."""
    from simulators.cli import resolve_passwords, run_simulation, stop_on_signals

    ingester = start_ingester(settings)
    try:
        print_where_to_look(settings)
        stop = threading.Event()
        with stop_on_signals(stop):
            summary = run_simulation(config, settings,
                                     lambda s, ids: resolve_passwords(s, ids, passwords_file),
                                     stop=stop)
        typer.echo(f"simulator: {summary.to_dict()}")
        wait_for_ingester(influx, before, summary.readings)
    finally:
        stop_child(ingester)  # SIGTERM: the ingester flushes its last batch and acks it


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
    if settings.ingest_metrics_port:
        metrics = f"http://{settings.ingest_metrics_host}:{settings.ingest_metrics_port}"
        typer.echo(f"The ingester's counters (while it runs): curl {metrics}/metrics "
                   f"(health: {metrics}/healthz)\n")


COUNTED = {"lamp": "on", "drain": "level_cm", "rain": "rain_mm", "ingest_reject": "payload"}


def stored_counts(influx: InfluxClient) -> dict[str, int]:
    """Points per measurement in the database (lamp, drain, rain readings and rejects)."""
    return {m: influx.scalar(f'SELECT count("{f}") FROM "{m}"') or 0 for m, f in COUNTED.items()}


def wait_for_ingester(
    influx: InfluxClient, before: dict[str, int], published: dict[str, int], timeout_s: float = 30.0
) -> None:
    """Give the ingester time to store what the broker still holds for it (stopping earlier loses
    nothing -- the broker keeps it for the next run -- but the counts printed would fall short)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = stored_counts(influx)
        if all(now[kind] - before[kind] >= count for kind, count in published.items()):
            return
        time.sleep(0.5)
