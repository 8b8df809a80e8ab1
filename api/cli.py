"""`streetwatch api` (serve the HTTP API) and `streetwatch apikey create|list|revoke`.

Heavy imports happen inside the commands, so `streetwatch --help` stays fast. `apikey create`
prints the new key once, as the last line of its output: only its hash is stored.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from api.keys import ApiKeyStore

apikey_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address (default: settings "
                                                             "api_host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: settings api_port, "
                                                             "8080).")] = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs and /openapi.json)."""
    import uvicorn

    from api.app import create_app
    from streetwatch.logs import configure_logging
    from streetwatch.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    uvicorn.run(create_app(settings), host=host or settings.api_host,
                port=settings.api_port if port is None else port,
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
    bound = None if zones is None else [z.strip() for z in zones.split(",") if z.strip()]
    with _store() as store:
        try:
            record, key = store.create(name, role, bound, _now_ms())
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
    with _store() as store:
        if not store.revoke(key_id, _now_ms()):
            typer.echo(f"no active key {key_id}", err=True)
            raise typer.Exit(1)
    typer.echo(f"revoked key {key_id}")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@contextmanager
def _store() -> Iterator[ApiKeyStore]:
    """The key store on the configured database (migrated to head first)."""
    from api.keys import ApiKeyStore
    from streetwatch.errors import StreetwatchError
    from streetwatch.registry import migrate
    from streetwatch.registry.cli import database_errors
    from streetwatch.registry.store import make_engine
    from streetwatch.settings import load_settings

    try:
        url = load_settings().sql_url()
    except StreetwatchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    with database_errors(url):
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            yield ApiKeyStore(engine)
        finally:
            engine.dispose()
