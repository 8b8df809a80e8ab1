"""`streetwatch alerts list|ack|resolve` through the real root command, on a real SQLite file."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from streetwatch.alerts.model import Condition, Place
from streetwatch.alerts.store import AlertStore
from streetwatch.cli import app
from streetwatch.registry import migrate
from streetwatch.registry.models import AlertOutbox
from streetwatch.registry.store import make_engine

HOUR = 3_600_000
HOOK = "https://hooks.example/cli?token=s3cret"


class Seeded:
    """The database file, the store on it, and the alerts the tests act on."""

    def __init__(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path / 'streetwatch.db'}"
        migrate.upgrade(self.url)
        self.engine = make_engine(self.url)
        self.store = AlertStore(self.engine)
        now = time.time_ns() // 1_000_000
        self.yellow = self.raise_("lamp:L1", "lamp_out", "north", "yellow", now - 2 * HOUR,
                                  now + 70 * HOUR)
        self.red = self.raise_("cabinet:C9", "cabinet_failure", "south", "red", now - 3 * HOUR,
                               now - HOUR)
        self.done = self.raise_("lamp:L5", "lamp_fault", "north", "blue", now - 5 * HOUR,
                                now + 100 * HOUR)
        self.store.resolve(self.done, now - 4 * HOUR, "crew-north", "swapped the driver")
        self.seeded_outbox = len(self.outbox_events(seeding=True))

    def raise_(self, subject: str, kind: str, zone: str, severity: str, at_ms: int,
               deadline_ms: int) -> int:
        condition = Condition(kind, subject, zone, (subject.split(":")[1],),  # type: ignore[arg-type]
                              f"{subject} needs a crew", Place("Main St", 1))
        event = self.store.raise_alert(condition, at_ms, severity, deadline_ms)  # type: ignore[arg-type]
        assert event is not None and event.id is not None
        return event.id

    def outbox_events(self, seeding: bool = False) -> list[tuple[str, str]]:
        """(target, event) of the outbox rows written after the seeding."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(AlertOutbox.target, AlertOutbox.payload)
                                .order_by(AlertOutbox.id)).all()
        rows = rows if seeding else rows[self.seeded_outbox:]
        return [(target, json.loads(payload)["event"]) for target, payload in rows]


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Seeded]:
    monkeypatch.chdir(tmp_path)  # no stray streetwatch.toml from the working directory
    seeded = Seeded(tmp_path)
    yield seeded
    seeded.engine.dispose()


@pytest.fixture
def runner(seeded: Seeded) -> CliRunner:
    return CliRunner(env={"STREETWATCH_DATABASE_URL": seeded.url, "STREETWATCH_CONFIG": None,
                          "STREETWATCH_ALERT_WEBHOOKS": json.dumps([HOOK])})


def test_list_shows_open_alerts_most_urgent_first(runner: CliRunner, seeded: Seeded) -> None:
    result = runner.invoke(app, ["alerts", "list"])

    assert result.exit_code == 0, result.output
    header, first, second = result.stdout.splitlines()
    assert header.split() == ["ID", "SEVERITY", "KIND", "SUBJECT", "ZONE", "AGE", "DEADLINE",
                              "STATE"]
    assert first.split()[:6] == [str(seeded.red), "red", "cabinet_failure", "cabinet:C9", "south",
                                 "3h00m"]
    assert "(1h00m late)" in first and first.endswith("raised")
    assert second.split()[:6] == [str(seeded.yellow), "yellow", "lamp_out", "lamp:L1", "north",
                                  "2h00m"]
    assert "(in 2d" in second and second.rstrip().endswith("raised")


def test_list_json_all_and_zone(runner: CliRunner, seeded: Seeded) -> None:
    everything = runner.invoke(app, ["alerts", "list", "--json", "--all"])
    north_open = runner.invoke(app, ["alerts", "list", "--json", "--zone", "north"])
    east = runner.invoke(app, ["alerts", "list", "--zone", "east"])

    lines = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [a["id"] for a in lines] == [seeded.yellow, seeded.red, seeded.done]
    assert lines[2]["state"] == "resolved" and lines[2]["resolve_note"] == "swapped the driver"
    assert lines[0]["place"] == {"road": "Main St", "position": 1, "lat": None, "lon": None}
    assert lines[0]["deadline"].endswith("Z") and lines[0]["devices"] == ["L1"]
    assert [json.loads(line)["id"] for line in north_open.stdout.splitlines()] == [seeded.yellow]
    assert east.exit_code == 0 and east.stdout == "no open alerts in zone east\n"


