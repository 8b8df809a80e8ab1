"""Run the registry's Alembic migrations from code: no alembic.ini, works on SQLite and PostgreSQL.

`upgrade` is idempotent: at head it does nothing, so every process may call it on start.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from streetwatch.errors import ConfigError
from streetwatch.logs import log_event
from streetwatch.registry.store import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")

_log = logging.getLogger(__name__)


def alembic_config(sql_url: str | None = None) -> Config:
    """An Alembic config built in code; the URL travels in `attributes` (no '%' escaping needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if sql_url is not None:
        config.attributes["sql_url"] = sql_url
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of Streetwatch."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the registry ships at least one migration"
    return head


def current_revision(sql_url: str) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    engine = make_engine(sql_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade(sql_url: str, revision: str = "head") -> str | None:
    """Migrate the database at `sql_url` to `revision` in one transaction; return the new one."""
    config = alembic_config(sql_url)
    engine = make_engine(sql_url)
    try:
        with engine.begin() as conn:
            before = MigrationContext.configure(conn).get_current_revision()
            config.attributes["connection"] = conn
            _run_upgrade(config, revision, before)
            after = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    if after != before:
        log_event(_log, "registry.migrated", from_revision=before, to_revision=after)
    return after


def _run_upgrade(config: Config, revision: str, before: str | None) -> None:
    """Alembic's upgrade; an unknown revision (newer database, typo) becomes a ConfigError."""
    try:
        command.upgrade(config, revision)
    except CommandError as exc:
        raise ConfigError(f"cannot upgrade the database from revision {before or 'none'} to "
                          f"{revision}: {exc} (is the database newer than this Streetwatch?)"
                          ) from None


__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]
