"""`streetwatch alerts list|ack|resolve|assign|comment`: crews and operators work alerts from a
shell.

Each action writes history and outbox rows like the API does (actor `cli` unless `--by` names the
crew); the rule runner delivers the outbox to webhooks and to the MQTT alert topic. Heavy imports
(SQLAlchemy, the store) happen inside the commands, so `streetwatch --help` stays fast.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from streetwatch.alerts.model import SEVERITIES, rfc3339_ms

if TYPE_CHECKING:
    from streetwatch.alerts.model import AlertEvent
    from streetwatch.alerts.records import StoredAlert
    from streetwatch.alerts.store import AlertStore

alerts_app = typer.Typer(help="Alerts: list, acknowledge, resolve, assign, comment.",
                         no_args_is_help=True)



def _actor(name: str) -> str:
    """--by: 1-64 printable characters, as the history's `actor` column holds."""
    from streetwatch.registry.models import ACTOR_LENGTH

    if 0 < len(name) <= ACTOR_LENGTH and name.isprintable():
        return name
    raise typer.BadParameter(f"must be 1-{ACTOR_LENGTH} printable characters")


ById = Annotated[str, typer.Option("--by", callback=_actor,
                                   help="Who does it: a crew name (default: cli).")]
AlertId = Annotated[int, typer.Argument(help="Alert id (see `streetwatch alerts list`).")]
COMMENT_CHARS = 2000  # as the API allows
COLUMNS = ("ID", "SEVERITY", "KIND", "SUBJECT", "ZONE", "AGE", "DEADLINE", "STATE")


@alerts_app.callback()
def alerts_group() -> None:
    """Alerts raised by the rule engine, as crews work them: raised, acknowledged, resolved."""


@alerts_app.command("list")
def alerts_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    all_alerts: Annotated[bool, typer.Option("--all", help="Resolved alerts too.")] = False,
    zone: Annotated[str | None, typer.Option("--zone", help="Only this zone.")] = None,
) -> None:
    """Open alerts (most urgent first), or all of them with --all."""
    with _store() as store:
        alerts = store.list_alerts(open_only=not all_alerts, zone=zone)
    if as_json:
        for alert in alerts:
            typer.echo(json.dumps(alert.as_json(), ensure_ascii=False))
    elif not alerts:
        typer.echo(f"no {'' if all_alerts else 'open '}alerts" + (f" in zone {zone}" if zone else ""))
    else:
        _print_table(alerts, _now_ms())


@alerts_app.command("ack")
def alerts_ack(alert_id: AlertId, by: ById = "cli") -> None:
    """Acknowledge an alert: the crew has taken it on (again: no change)."""
    _act(alert_id, "acknowledge", f"alert {alert_id} acknowledged by {by}",
         lambda store, now: store.acknowledge(alert_id, now, by))


@alerts_app.command("resolve")
def alerts_resolve(
    alert_id: AlertId,
    note: Annotated[str, typer.Option("--note", help="What was done (kept in the history).")],
    by: ById = "cli",
) -> None:
    """Resolve an alert with a note (again: no change); a condition that still holds recurs."""
    if not note.strip():
        _fail("--note must say what was done")
    _act(alert_id, "resolve", f"alert {alert_id} resolved by {by}",
         lambda store, now: store.resolve(alert_id, now, by, note))


@alerts_app.command("assign")
def alerts_assign(
    alert_id: AlertId,
    crew: Annotated[str, typer.Option("--crew", help="The crew that takes it on (an id).")],
    by: ById = "cli",
) -> None:
    """Give an open alert to a crew (again, or to another)."""
    from streetwatch.topics import is_valid_id

    if not is_valid_id(crew):
        _fail("--crew must match [A-Za-z0-9_.-]{1,64}")
    _act(alert_id, "assign", f"alert {alert_id} assigned to {crew} by {by}",
         lambda store, now: store.assign(alert_id, now, by, crew))


