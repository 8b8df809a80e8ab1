"""`streetwatch demo`: local services, registry, ingester, rule engine and a simulated town.

The ingester and the live rule runner run as their own processes (as in production); the
simulator publishes from this one. Ctrl-C (or --duration) stops the simulator; the ingester stores
what the broker still holds, flushes and exits; the demo ends by printing what this run stored,
the lighting rate per zone and the open alerts.
"""

from __future__ import annotations

import json
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

# The simulator's lamps burn 18:00-06:00 Shanghai time; the rules judge them on the same clock.
DEMO_SCHEDULE = "18:00-06:00"
# Holds shortened so a demo of a minute or two shows alerts (production defaults: docs/alerts.md).
DEMO_RULE_SETTINGS = {"LAMP_OUT_AFTER_S": "30", "LAMP_SILENT_AFTER_S": "300",
                      "ZONE_BELOW_TARGET_AFTER_S": "60", "TOWN_TIMEZONE": "Asia/Shanghai"}


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
    fleet = build_fleet(seed, gateways, lamps, drains)
    # Real time: each device reports every `interval` s, so the simulated clock keeps pace with
    # the wall clock and the live rule runner judges fresh readings (no day of backfill).
    interval = max(1.0, len(fleet.devices) / rate) if rate > 0 else 10.0
    config = SimulationConfig(gateways=gateways, lamps=lamps, drains=drains, rate=rate, seed=seed,
                              duration_s=duration, interval_s=interval, backfill_s=0.0)
    gateway_ids = [f"gw{n}" for n in range(1, gateways + 1)]
    for line in services_up(settings, gateways=gateway_ids).lines():
        typer.echo(line)
    upgrade(settings.sql_url())
    # Registered before the ingester starts, so its first registry load already has the zones.
    register_fleet(settings, fleet)
    zones = sorted({lamp.zone for lamp in fleet.lamps})
    with InfluxClient.from_settings(settings) as influx:
        influx.create_database()  # idempotent; needed before the first count below
        before = stored_counts(influx)
        simulate_with_ingester(settings, config, passwords_file, influx, before, zones)
        for kind, count in stored_counts(influx).items():
            typer.echo(f"stored this run {kind:<14} {count - before[kind]}")
        print_lighting_and_alerts(settings, influx)


def simulate_with_ingester(
    settings: Settings, config: SimulationConfig, passwords_file: Path | None,
    influx: InfluxClient, before: dict[str, int], zones: list[str],
) -> None:
    """Run the simulator while an ingester child stores its readings and a rule-runner child
    judges them; stop both after."""
    from simulators.cli import resolve_passwords, run_simulation, stop_on_signals

    ingester = start_child(settings, ("ingest",), "ingest.subscribed", "ingester")
    rules_env = {f"STREETWATCH_{k}": v for k, v in DEMO_RULE_SETTINGS.items()}
    rules_env["STREETWATCH_ZONE_SCHEDULES"] = json.dumps({z: DEMO_SCHEDULE for z in zones})
    rules = start_child(settings, ("rules", "--every", "10", "--warm-up", "0"), "rules.subscribed",
                        "rules", rules_env)
    api = start_child(settings, ("api",), "api.ready", "api")
    try:
        print_where_to_look(settings)
        print_api_key(settings)
        stop = threading.Event()
        with stop_on_signals(stop):
            summary = run_simulation(config, settings,
                                     lambda s, ids: resolve_passwords(s, ids, passwords_file),
                                     stop=stop)
        typer.echo(f"simulator: {summary.to_dict()}")
        wait_for_ingester(influx, before, summary.readings)
    finally:
        stop_child(ingester)  # SIGTERM: the ingester flushes its last batch and acks it
        stop_child(rules)
        stop_child(api)


def start_child(settings: Settings, command: tuple[str, ...], ready_event: str, name: str,
                env: dict[str, str] | None = None, timeout_s: float = 120.0
                ) -> subprocess.Popen[bytes]:
    """Start `streetwatch COMMAND` as a child process and wait until it logs `ready_event`."""
    log_path = settings.state_dir / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path, "ab")  # noqa: SIM115 -- handed to the child process
    start = log_path.stat().st_size
    process = subprocess.Popen(
        [sys.executable, "-m", "streetwatch", *command], stdout=log_file, stderr=log_file,
        env={**os.environ, **(env or {})}, start_new_session=True,
    )
    ready = f'"event": "{ready_event}"'.encode()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        with open(log_path, "rb") as log:
            log.seek(start)
            if ready in log.read():
                typer.echo(f"{name}: running (pid {process.pid}), log {log_path}")
                return process
        time.sleep(0.1)
    process.kill()
    raise typer.Exit(f"{name} did not get ready within {timeout_s:.0f} s; see {log_path}")


def print_lighting_and_alerts(settings: Settings, influx: InfluxClient) -> None:
    """The latest lighting rate per zone (this last hour) and the open alerts, by kind."""
    from streetwatch.alerts.store import AlertStore
    from streetwatch.registry.store import make_engine

    rows = influx.rows('SELECT last("rate") AS rate, last("lit") AS lit, '
                       'last("expected") AS expected FROM "lighting_rate" '
                       'WHERE time > now() - 1h GROUP BY "zone"')
    if not rows:
        typer.echo("lighting rate: no sample this hour (it is measured in the town's night, "
                   f"{DEMO_SCHEDULE} Asia/Shanghai in the demo)")
    for row in sorted(rows, key=lambda r: r["zone"]):
        typer.echo(f"lighting rate {row['zone']:<8} {row['rate']:.2%} "
                   f"({row['lit']}/{row['expected']} lit)")
    engine = make_engine(settings.sql_url())
    try:
        alerts = AlertStore(engine).list_alerts(open_only=True)
    finally:
        engine.dispose()
    typer.echo(f"open alerts: {len(alerts)} (streetwatch alerts list)")
    for alert in alerts[:15]:
        typer.echo(f"  #{alert.id} {alert.severity:<6} {alert.kind:<17} {alert.subject:<22} "
                   f"{alert.message}")


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
    if settings.rules_metrics_port:
        rules = f"http://{settings.ingest_metrics_host}:{settings.rules_metrics_port}"
        typer.echo(f"The rule runner's counters: curl {rules}/metrics; open alerts: "
                   "streetwatch alerts list\n")


def print_api_key(settings: Settings) -> None:
    """A manager key for this demo, and how to use it (the key is shown only here)."""
    from api.keys import ApiKeyStore
    from streetwatch.registry.store import make_engine

    engine = make_engine(settings.sql_url())
    try:
        _, key = ApiKeyStore(engine).create("demo", "manager", None, time.time_ns() // 1_000_000)
    finally:
        engine.dispose()
    api = f"http://{settings.api_host}:{settings.api_port}"
    typer.echo(f"The HTTP API: {api}/docs (OpenAPI), with this demo's manager key:\n"
               f"  curl -H 'Authorization: Bearer {key}' {api}/api/v1/lighting-rate\n"
               f"  curl -H 'Authorization: Bearer {key}' '{api}/api/v1/alerts?state=open'\n"
               f"  (docs/api.md has the rest)\n"
               f"The crew console (sign in with the key): {api}/console, and the monthly report "
               f"page: {api}/console/report\n")


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
