"""`streetwatch services up|down|status`: the local Mosquitto and influxd (never prints secrets)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from streetwatch.errors import StreetwatchError
from streetwatch.services import ServicesStatus, services_down, services_status, services_up
from streetwatch.settings import Settings, load_settings

services_app = typer.Typer(
    help="Local Mosquitto and InfluxDB (each skipped when its URL is configured).",
    no_args_is_help=True,
)


def _run(action: Callable[[Settings], ServicesStatus]) -> ServicesStatus:
    """Load settings, run `action`, print each service's line; errors become exit status 1."""
    try:
        status = action(load_settings())
    except StreetwatchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for line in status.lines():
        typer.echo(line)
    return status


def _split_ids(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


@services_app.command("up")
def up(
    gateways: Annotated[
        str, typer.Option(help="Comma-separated gateway ids to provision broker accounts for.")
    ] = "",
) -> None:
    """Start the local services that are not external; says 'already running' when they are."""
    ids = _split_ids(gateways)
    status = _run(lambda settings: services_up(settings, ids))
    for service in (status.mqtt, status.influx):
        if not service.external and not service.started:
            typer.echo(f"{service.name}: already running")
    if ids:
        typer.echo(
            f"gateway accounts ready: {', '.join(ids)} (passwords: state dir credentials.json)"
        )


@services_app.command("down")
def down() -> None:
    """Stop the local services (external ones are left alone)."""
    _run(services_down)


@services_app.command("status")
def status() -> None:
    """Show the URLs in use (no passwords), which services are external, and what runs."""
    _run(services_status)
