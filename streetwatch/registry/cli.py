"""`streetwatch db ...` and `streetwatch devices ...`: schema upgrades and the CSV device import.

`devices import` upgrades the schema first: `upgrade` is idempotent and cheap at head, and an
operator loading devices into a fresh install should not need a second command to remember.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from streetwatch.errors import StreetwatchError
from streetwatch.influx_retention import upgrade_influx
from streetwatch.registry import migrate
from streetwatch.registry.csv_import import ImportReport, import_devices_csv
from streetwatch.registry.store import make_engine
from streetwatch.settings import load_settings, redact_url

db_app = typer.Typer(help="The SQL database: schema migrations (and InfluxDB retention).",
                     no_args_is_help=True)
devices_app = typer.Typer(help="The device registry: lamps, drains, rain gauges.",
                          no_args_is_help=True)


@db_app.callback()
def db_group() -> None:
    """The SQL database (SQLite file by default, PostgreSQL via STREETWATCH_DATABASE_URL)."""


@devices_app.callback()
def devices_group() -> None:
    """The device registry: lamps, drains and rain gauges with their gateway and zone."""


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or upgrade the registry tables, then InfluxDB's retention policies and hourly
    continuous queries (docs/deploy.md); safe to run again: what is up to date is left alone."""
    settings = load_settings()
    sql_url = settings.sql_url()
    with database_errors(sql_url):
        before = migrate.current_revision(sql_url)
        after = migrate.upgrade(sql_url, revision)
    change = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    typer.echo(f"database {redact_url(sql_url)}: {change} revision {after}")
    with database_errors(sql_url):
        typer.echo(upgrade_influx(settings))


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision and the newest one this version ships."""
    sql_url = load_settings().sql_url()
    with database_errors(sql_url):
        current = migrate.current_revision(sql_url)
    typer.echo(f"database {redact_url(sql_url)}: revision {current or 'none (empty)'}, "
               f"head {migrate.head_revision()}")


@devices_app.command("import")
def devices_import(
    file: Annotated[Path, typer.Argument(help="Devices CSV file (see docs/devices-csv.md).")],
) -> None:
    """Insert or update devices from a CSV file; if any row is bad, import nothing."""
    sql_url = load_settings().sql_url()
    with database_errors(sql_url):
        migrate.upgrade(sql_url)
        engine = make_engine(sql_url)
        try:
            report = import_devices_csv(engine, file)
        finally:
            engine.dispose()
    _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: ImportReport) -> None:
    """Counts on stdout; on failure every `line N: message` on stderr."""
    if report.counts is not None:
        c = report.counts
        typer.echo(f"imported {c.lamps} lamps, {c.drains} drains, {c.gauges} rain gauges "
                   f"from {report.path} ({c.inserted} new, {c.updated} updated)")
        return
    for error in report.errors:
        typer.echo(str(error), err=True)
    typer.echo(f"{len(report.errors)} error(s) in {report.path}; nothing was imported. "
               f"Fix the file and run the import again.", err=True)


@contextmanager
def database_errors(sql_url: str) -> Iterator[None]:
    """Turn configuration and database failures into one clear line and exit code 1."""
    try:
        yield
    except StreetwatchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except SQLAlchemyError as exc:
        first_line = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"])[0]
        typer.echo(f"error: database {redact_url(sql_url)}: {first_line}", err=True)
        raise typer.Exit(1) from None


@contextmanager
def migrated_engine(sql_url: str) -> Iterator[Engine]:
    """An engine on `sql_url`, its schema upgraded to head first (cheap when at head), disposed
    after; failures on the way and inside become one line and exit code 1 (database_errors)."""
    with database_errors(sql_url):
        migrate.upgrade(sql_url)
        engine = make_engine(sql_url)
        try:
            yield engine
        finally:
            engine.dispose()


__all__ = ["database_errors", "db_app", "devices_app", "migrated_engine"]