def test_ack_then_resolve_write_history_and_outbox(runner: CliRunner, seeded: Seeded) -> None:
    ack = runner.invoke(app, ["alerts", "ack", str(seeded.yellow), "--by", "crew-north"])
    ack_again = runner.invoke(app, ["alerts", "ack", str(seeded.yellow)])
    resolve = runner.invoke(app, ["alerts", "resolve", str(seeded.yellow), "--note",
                                  "new lamp head", "--by", "crew-north"])
    resolve_again = runner.invoke(app, ["alerts", "resolve", str(seeded.yellow), "--note", "x"])

    assert ack.exit_code == 0 and ack.stdout == f"alert {seeded.yellow} acknowledged by crew-north\n"
    assert ack_again.exit_code == 0
    assert f"alert {seeded.yellow} was already acknowledged by crew-north at" in ack_again.stdout
    assert resolve.exit_code == 0 and resolve.stdout == f"alert {seeded.yellow} resolved by crew-north\n"
    assert resolve_again.exit_code == 0 and "was already resolved by crew-north" in resolve_again.stdout
    history = seeded.store.history(seeded.yellow)
    assert [(h.event, h.actor) for h in history] == [
        ("raised", "rules"), ("acknowledged", "crew-north"), ("resolved", "crew-north")]
    assert history[-1].detail == "new lamp head"
    mqtt = "mqtt:streetwatch/alerts/north/yellow"  # published by the rule runner (docs/alerts.md)
    assert seeded.outbox_events() == [(HOOK, "acknowledged"), (mqtt, "acknowledged"),
                                      (HOOK, "resolved"), (mqtt, "resolved")]
    assert "s3cret" not in ack.output + resolve.output


def test_assign_and_comment_are_recorded_and_announced(runner: CliRunner,
                                                       seeded: Seeded) -> None:
    assign = runner.invoke(app, ["alerts", "assign", str(seeded.red), "--crew", "crew-south",
                                 "--by", "office"])
    comment = runner.invoke(app, ["alerts", "comment", str(seeded.done), "--text",
                                  " lit at night "])

    assert assign.exit_code == 0 and assign.stdout == (
        f"alert {seeded.red} assigned to crew-south by office\n")
    assert comment.exit_code == 0, comment.output
    assert seeded.store.get(seeded.red).assigned_to == "crew-south"  # type: ignore[union-attr]
    assert [(h.event, h.actor, h.detail) for h in seeded.store.history(seeded.done)][-1] == (
        "commented", "cli", "lit at night")
    assert seeded.outbox_events() == [
        (HOOK, "assigned"), ("mqtt:streetwatch/alerts/south/red", "assigned"),
        (HOOK, "commented"), ("mqtt:streetwatch/alerts/north/blue", "commented")]


def test_default_actor_is_cli(runner: CliRunner, seeded: Seeded) -> None:
    result = runner.invoke(app, ["alerts", "ack", str(seeded.red)])

    assert result.exit_code == 0, result.output
    assert seeded.store.get(seeded.red).acknowledged_by == "cli"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["ack", "999"], 1, "error: no alert with id 999"),
        (["resolve", "999", "--note", "n"], 1, "error: no alert with id 999"),
        (["ack", "DONE"], 1, "was already resolved by crew-north"),
        (["resolve", "RED", "--note", "  "], 1, "error: --note must say what was done"),
        (["resolve", "RED"], 2, "Missing option '--note'"),
        (["ack", "RED", "--by", ""], 2, "must be 1-64 printable characters"),
        (["ack", "abc"], 2, "Invalid value for 'alert_id'"),
        (["assign", "DONE", "--crew", "c1"], 1, "was already resolved by crew-north"),
        (["assign", "RED", "--crew", "c 1"], 1, "--crew must match"),
        (["comment", "999", "--text", "x"], 1, "error: no alert with id 999"),
        (["comment", "RED", "--text", " "], 1, "--text must say something"),
    ],
)
def test_refusals(runner: CliRunner, seeded: Seeded, args: list[str], code: int,
                  message: str) -> None:
    ids = {"DONE": str(seeded.done), "RED": str(seeded.red)}

    result = runner.invoke(app, ["alerts", *(ids.get(arg, arg) for arg in args)])

    assert result.exit_code == code, result.output
    assert message in " ".join(result.stderr.split()), result.stderr
    assert seeded.outbox_events() == []


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"STREETWATCH_DATABASE_URL": "postgresql://u:pw9@127.0.0.1:1/x",
                            "STREETWATCH_CONFIG": None})

    result = runner.invoke(app, ["alerts", "list"])

    assert result.exit_code == 1
    assert result.stderr.startswith("error: database postgresql://u:***@127.0.0.1:1/x")
    assert "pw9" not in result.output


def test_invalid_settings_are_one_clear_message(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"STREETWATCH_ALERT_WEBHOOKS": '["ftp://x?token=t0k"]',
                            "STREETWATCH_CONFIG": None})

    result = runner.invoke(app, ["alerts", "list"])

    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid settings")
    assert "t0k" not in result.output
