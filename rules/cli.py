"""`streetwatch report ...`: reports from the series the rule engine stores (DESIGN s.6).

`report lighting --month YYYY-MM` reads the `lighting_rate` samples of every zone from InfluxDB
(InfluxQL, one zone at a time so memory stays one zone-month) and writes the month per zone as CSV,
with the definitions of rules/reports.py. Settings, InfluxDB and the schedule are imported inside
the command, so `streetwatch --help` stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rules.config import LIVE_WARM_UP_S, REPLAY_WARM_UP_S

if TYPE_CHECKING:
    from streetwatch.influx import InfluxClient
    from streetwatch.settings import Settings

report_app = typer.Typer(help="Reports: monthly lighting rate per zone (CSV).",
                         no_args_is_help=True)


@report_app.callback()
def report_group() -> None:
    """Reports for managers, as CSV."""


def _month(value: str) -> str:
    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", value):
        raise typer.BadParameter("must be YYYY-MM, e.g. 2025-01")
    return value


@report_app.command("lighting")
def lighting(
    month: Annotated[str, typer.Option("--month", callback=_month,
                                       help="Month in town local time, YYYY-MM.")],
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="CSV file to write (default: stdout).")] = None,
) -> None:
    """Lighting rate per zone for a month: nights, time-weighted mean, worst night, minutes
    below target (CSV: zone,nights,mean_rate,worst_night,worst_night_rate,minutes_below_target)."""
    from streetwatch.errors import StreetwatchError
    from streetwatch.influx import InfluxClient
    from streetwatch.settings import load_settings

    try:
        settings = load_settings()
        with InfluxClient.from_settings(settings) as influx:
            text = lighting_report(settings, influx, month)
    except StreetwatchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


def lighting_report(settings: Settings, influx: InfluxClient, month: str) -> str:
    """The month's CSV from the stored `lighting_rate` samples of every zone."""
    from zoneinfo import ZoneInfo

    from rules.reports import RateSample, lighting_csv, lighting_month_of
    from rules.schedule import LightsOnSchedule
    from streetwatch.lighting_samples import samples_by_zone

    rows = lighting_month_of(lambda a, b: samples_by_zone(influx, a, b, RateSample),
                             LightsOnSchedule.from_settings(settings), month,
                             ZoneInfo(settings.town_timezone), settings.rules_every_s,
                             settings.zone_target)
    return lighting_csv(rows)


@report_app.command("drains")
def drains(
    start: Annotated[str, typer.Option("--from", help="Start, RFC 3339 (e.g. 2026-11-01T00:00:00Z).")],
    end: Annotated[str, typer.Option("--to", help="End (exclusive), RFC 3339.")],
    output: Annotated[Path | None, typer.Option("--out", "--output", "-o",
                                                help="CSV file to write (default: stdout).")] = None,
) -> None:
    """Per drain over [--from, --to): readings, highest level, minutes above its band, minutes
    its zone was wet, drain alerts raised (CSV: drain,zone,readings,max_level_cm,
    minutes_above_band,minutes_wet,alerts,alert_kinds,band). Definitions: rules/drain_reports.py."""
    from rules.drain_report_sources import drains_report_csv

    from_ms, to_ms = _moment_ms(start), _moment_ms(end)
    if to_ms <= from_ms:
        raise typer.BadParameter("--to must be after --from")
    _write_report(lambda settings, influx: drains_report_csv(settings, influx, from_ms, to_ms),
                  output)


@report_app.command("dredging")
def dredging(
    at: Annotated[str | None, typer.Option("--at", help="As of this instant, RFC 3339 "
                                           "(default: now); its local day is left out.")] = None,
    weeks: Annotated[int, typer.Option("--weeks", min=2, max=52,
                                       help="Whole weeks of dry-weather baselines to compare.")
                     ] = 4,
    output: Annotated[Path | None, typer.Option("--out", "--output", "-o",
                                                help="CSV file to write (default: stdout).")] = None,
) -> None:
    """Pre-storm dredging list: drains ranked by how fast their dry-weather baseline creeps up,
    with the evidence (CSV: rank,drain,zone,creep_cm_per_week,rise_cm,latest_baseline_cm,
    overflow_cm,capacity_used_pct,weeks_to_overflow,weekly_baseline_cm,dry_days,flag)."""
    import time

    from rules.drain_report_sources import dredging_report_csv

    at_ms = int(time.time() * 1000) if at is None else _moment_ms(at)
    _write_report(lambda settings, influx: dredging_report_csv(settings, influx, at_ms, weeks),
                  output)


