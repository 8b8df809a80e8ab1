"""`streetwatch dashboards export DIR` and `streetwatch dashboards push` (docs/dashboards.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from dashboards.provisioning import DEFAULT_DASHBOARDS_PATH

DATASOURCE_URL_HELP = "InfluxDB as Grafana reaches it (default: the settings' InfluxDB URL)."
dashboards_app = typer.Typer(help="Grafana dashboards: export files, push to Grafana.",
                             no_args_is_help=True)


@dashboards_app.callback()
def dashboards_group() -> None:
    """Grafana dashboards as code."""


@dashboards_app.command("export")
def export(
    directory: Annotated[Path, typer.Argument(
        help="Where to write provisioning/ and dashboards/.")],
    datasource_url: Annotated[str | None, typer.Option(
        "--datasource-url", help=DATASOURCE_URL_HELP)] = None,
    dashboards_path: Annotated[str, typer.Option(
        "--dashboards-path",
        help="Where the Grafana container sees DIR/dashboards (the provider's path).")]
        = DEFAULT_DASHBOARDS_PATH,
) -> None:
    """Board JSON plus Grafana provisioning files (datasource with InfluxQL, dashboard provider);
    InfluxDB credentials are left to Grafana's environment ($__env{...}), never written."""
    from dashboards.boards import BoardSettings, all_boards
    from dashboards.provisioning import export_files

    settings = _settings()
    files = export_files(all_boards(BoardSettings.from_settings(settings)),
                         datasource_url or settings.influx_base_url(), settings.influx_db,
                         settings.grafana_folder, dashboards_path)
    for relative, content in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        typer.echo(str(path))


@dashboards_app.command("push")
def push(
    datasource_url: Annotated[str | None, typer.Option(
        "--datasource-url", help=DATASOURCE_URL_HELP)] = None,
) -> None:
    """Create or update the folder, the InfluxDB datasource and every board in the Grafana at
    STREETWATCH_GRAFANA_URL with STREETWATCH_GRAFANA_TOKEN (a service-account token; creating
    the datasource needs the Admin role). Running it twice changes nothing the second time."""
    from dashboards.boards import BoardSettings, all_boards
    from dashboards.provisioning import datasource_model
    from dashboards.push import GrafanaPush, PushError

    settings = _settings()
    token = settings.grafana_token.get_secret_value() if settings.grafana_token else None
    if not token and urlsplit(settings.grafana_url).password is None:
        _fail("STREETWATCH_GRAFANA_TOKEN is not set: create a service account in Grafana "
              "(Administration > Users and access > Service accounts, role Admin), add a token "
              "and set it")
    model = datasource_model(datasource_url or settings.influx_base_url(), settings.influx_db)
    if settings.influx_username:
        model["user"] = settings.influx_username
    if settings.influx_password is not None:
        model["secureJsonData"] = {"password": settings.influx_password.get_secret_value()}
    try:
        lines = GrafanaPush.connect(settings.grafana_url, token).run(
            settings.grafana_folder, model, all_boards(BoardSettings.from_settings(settings)))
    except PushError as exc:
        _fail(str(exc))
    for line in lines:
        typer.echo(line)


def _settings():  # noqa: ANN202 - Settings, imported late (fast --help)
    from streetwatch.errors import ConfigError
    from streetwatch.settings import load_settings

    try:
        return load_settings()
    except ConfigError as exc:
        _fail(str(exc))


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
