"""`streetwatch api` (serve the HTTP API) and `streetwatch apikey create|list|revoke`.

Heavy imports happen inside the commands, so `streetwatch --help` stays fast. `apikey create`
prints the new key once, as the last line of its output: only its hash is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from api.keys import ApiKeyStore
    from streetwatch.settings import Settings

apikey_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address (default: settings "
                                                             "api_host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: settings api_port, "
                                                             "8080).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, max=64, help="Processes "
                                                "(default: settings api_workers, 1).")] = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs and /openapi.json)."""
    import uvicorn

    from streetwatch.logs import configure_logging
    from streetwatch.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    # By import string, so that each worker process builds its own app (api.app.app_from_env).
    uvicorn.run("api.app:app_from_env", factory=True, host=host or settings.api_host,
                port=settings.api_port if port is None else port,
                workers=settings.api_workers if workers is None else workers,
                proxy_headers=True, forwarded_allow_ips=settings.api_forwarded_allow_ips,
                access_log=False, log_config=None)  # api.request logs each call, keys left out


@apikey_app.callback()
def apikey_group() -> None:
    """Keys for the HTTP API, each with a role (viewer < crew < manager < admin)."""


@apikey_app.command("create")
def apikey_create(
    role: Annotated[str, typer.Option("--role", help="viewer, crew, manager or admin.")],
    name: Annotated[str, typer.Option("--name", help="Who holds it (a crew, a tool).")],
    zones: Annotated[str | None, typer.Option("--zones", help="Bind to these zones "
                                                              "(comma-separated).")] = None,
) -> None:
    """Create a key; the key is printed once, as the last line (store it now)."""
    from api.resources import wall_clock_ms

    bound = None if zones is None else [z.strip() for z in zones.split(",") if z.strip()]
    with _store() as store:
        try:
            record, key = store.create(name, role, bound, wall_clock_ms())
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    scope = "all zones" if record.zones is None else "zones " + ",".join(record.zones)
    typer.echo(f"created key {record.id} ({record.name}, {record.role}, {scope}); "
               "it is shown only now:")
    typer.echo(key)


@apikey_app.command("list")
def apikey_list() -> None:
    """Every key: id, name, role, zones, prefix, created, revoked (never the key)."""
    from streetwatch.alerts.model import rfc3339_ms

    with _store() as store:
        records = store.list()
    typer.echo("ID\tNAME\tROLE\tZONES\tPREFIX\tCREATED\tREVOKED")
    for r in records:
        typer.echo("\t".join((str(r.id), r.name, r.role, ",".join(r.zones or ("*",)), r.prefix,
                              rfc3339_ms(r.created_at_ms),
                              "-" if r.revoked_at_ms is None else rfc3339_ms(r.revoked_at_ms))))


@apikey_app.command("revoke")
def apikey_revoke(key_id: Annotated[int, typer.Argument(help="Key id (see `apikey list`).")]
                  ) -> None:
    """Revoke a key at once (its calls get 401 from the next request on)."""
    from api.resources import wall_clock_ms

    with _store() as store:
        if not store.revoke(key_id, wall_clock_ms()):
            typer.echo(f"no active key {key_id}", err=True)
            raise typer.Exit(1)
    typer.echo(f"revoked key {key_id}")


@contextmanager
def _store() -> Iterator[ApiKeyStore]:
    """The key store on the configured database (migrated to head first)."""
    from api.keys import ApiKeyStore
    from streetwatch.registry.cli import migrated_engine

    with migrated_engine(_settings().sql_url()) as engine:
        yield ApiKeyStore(engine)


def _settings() -> Settings:
    """The configured settings, or the reason they are not valid and exit code 1."""
    from streetwatch.errors import StreetwatchError
    from streetwatch.settings import load_settings

    try:
        return load_settings()
    except StreetwatchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


# Reports (mounted under `streetwatch report` by the CLI) -----------------------------------------
AtOption = Annotated[str | None, typer.Option("--at", help="As of this instant, RFC 3339 "
                                                           "(default: now).")]