@alerts_app.command("comment")
def alerts_comment(
    alert_id: AlertId,
    text: Annotated[str, typer.Option("--text", help="The note (kept in the history).")],
    by: ById = "cli",
) -> None:
    """A note on an alert, open or resolved."""
    if not text.strip() or len(text) > COMMENT_CHARS:
        _fail(f"--text must say something, in at most {COMMENT_CHARS} characters")
    with _store() as store:
        event = store.comment(alert_id, _now_ms(), by, text.strip())
    if event is None:
        _fail(f"no alert with id {alert_id}")
    typer.echo(f"comment on alert {alert_id} by {by} recorded")


@contextmanager
def _store() -> Iterator[AlertStore]:
    """An AlertStore on the configured database (migrated first, as `devices import` does)."""
    from streetwatch.alerts.store import AlertStore
    from streetwatch.errors import StreetwatchError
    from streetwatch.registry.cli import migrated_engine
    from streetwatch.settings import load_settings

    try:
        settings = load_settings()
    except StreetwatchError as exc:
        _fail(str(exc))
    webhooks = [url.get_secret_value() for url in settings.alert_webhooks]
    with migrated_engine(settings.sql_url()) as engine:
        yield AlertStore(engine, webhooks)


def _act(alert_id: int, verb: str, done: str,
         change: Callable[[AlertStore, int], AlertEvent | None]) -> None:
    """Apply `change(store, now_ms)` to the alert: say `done`, or why nothing changed."""
    with _store() as store:
        event = change(store, _now_ms())
        alert = store.get(alert_id)
    if event is not None:
        typer.echo(done)
        return
    _explain_no_change(alert_id, alert, verb)


def _explain_no_change(alert_id: int, alert: StoredAlert | None, verb: str) -> None:
    """Why ack/resolve changed nothing; exit 1 unless it was done already (idempotent)."""
    if alert is None:
        _fail(f"no alert with id {alert_id}")
    assert alert is not None
    if verb == "acknowledge" and alert.acknowledged_at_ms is not None and alert.is_open:
        typer.echo(f"alert {alert_id} was already acknowledged by {alert.acknowledged_by} at "
                   f"{rfc3339_ms(alert.acknowledged_at_ms)}")
        return
    if alert.resolved_at_ms is not None:
        message = (f"alert {alert_id} was already resolved by {alert.resolved_by} at "
                   f"{rfc3339_ms(alert.resolved_at_ms)}")
        if verb == "resolve":
            typer.echo(message)
            return
        _fail(f"{message}; nothing to {verb}")
    _fail(f"alert {alert_id} could not be {verb}d")


def _print_table(alerts: list[StoredAlert], now_ms: int) -> None:
    """Aligned columns, most urgent first (red, yellow, blue), then oldest first."""
    ordered = sorted(alerts, key=lambda a: (not a.is_open, SEVERITIES.index(a.severity), a.id))
    rows = [COLUMNS, *(_row(alert, now_ms) for alert in ordered)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                   .rstrip())


def _row(alert: StoredAlert, now_ms: int) -> tuple[str, ...]:
    deadline = rfc3339_ms(alert.deadline_ms)[:16].replace("T", " ") + "Z"
    if alert.is_open:
        left_ms = alert.deadline_ms - now_ms
        deadline += f" (in {_span(left_ms)})" if left_ms >= 0 else f" ({_span(-left_ms)} late)"
    state = alert.state + (", overdue" if alert.overdue else "")
    return (str(alert.id), alert.severity, alert.kind, alert.subject, alert.zone,
            _span(now_ms - alert.raised_at_ms), deadline, state)


def _span(ms: int) -> str:
    """A duration for people: 45s, 12m, 3h05m, 2d04h."""
    seconds = max(ms, 0) // 1000
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60:
        return f"{seconds}s"
    if minutes < 60:
        return f"{minutes}m"
    if hours < 24:
        return f"{hours}h{minutes % 60:02d}m"
    return f"{days}d{hours % 24:02d}h"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


__all__ = ["alerts_app"]
