"""Alembic environment for the registry, driven from code (`streetwatch.registry.migrate`).

Nothing is read from settings or alembic.ini here: the caller hands over an open connection in
`config.attributes["connection"]`, or a URL in `config.attributes["sql_url"]` or the
`sqlalchemy.url` main option.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from streetwatch.registry.models import Base
from streetwatch.registry.store import make_engine

config = context.config
target_metadata = Base.metadata


def _sql_url() -> str:
    url = config.attributes.get("sql_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set config.attributes['sql_url'] or sqlalchemy.url")
    return str(url)


def _run(connection: Connection) -> None:
    """Run the migrations on `connection`; batch mode lets later ALTERs work on SQLite."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Emit SQL to stdout (`alembic upgrade --sql`) instead of running it."""
    context.configure(url=_sql_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run on the caller's connection when given, else on a fresh engine for the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_sql_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