def report_monthly(
    month: Annotated[str | None, typer.Option("--month", help="YYYY-MM, town local time "
                                                              "(default: this month).")] = None,
    at: AtOption = None,
    html: Annotated[Path | None, typer.Option("--html", metavar="FILE", dir_okay=False,
                                              help="Write the monthly report page (HTML, "
                                                   "the same as GET /reports/monthly) to FILE "
                                                   "instead of printing CSV.")] = None,
) -> None:
    """Monthly zone scores (CSV: zone, score, each part and the figures behind it), the same as
    GET /api/v1/scores/monthly?format=csv; with --html, the report page of /reports/monthly."""
    from api import query_params, report_page, report_page_html, score_board, score_inputs
    from api.score_tables import MONTHLY_COLUMNS, monthly_rows

    def chosen(settings, now_ms):  # noqa: ANN001, ANN202
        value = month or score_inputs.current_month(now_ms, _tz(settings))
        _check(value, query_params.MONTH_PATTERN, "--month", "YYYY-MM")
        return value

    def build(settings, engine, influx, now_ms):  # noqa: ANN001, ANN202
        scores = score_board.monthly_scores(settings, engine, _means(settings, influx),
                                            chosen(settings, now_ms), now_ms)
        return MONTHLY_COLUMNS, monthly_rows(scores)

    def page(settings, engine, influx, now_ms):  # noqa: ANN001, ANN202
        report = report_page.read_monthly_report(settings, engine, influx,
                                                 chosen(settings, now_ms), now_ms,
                                                 report_page.SERVER_SHELL)
        return report_page_html.render_monthly_page(report)

    if html is None:
        _print_report(build, at)
        return
    html.write_bytes(_report_text(page, at).encode("utf-8"))  # the bytes the API sends
    typer.echo(f"wrote {html}", err=True)


def report_quarterly(
    quarter: Annotated[str | None, typer.Option("--quarter", help="YYYY-Qn (default: this "
                                                                  "quarter).")] = None,
    at: AtOption = None,
) -> None:
    """Quarterly ranking of zones (CSV: rank, zone, score, the three monthly scores, on-time
    rate), the same as GET /api/v1/ranking/quarterly?format=csv."""
    from api import query_params, score_board, score_inputs
    from api.score_tables import QUARTERLY_COLUMNS, quarterly_rows

    def build(settings, engine, influx, now_ms):  # noqa: ANN001, ANN202
        chosen = quarter or score_inputs.current_quarter(now_ms, _tz(settings))
        _check(chosen, query_params.QUARTER_PATTERN, "--quarter", "YYYY-Qn")
        _, ranked = score_board.quarterly_ranking(settings, engine, _means(settings, influx),
                                                  chosen, now_ms)
        return QUARTERLY_COLUMNS, quarterly_rows(ranked)

    _print_report(build, at)


def _print_report(build, at: str | None) -> None:  # noqa: ANN001
    """`build(settings, engine, influx, now_ms)`'s (columns, rows) printed as CSV exactly as the
    API answers it."""
    from streetwatch.safe_csv import csv_text

    typer.echo(_report_text(lambda *args: csv_text(*build(*args)), at), nl=False)


def _report_text(build, at: str | None) -> str:  # noqa: ANN001
    """Settings, SQL and InfluxDB for `build(settings, engine, influx, now_ms)`; its text."""
    from api.resources import wall_clock_ms
    from streetwatch.influx import InfluxClient
    from streetwatch.registry.cli import migrated_engine
    from streetwatch.schemas import parse_timestamp_ms

    try:
        now_ms = wall_clock_ms() if at is None else parse_timestamp_ms(at)
    except ValueError as exc:
        raise typer.BadParameter(f"--at: {exc} (e.g. 2026-11-30T12:00:00Z)") from None
    settings = _settings()
    with (migrated_engine(settings.sql_url()) as engine,
          InfluxClient.from_settings(settings) as influx):
        return build(settings, engine, influx, now_ms)


def _check(value: str, pattern: str, option: str, shape: str) -> None:
    import re

    if not re.fullmatch(pattern, value):
        raise typer.BadParameter(f"{option} must be {shape}, not {value!r}")


def _tz(settings):  # noqa: ANN001, ANN202
    from zoneinfo import ZoneInfo

    return ZoneInfo(settings.town_timezone)


def _means(settings, influx):  # noqa: ANN001, ANN202
    from api.score_board import lighting_means

    return lighting_means(settings, influx)
