"""`streetwatch simulate`: build a seeded fleet and publish its readings to the broker.

Two hooks reach into the rest of the system and are meant to be rewired: `resolve_passwords`
(gateway credentials) and `register_fleet` (write the fleet to the SQL registry).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from simulators.fleet import Fleet, build_fleet
from simulators.publisher import (
    MAX_BATCH_ITEMS,
    PublishOptions,
    PublishSummary,
    publish_simulation,
)
from simulators.readings import LampSchedule, ReadingModel, plan_lamp_failures, schedule_reports
from streetwatch.errors import ConfigError, StreetwatchError

if TYPE_CHECKING:
    from streetwatch.settings import Settings

PasswordsHook = Callable[["Settings", Sequence[str]], dict[str, str]]
RegisterHook = Callable[["Settings", Fleet], None]


# Hooks ------------------------------------------------------------------------------------------
def resolve_passwords(
    settings: Settings, gateway_ids: Sequence[str], passwords_file: Path | None = None
) -> dict[str, str]:
    """Each gateway's MQTT password: from `passwords_file` (JSON {gateway: password}), or, for the
    local broker of `streetwatch services up`, provisioned there (accounts made if missing)."""
    if passwords_file is None and settings.uses_local_mqtt:
        from streetwatch.services import ensure_gateways

        return ensure_gateways(settings, gateway_ids)
    if passwords_file is None:
        raise ConfigError(
            "the simulator needs MQTT credentials for gateways "
            f"{', '.join(gateway_ids)}: pass --passwords-file FILE (JSON {{gateway: password}})"
        )
    return load_passwords_file(passwords_file, gateway_ids)


def load_passwords_file(path: Path, gateway_ids: Sequence[str]) -> dict[str, str]:
    """Read a JSON object {gateway: password}; every gateway must be present."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the passwords file {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(f"{path} must hold a JSON object mapping gateway ids to passwords")
    missing = [gw for gw in gateway_ids if gw not in data]
    if missing:
        raise ConfigError(f"{path} has no password for gateway(s): {', '.join(missing)}")
    return {gw: data[gw] for gw in gateway_ids}


def register_fleet(settings: Settings, fleet: Fleet) -> None:
    """Upsert the fleet's lamps, drains and gauges into the SQL registry."""
    from sqlalchemy.exc import SQLAlchemyError

    from streetwatch.registry.store import make_engine, upsert_devices

    engine = make_engine(settings.sql_url())
    try:
        upsert_devices(engine, *fleet.registry_rows())
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        raise ConfigError(
            f"cannot register the fleet ({type(exc).__name__}: {cause}); "
            "is the registry migrated (`streetwatch db upgrade`)?"
        ) from None
    finally:
        engine.dispose()