def _write_report(build: Callable[[Settings, InfluxClient], str], output: Path | None) -> None:
    """Run `build` with the settings and an InfluxDB client; CSV to `output` or stdout.
    Configuration, InfluxDB and SQL failures end as one `error:` line and exit code 1."""
    from streetwatch.influx import InfluxClient
    from streetwatch.registry.cli import database_errors
    from streetwatch.settings import load_settings

    settings = load_settings()
    with database_errors(settings.sql_url()), InfluxClient.from_settings(settings) as influx:
        text = build(settings, influx)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


rules_app = typer.Typer(help="The rule engine: live runner, replay, scenario check.")


def _moment_ms(value: str) -> int:
    """RFC 3339 text with a zone (`Z` accepted) -> epoch ms, as the wire contract reads it."""
    from streetwatch.schemas import parse_timestamp_ms

    try:
        return parse_timestamp_ms(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{exc} (e.g. 2026-11-23T18:00:00Z)") from None


@rules_app.callback(invoke_without_command=True)
def rules_live(
    context: typer.Context,
    every: Annotated[int | None, typer.Option("--every", min=1,
                                              help="Tick period in seconds (default: settings).")
                     ] = None,
    warm_up: Annotated[int, typer.Option("--warm-up", min=0,
                                         help="Seconds of stored readings to rebuild from.")
                       ] = LIVE_WARM_UP_S,
) -> None:
    """Run the live rule engine (without a subcommand): rebuild from storage, then follow MQTT."""
    if context.invoked_subcommand is not None:
        return
    from rules.service import run_rules
    from streetwatch.logs import configure_logging
    from streetwatch.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    run_rules(settings, every or settings.rules_every_s, warm_up)


@rules_app.command("replay")
def replay(
    start: Annotated[str, typer.Option("--from", help="Start, RFC 3339 (e.g. 2026-11-01T00:00:00Z).")],
    end: Annotated[str, typer.Option("--to", help="End (exclusive), RFC 3339.")],
    every: Annotated[int, typer.Option("--every", min=1, help="Tick period in seconds.")] = 60,
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="JSON-lines file (default: stdout).")] = None,
    warm_up: Annotated[int, typer.Option("--warm-up", min=0,
                                         help="Seconds before --from to start the core at.")
                       ] = REPLAY_WARM_UP_S,
) -> None:
    """What the rules would have raised: alert events and lighting rates as JSON lines, from the
    registry and stored readings. Writes nothing to SQL, InfluxDB or MQTT."""
    import sys

    from rules.stored_replay import write_replay
    from streetwatch.errors import StreetwatchError
    from streetwatch.settings import load_settings

    from_ms, to_ms = _moment_ms(start), _moment_ms(end)
    if to_ms <= from_ms:
        raise typer.BadParameter("--to must be after --from")
    try:
        settings = load_settings()
        if output is None:
            write_replay(settings, from_ms, to_ms, every, sys.stdout, warm_up)
        else:
            with output.open("w", encoding="utf-8") as out:
                write_replay(settings, from_ms, to_ms, every, out, warm_up)
    except StreetwatchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@rules_app.command("check")
def check(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML (simulators/scenarios/).")],
    anchor: Annotated[str, typer.Option("--anchor", help="The anchor `streetwatch simulate "
                                        "--scenario` printed, RFC 3339.")],
) -> None:
    """Replay a published scenario from storage and print each label as met or MISSED (exit 1 on
    a miss). Judges every lamp in the registry: use a registry holding only the scenario's."""
    from rules.scenario_check import check_stored, print_results
    from streetwatch.errors import StreetwatchError
    from streetwatch.settings import load_settings

    try:
        met = print_results(check_stored(load_settings(), scenario, _moment_ms(anchor)))
    except StreetwatchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if not met:
        raise typer.Exit(1)


__all__ = ["lighting_report", "report_app", "rules_app"]