# The run ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimulationConfig:
    """The command's options, validated."""

    gateways: int = 4
    lamps: int = 100
    drains: int = 10
    gauges: int | None = None
    rate: float = 0.0
    seed: int = 1
    duration_s: float | None = None
    rounds: int | None = None
    interval_s: float = 60.0
    backfill_s: float = 86_400.0
    batch: int = 1
    fail_share: float = 0.02
    register: bool = False

    def __post_init__(self) -> None:
        checks = {
            "--gateways must be >= 1": self.gateways >= 1,
            "--lamps, --drains and --gauges must be >= 0":
                min(self.lamps, self.drains, self.gauges or 0) >= 0,
            "--rate must be >= 0 (0 = unlimited)": self.rate >= 0,
            "--duration must be > 0": self.duration_s is None or self.duration_s > 0,
            "--rounds must be >= 1": self.rounds is None or self.rounds >= 1,
            "--interval must be >= 0.001 s": self.interval_s >= 0.001,
            "--backfill must be >= 0": self.backfill_s >= 0,
            f"--batch must be between 1 and {MAX_BATCH_ITEMS}": 1 <= self.batch <= MAX_BATCH_ITEMS,
            "--fail-share must be between 0 and 1": 0 <= self.fail_share <= 1,
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ConfigError("; ".join(failed))


def run_simulation(
    config: SimulationConfig,
    settings: Settings,
    passwords: PasswordsHook,
    register: RegisterHook = register_fleet,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.time,
) -> PublishSummary:
    """Build the fleet, optionally register it, and publish until rounds/duration/stop."""
    fleet = build_fleet(config.seed, config.gateways, config.lamps, config.drains, config.gauges)
    if config.register:
        register(settings, fleet)
    start_ms = int((clock() - config.backfill_s) * 1000)
    interval_ms = max(1, round(config.interval_s * 1000))
    failures = plan_lamp_failures(
        fleet.lamps, config.seed, config.fail_share, start_ms, int(config.backfill_s * 1000)
    )
    # The default fleet stands around 31.23 N 121.47 E (UTC+8): lamps follow local dusk and dawn.
    model = ReadingModel(config.seed, interval_ms, LampSchedule(utc_offset_h=8), failures)
    endpoint = settings.mqtt_endpoint()
    return publish_simulation(
        fleet, model, schedule_reports(fleet, start_ms, interval_ms, config.rounds),
        host=endpoint.host, port=endpoint.port,
        passwords=passwords(settings, fleet.gateways),
        options=PublishOptions(batch_size=config.batch, rate=config.rate, tls=endpoint.tls),
        duration_s=config.duration_s, stop=stop, clock=clock,
    )


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set `stop` (publishing ends, acks are awaited); a second one interrupts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# The command ------------------------------------------------------------------------------------
def simulate(
    gateways: Annotated[int, typer.Option(help="Gateways (one zone each).")] = 4,
    lamps: Annotated[int, typer.Option(help="Lamps over all gateways.")] = 100,
    drains: Annotated[int, typer.Option(help="Drain-level sensors over all gateways.")] = 10,
    gauges: Annotated[int | None, typer.Option(help="Rain gauges [one per gateway].")] = None,
    rate: Annotated[float, typer.Option(help="Messages/s over all gateways; 0 = no cap.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Same seed, same fleet and readings.")] = 1,
    duration: Annotated[float | None, typer.Option(help="Stop after N wall seconds.")] = None,
    rounds: Annotated[int | None, typer.Option(help="Stop after N report rounds.")] = None,
    interval: Annotated[float, typer.Option(help="Simulated s between a device's reports.")] = 60.0,
    backfill: Annotated[float, typer.Option(help="Start N s in the past (catch-up).")] = 86_400.0,
    batch: Annotated[int, typer.Option(help="Readings per message; > 1: .../batch topics.")] = 1,
    fail_share: Annotated[float, typer.Option(help="Share of lamps that fail.")] = 0.02,
    passwords_file: Annotated[Path | None, typer.Option(help="JSON {gateway: password}.")] = None,
    summary_json: Annotated[Path | None, typer.Option(help="Also write the summary here.")] = None,
    register: Annotated[
        bool, typer.Option(help="Upsert the fleet into the registry first.")
    ] = False,
    scenario: Annotated[Path | None, typer.Option(
        help="Publish this labelled scenario (docs/scenarios.md) instead of a seeded fleet: its "
             "lamps are registered, the fleet options are ignored.")] = None,
    anchor: Annotated[str | None, typer.Option(
        help="RFC 3339 instant of the scenario's start (default: its duration + 2 min before "
             "now, on the minute).")] = None,
) -> None:
    """Simulate lamps, drains and rain gauges publishing over MQTT; Ctrl-C ends it gracefully."""
    from streetwatch.settings import load_settings

    if scenario is not None:
        simulate_scenario(scenario, anchor, passwords_file, summary_json)
        return
    if anchor is not None:
        raise typer.BadParameter("--anchor goes with --scenario", param_hint="--anchor")
    try:
        config = SimulationConfig(
            gateways=gateways, lamps=lamps, drains=drains, gauges=gauges, rate=rate, seed=seed,
            duration_s=duration, rounds=rounds, interval_s=interval, backfill_s=backfill,
            batch=batch, fail_share=fail_share, register=register,
        )
        settings = load_settings()
        stop = threading.Event()
        with stop_on_signals(stop):
            summary = run_simulation(
                config, settings,
                lambda s, ids: resolve_passwords(s, ids, passwords_file),
                register_fleet, stop,
            )
    except StreetwatchError as exc:
        typer.echo(f"simulate: {exc}", err=True)
        raise typer.Exit(code=1) from None
    print_summary(summary.to_dict(), summary_json)


def simulate_scenario(path: Path, anchor: str | None, passwords_file: Path | None,
                      summary_json: Path | None) -> None:
    """`simulate --scenario FILE [--anchor T]`: print the summary (with the anchor) and how to
    check it."""
    from simulators.scenario_publish import run_scenario
    from streetwatch.schemas import parse_timestamp_ms
    from streetwatch.settings import load_settings

    try:
        anchor_ms = None if anchor is None else parse_timestamp_ms(anchor)
    except ValueError as exc:
        raise typer.BadParameter(f"{exc} (e.g. 2026-11-23T17:00:00Z)",
                                 param_hint="--anchor") from None
    try:
        settings = load_settings()
        stop = threading.Event()
        with stop_on_signals(stop):
            summary = run_scenario(settings, path, anchor_ms,
                                   lambda s, ids: resolve_passwords(s, ids, passwords_file),
                                   stop=stop)
    except StreetwatchError as exc:
        typer.echo(f"simulate: {exc}", err=True)
        raise typer.Exit(code=1) from None
    print_summary(summary.to_dict(), summary_json)
    if summary.late_statuses:
        typer.echo(f"simulate: {summary.late_statuses} gateway status(es) went out late: the "
                   "ingester stamps statuses on receipt, so their labels will be missed "
                   "(leave --anchor out for scenarios with gateway_offline)", err=True)
    typer.echo(f"check it: streetwatch rules check {path} --anchor "
               f"{summary.to_dict()['anchor']}", err=True)


def print_summary(summary: dict, summary_json: Path | None) -> None:
    """The run's summary as one JSON line on stdout (and in `summary_json` when given)."""
    line = json.dumps(summary)
    if summary_json is not None:
        summary_json.write_text(line + "\n", encoding="utf-8")
    typer.echo(line)
