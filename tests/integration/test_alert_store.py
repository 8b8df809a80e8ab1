"""AlertStore against real databases (SQLite file, PostgreSQL): lifecycle, history, outbox, races.

Each PostgreSQL test runs in a fresh schema (`sql_url` in conftest.py). Times are epoch ms on a
fixed fake clock; nothing sleeps.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from streetwatch.alerts.model import AlertEvent, Condition, Place
from streetwatch.alerts.records import AlertFilter
from streetwatch.alerts.store import OPEN_ALERT_INDEX, AlertStore
from streetwatch.logs import JsonLineFormatter
from streetwatch.registry import migrate
from streetwatch.registry.models import AlertOutbox
from streetwatch.registry.store import make_engine

T0 = 1_772_352_000_000  # 2026-03-01T08:00:00Z
MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
WEBHOOKS = ("https://hooks.example/a?token=s3cret", "https://hooks.example/b")
NORTH_YELLOW = "mqtt:streetwatch/alerts/north/yellow"  # what the rule runner publishes for people


def condition(subject: str = "lamp:L1", kind: str = "lamp_out", zone: str = "north",
              devices: tuple[str, ...] = ("L1",), message: str = "L1 is dark") -> Condition:
    return Condition(kind, subject, zone, devices, message,  # type: ignore[arg-type]
                     Place("Main St", 1, 52.37, 4.89))


@pytest.fixture
def engine(sql_url: str) -> Iterator[Engine]:
    migrate.upgrade(sql_url)
    engine = make_engine(sql_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> AlertStore:
    return AlertStore(engine, WEBHOOKS)


def outbox(engine: Engine) -> list[tuple[str, str]]:
    """(target, event name) of every outbox row, in insertion order."""
    with engine.connect() as conn:
        rows = conn.execute(select(AlertOutbox.target, AlertOutbox.payload)
                            .order_by(AlertOutbox.id)).all()
    return [(target, json.loads(payload)["event"]) for target, payload in rows]


def history(store: AlertStore, alert_id: int) -> list[tuple[str, str, str, int]]:
    return [(h.event, h.actor, h.severity, h.ts_ms) for h in store.history(alert_id)]


# Lifecycle ----------------------------------------------------------------------------------------
def test_raise_repeat_acknowledge_resolve(store: AlertStore) -> None:
    raised = store.raise_alert(condition(), T0, "yellow", T0 + DAY)

    assert raised is not None and isinstance(raised.id, int)
    assert raised == AlertEvent("raised", T0, raised.id, "lamp_out", "yellow", "north", "lamp:L1",
                                ("L1",), T0 + DAY, "L1 is dark")
    assert store.raise_alert(condition(devices=("L1", "L2"), message="L1, L2 dark"),
                             T0 + MINUTE, "yellow", T0 + DAY) is None
    assert store.repeat("lamp:L1", "lamp_out", T0 + 2 * MINUTE, ("L1",), "L1 dark again") is None
    acknowledged = store.acknowledge(raised.id, T0 + 3 * MINUTE, "crew-north")
    assert store.repeat("lamp:L1", "lamp_out", T0 + 4 * MINUTE, ("L1",), "still dark") is None
    resolved = store.resolve(raised.id, T0 + 5 * MINUTE, "crew-north", "replaced the driver")

    assert acknowledged == AlertEvent("acknowledged", T0 + 3 * MINUTE, raised.id, "lamp_out",
                                      "yellow", "north", "lamp:L1", ("L1",), T0 + DAY,
                                      "L1 dark again")
    assert resolved is not None and resolved.event == "resolved"
    assert resolved.message == "replaced the driver"
    alert = store.get(raised.id)
    assert alert is not None and not alert.is_open
    assert (alert.state, alert.seen_count, alert.last_seen_at_ms, alert.message) == (
        "resolved", 4, T0 + 4 * MINUTE, "still dark")
    assert (alert.acknowledged_at_ms, alert.acknowledged_by) == (T0 + 3 * MINUTE, "crew-north")
    assert (alert.resolved_at_ms, alert.resolved_by, alert.resolve_note) == (
        T0 + 5 * MINUTE, "crew-north", "replaced the driver")
    assert history(store, raised.id) == [
        ("raised", "rules", "yellow", T0),
        ("repeated", "rules", "yellow", T0 + MINUTE),
        ("repeated", "rules", "yellow", T0 + 2 * MINUTE),
        ("acknowledged", "crew-north", "yellow", T0 + 3 * MINUTE),
        ("repeated", "rules", "yellow", T0 + 4 * MINUTE),
        ("resolved", "crew-north", "yellow", T0 + 5 * MINUTE),
    ]
    assert store.history(raised.id)[-1].detail == "replaced the driver"
    assert store.open_alerts() == []


def test_assign_and_comment_are_recorded_and_announced(engine: Engine,
                                                      store: AlertStore) -> None:
    raised = store.raise_alert(condition(), T0, "yellow", T0 + DAY)
    assert raised is not None

    assigned = store.assign(raised.id, T0 + MINUTE, "office", "crew-north")
    commented = store.comment(raised.id, T0 + 2 * MINUTE, "crew-north", "ladder needed")
    store.resolve(raised.id, T0 + 3 * MINUTE, "crew-north", "fixed")
    late = store.comment(raised.id, T0 + 4 * MINUTE, "office", "checked at night: lit")

    assert assigned is not None and assigned.message == "assigned to crew-north"
    assert commented is not None and commented.event == "commented"
    assert late is not None and late.message == "checked at night: lit"
    alert = store.get(raised.id)
    assert alert is not None and (alert.assigned_to, alert.assigned_at_ms) == (
        "crew-north", T0 + MINUTE)
    assert alert.as_json()["assigned_to"] == "crew-north"
    assert [(h.event, h.actor, h.detail) for h in store.history(raised.id)][1:] == [
        ("assigned", "office", "crew-north"), ("commented", "crew-north", "ladder needed"),
        ("resolved", "crew-north", "fixed"), ("commented", "office", "checked at night: lit")]
    assert [name for _, name in outbox(engine)].count("commented") == 2 * (len(WEBHOOKS) + 1)
    assert store.assign(raised.id, T0 + 5 * MINUTE, "office", "crew-south") is None  # resolved
    assert store.comment(999, T0, "office", "x") is None
    with pytest.raises(ValueError, match="needs text"):
        store.comment(raised.id, T0, "office", "")


def test_a_resolved_alert_that_recurs_is_a_new_alert(store: AlertStore) -> None:
    first = store.raise_alert(condition(), T0, "yellow", T0 + DAY)
    cleared = store.resolve_open("lamp:L1", "lamp_out", T0 + HOUR, "rules", "lamp lit again")
    second = store.raise_alert(condition(), T0 + 2 * HOUR, "yellow", T0 + 2 * HOUR + DAY)

    assert first is not None and second is not None and cleared is not None
    assert cleared.id == first.id and cleared.message == "lamp lit again"
    assert second.event == "raised" and second.id != first.id
    assert [a.id for a in store.list_alerts(open_only=False)] == [first.id, second.id]
    assert [a.id for a in store.open_alerts()] == [second.id]
    assert [h[0] for h in history(store, second.id)] == ["raised"]
    assert store.get(first.id).resolved_by == "rules"  # type: ignore[union-attr]


def test_changes_that_do_not_apply_return_none_and_write_nothing(
    engine: Engine, store: AlertStore
) -> None:
    raised = store.raise_alert(condition(), T0, "yellow", T0 + DAY)
    assert raised is not None
    first_ack = store.acknowledge(raised.id, T0 + 1, "crew-a")

    assert store.acknowledge(raised.id, T0 + 2, "crew-b") is None  # twice: a no-op
    assert store.resolve(raised.id, T0 + 3, "crew-a", "fixed") is not None
    assert store.resolve(raised.id, T0 + 4, "crew-a", "fixed") is None
    assert store.acknowledge(raised.id, T0 + 5, "crew-a") is None
    assert store.resolve_open("lamp:L1", "lamp_out", T0 + 6, "rules", "cleared") is None
    assert store.mark_overdue(raised.id, T0 + DAY) is None
    assert store.escalate(raised.id, T0 + DAY, "red", T0 + 2 * DAY) is None
    store.repeat("lamp:L1", "lamp_out", T0 + 7, ("L1",), "dark")
    for unknown in (store.acknowledge(999, T0, "x"), store.resolve(999, T0, "x", "n"),
                    store.mark_overdue(999, T0 + DAY), store.escalate(999, T0, "red", T0)):
        assert unknown is None
    assert store.get(999) is None and store.history(999) == []

    assert first_ack is not None
    assert store.get(raised.id).acknowledged_by == "crew-a"  # type: ignore[union-attr]
    assert [h[0] for h in history(store, raised.id)] == ["raised", "acknowledged", "resolved"]
    assert [event for _, event in outbox(engine)] == ["raised"] * 2 + ["acknowledged"] * 3 + [
        "resolved"] * 3


def test_overdue_then_escalate(store: AlertStore) -> None:
    raised = store.raise_alert(condition(), T0, "yellow", T0 + DAY)
    assert raised is not None

    early = store.mark_overdue(raised.id, T0 + DAY - 1)
    overdue = store.mark_overdue(raised.id, T0 + DAY)
    again = store.mark_overdue(raised.id, T0 + DAY + 1)
    flagged = store.get(raised.id)
    escalated = store.escalate(raised.id, T0 + DAY, "red", T0 + 2 * DAY)

    assert early is None and again is None
    assert overdue == raised.__class__("overdue", T0 + DAY, raised.id, "lamp_out", "yellow",
                                       "north", "lamp:L1", ("L1",), T0 + DAY, "L1 is dark")
    assert flagged is not None and flagged.overdue
    assert escalated is not None
    assert (escalated.event, escalated.severity, escalated.deadline_ms) == (
        "escalated", "red", T0 + 2 * DAY)
    alert = store.get(raised.id)
    assert alert is not None
    assert (alert.severity, alert.deadline_ms, alert.overdue) == ("red", T0 + 2 * DAY, False)
    assert history(store, raised.id) == [
        ("raised", "rules", "yellow", T0),
        ("overdue", "rules", "yellow", T0 + DAY),
        ("escalated", "rules", "red", T0 + DAY),
    ]
    assert store.mark_overdue(raised.id, T0 + 2 * DAY) is not None  # the new deadline counts


def test_bad_input_is_refused_before_anything_is_written(
    engine: Engine, store: AlertStore
) -> None:
    with pytest.raises(ValueError, match="severity"):
        store.raise_alert(condition(), T0, "purple", T0 + DAY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="subject"):
        store.raise_alert(condition(subject="road:" + "x" * 200), T0, "red", T0 + DAY)
    with pytest.raises(ValueError, match="actor"):
        store.raise_alert(condition(), T0, "red", T0 + DAY, actor="")
    raised = store.raise_alert(condition(), T0, "red", T0 + DAY)
    assert raised is not None
    with pytest.raises(ValueError, match="actor"):
        store.acknowledge(raised.id, T0, "x" * 65)
    with pytest.raises(ValueError, match="severity"):
        store.escalate(raised.id, T0, "orange", T0)  # type: ignore[arg-type]

    assert [h[0] for h in history(store, raised.id)] == ["raised"]
    assert len(store.list_alerts(open_only=False)) == 1


def test_other_integrity_errors_are_not_taken_for_a_repeat(store: AlertStore) -> None:
    missing_zone = condition(zone=None)  # type: ignore[arg-type]

    with pytest.raises(IntegrityError):
        store.raise_alert(missing_zone, T0, "red", T0 + DAY)

    assert store.list_alerts(open_only=False) == []


def test_listing_by_zone_and_the_rebuild_view(store: AlertStore) -> None:
    north = store.raise_alert(condition(), T0 + 123, "yellow", T0 + DAY)
    south = store.raise_alert(condition("cabinet:C9", "cabinet_failure", "south", ("L7", "L8"),
                                        "cabinet C9 dark"), T0 + 456, "red", T0 + HOUR)
    gone = store.raise_alert(condition("lamp:L5", zone="north"), T0, "blue", T0 + DAY)
    assert north and south and gone
    store.resolve(gone.id, T0 + 1, "crew", "done")

    assert [a.id for a in store.list_alerts()] == [north.id, south.id]
    assert [a.id for a in store.list_alerts(zone="north")] == [north.id]
    assert [a.id for a in store.list_alerts(open_only=False, zone="north")] == [north.id, gone.id]
    assert store.list_alerts(zone="east") == []
    rebuilt = store.open_alerts()
    assert rebuilt[0].condition == condition()
    assert rebuilt[1].condition.devices == ("L7", "L8")
    assert (rebuilt[0].raised_at_ms, rebuilt[1].raised_at_ms) == (T0 + 123, T0 + 456)
    assert (rebuilt[1].severity, rebuilt[1].deadline_ms, rebuilt[1].state) == (
        "red", T0 + HOUR, "raised")


# Outbox -------------------------------------------------------------------------------------------
def test_every_announced_change_writes_one_outbox_row_per_target(
    engine: Engine, store: AlertStore
) -> None:
    raised = store.raise_alert(condition(), T0, "yellow", T0 + DAY)
    assert raised is not None
    store.repeat("lamp:L1", "lamp_out", T0 + 1, ("L1",), "dark")  # history only
    store.acknowledge(raised.id, T0 + 2, "crew")
    store.resolve(raised.id, T0 + 3, "crew", "fixed")
    AlertStore(engine).raise_alert(condition("lamp:L2"), T0, "blue", T0 + DAY)  # no webhooks

    assert outbox(engine) == [(target, event) for event in ("raised", "acknowledged", "resolved")
                              for target in (*WEBHOOKS, NORTH_YELLOW)
                              if (event, target) != ("raised", NORTH_YELLOW)]
    deliveries = store.due_deliveries(T0, limit=10)
    assert [d.payload for d in deliveries] == [raised.line()] * 2


def test_changes_people_make_are_queued_for_mqtt_and_the_rules_own_are_not(
    engine: Engine, store: AlertStore
) -> None:
    """The rule runner publishes what it decides itself; what crews (API, CLI) or citizens do
    reaches MQTT through outbox rows the runner publishes: each event once on the topic."""
    ruled = store.raise_alert(condition(), T0, "yellow", T0 + DAY)
    reported = store.raise_alert(condition("lamp:L9", "citizen_report"), T0, "yellow",
                                 T0 + DAY, actor="citizen")
    assert ruled is not None and reported is not None
    store.acknowledge(ruled.id, T0 + 1, "crew")
    store.assign(ruled.id, T0 + 2, "office", "crew-north")
    store.comment(ruled.id, T0 + 3, "crew", "ladder")
    store.mark_overdue(ruled.id, T0 + DAY)
    store.escalate(ruled.id, T0 + DAY, "red", T0 + 2 * DAY)
    store.resolve_open("lamp:L9", "citizen_report", T0 + DAY + 1, "rules", "cleared")
    store.resolve(ruled.id, T0 + DAY + 2, "crew", "fixed")

    mqtt = store.due_deliveries(T0 + 2 * DAY, limit=20, mqtt=True)
    assert [(d.mqtt_topic, json.loads(d.payload)["event"], json.loads(d.payload)["id"])
            for d in mqtt] == [
        ("streetwatch/alerts/north/yellow", "raised", reported.id),
        ("streetwatch/alerts/north/yellow", "acknowledged", ruled.id),
        ("streetwatch/alerts/north/yellow", "assigned", ruled.id),
        ("streetwatch/alerts/north/yellow", "commented", ruled.id),
        ("streetwatch/alerts/north/red", "resolved", ruled.id)]
    assert all(d.target_display == d.target for d in mqtt)
    webhooks = store.due_deliveries(T0 + 2 * DAY, limit=50)
    assert {d.mqtt_topic for d in webhooks} == {None} and len(webhooks) == 9 * len(WEBHOOKS)


def test_deliveries_are_due_retried_and_done(engine: Engine, store: AlertStore,
                                             caplog: pytest.LogCaptureFixture) -> None:
    store.raise_alert(condition(), T0, "yellow", T0 + DAY)
    assert store.due_deliveries(T0 - 1, limit=10) == []
    with_token, plain = store.due_deliveries(T0, limit=10)
    assert (with_token.target, plain.target, with_token.attempts) == (*WEBHOOKS, 0)

    store.delivered(plain.id, T0 + 5)
    store.delivery_failed(with_token.id, T0 + 5, f"ConnectError: {WEBHOOKS[0]} refused",
                          T0 + MINUTE)

    assert store.due_deliveries(T0 + MINUTE - 1, limit=10) == []
    [retry] = store.due_deliveries(T0 + MINUTE, limit=10)
    assert (retry.id, retry.attempts) == (with_token.id, 1)
    with engine.connect() as conn:
        last_error = conn.execute(select(AlertOutbox.last_error)
                                  .where(AlertOutbox.id == retry.id)).scalar_one()
    assert last_error == "ConnectError: https://hooks.example/*** refused"
    assert "s3cret" not in repr(retry) and retry.target_display == "https://hooks.example/***"
    logged = "\n".join(JsonLineFormatter().format(record) for record in caplog.records)
    assert '"target": "https://hooks.example/***"' in logged and "s3cret" not in logged
    store.delivered(retry.id, T0 + MINUTE)
    assert store.due_deliveries(T0 + DAY, limit=10) == []


def test_a_failing_change_writes_no_outbox_row(
    engine: Engine, store: AlertStore, sql_url: str
) -> None:
    """The second target's outbox row for the acknowledgement is refused by a trigger, after the
    alert update, its history row and the first target's outbox row: all of it rolls back."""
    raised = store.raise_alert(condition(), T0, "yellow", T0 + DAY)
    assert raised is not None
    refuse_outbox_rows(engine, target=WEBHOOKS[1], containing="acknowledged")

    with pytest.raises(DBAPIError, match="refused by test trigger"):
        store.acknowledge(raised.id, T0 + MINUTE, "crew")

    alert = store.get(raised.id)
    assert alert is not None and alert.state == "raised" and alert.acknowledged_by is None
    assert [h[0] for h in history(store, raised.id)] == ["raised"]
    assert outbox(engine) == [(target, "raised") for target in WEBHOOKS]


def test_a_page_of_alerts_by_filter_newest_first(store: AlertStore) -> None:
    """Keyset pages by id over state, zone, severity, kind and overdue (judged at `now_ms`)."""
    ids = []
    for n, (zone, severity) in enumerate([("north", "red"), ("south", "yellow"),
                                          ("north", "yellow"), ("north", "blue")]):
        event = store.raise_alert(condition(f"lamp:L{n}", zone=zone), T0 + n, severity,
                                  T0 + HOUR * (n + 1))
        assert event is not None
        ids.append(event.id)
    store.acknowledge(ids[2], T0 + MINUTE, "crew")
    store.resolve(ids[3], T0 + MINUTE, "crew", "fixed")
    store.mark_overdue(ids[1], T0 + 3 * HOUR)

    def page(after: int | None = None, limit: int = 10, oldest: bool = False,
             **which: object) -> list[int]:
        found = store.page(AlertFilter(**which), after, limit,  # type: ignore[arg-type]
                           newest_first=not oldest)
        return [a.id for a in found]

    assert page() == ids[::-1]
    assert page(limit=2) == [ids[3], ids[2]] and page(ids[2], limit=2) == [ids[1], ids[0]]
    assert page(oldest=True, after=ids[1]) == ids[2:]
    assert page(state="open") == [ids[2], ids[1], ids[0]]
    assert page(state="acknowledged") == [ids[2]] and page(state="resolved") == [ids[3]]
    assert page(zone="north", severity="yellow") == [ids[2]]
    assert page(zones=frozenset({"south"})) == [ids[1]]
    assert page(zones=frozenset({"south"}), zone="north") == []
    assert page(kind="lamp_out") == ids[::-1] and page(kind="blockage") == []
    # At 2 h 30 min: L0 (1 h) is past its deadline, L1 is marked overdue, L2 (3 h) is not yet,
    # L3 is resolved (never late: resolving it stopped the clock).
    at = T0 + 2 * HOUR + 30 * MINUTE
    assert page(overdue=True, now_ms=at) == [ids[1], ids[0]]
    assert page(overdue=False, now_ms=at) == [ids[3], ids[2]]


def refuse_outbox_rows(engine: Engine, target: str, containing: str) -> None:
    """A trigger that aborts inserting an outbox row for `target` whose payload has `containing`."""
    when = f"NEW.target = '{target}' AND NEW.payload LIKE '%{containing}%'"
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text(f"CREATE TRIGGER refuse_outbox BEFORE INSERT ON alert_outbox "
                              f"WHEN {when} BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); "
                              f"END"))
            return
        conn.execute(text(f"CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS "
                          f"$$ BEGIN IF {when} THEN RAISE EXCEPTION 'refused by test trigger'; "
                          f"END IF; RETURN NEW; END $$"))
        conn.execute(text("CREATE TRIGGER refuse_outbox BEFORE INSERT ON alert_outbox "
                          "FOR EACH ROW EXECUTE FUNCTION refuse_outbox()"))


# Concurrent writers ---------------------------------------------------------------------------
def raise_from_two_writers(sql_url: str, subjects: list[str]) -> list[AlertEvent | None]:
    """Two threads, each with its own engine (own connections), meet at a barrier before every
    round and then both raise an alert for that round's subject. Returns every call's result."""
    barrier = threading.Barrier(2)
    results: list[AlertEvent | None] = []
    errors: list[BaseException] = []

    def writer() -> None:
        engine = make_engine(sql_url)
        store = AlertStore(engine, WEBHOOKS[:1])
        try:
            for round_no, subject in enumerate(subjects):
                barrier.wait(timeout=60)
                results.append(store.raise_alert(condition(subject), T0 + round_no, "yellow",
                                                 T0 + DAY))
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread below
            errors.append(exc)
            barrier.abort()
        finally:
            engine.dispose()

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors, errors
    assert len(results) == 2 * len(subjects)
    return results


def check_one_alert_per_subject(engine: Engine, subjects: list[str],
                                results: list[AlertEvent | None]) -> None:
    """Exactly one alert (open) per subject, one `raised` event each, every other call a repeat."""
    store = AlertStore(engine)
    calls = Counter(subjects * 2)  # both writers call once per round
    alerts = store.list_alerts(open_only=False)
    per_subject = Counter(alert.subject for alert in alerts)
    doubled = sorted(subject for subject, count in per_subject.items() if count > 1)
    assert not doubled, f"{len(doubled)} of {len(calls)} subjects have several open alerts: " \
                        f"{doubled[:3]}"
    raised = Counter(event.subject for event in results if event is not None)
    assert raised == Counter(set(subjects)), f"raised events per subject: {raised}"
    for alert in alerts:
        assert alert.is_open and alert.seen_count == calls[alert.subject]
        events = Counter(h.event for h in store.history(alert.id))
        assert events == {"raised": 1, "repeated": calls[alert.subject] - 1}


def test_one_open_alert_per_subject_holds_against_two_racing_writers(
    engine: Engine, sql_url: str
) -> None:
    subjects = [f"lamp:L{n}" for n in range(60)]  # a fresh subject each round: 60 insert races

    results = raise_from_two_writers(sql_url, subjects)

    check_one_alert_per_subject(engine, subjects, results)
    assert len(outbox(engine)) == len(subjects)  # one announced `raised` per subject


def test_two_writers_repeating_one_alert_lose_no_count(engine: Engine, sql_url: str) -> None:
    subjects = ["lamp:L1"] * 60

    results = raise_from_two_writers(sql_url, subjects)

    check_one_alert_per_subject(engine, subjects, results)


def test_the_race_check_fails_without_the_unique_index(engine: Engine, sql_url: str) -> None:
    """Proof that the two tests above can fail: without the index both writers open alerts."""
    with engine.begin() as conn:
        conn.execute(text(f"DROP INDEX {OPEN_ALERT_INDEX}"))
    subjects = [f"lamp:L{n}" for n in range(5)]

    results = raise_from_two_writers(sql_url, subjects)

    with pytest.raises(AssertionError, match="5 of 5 subjects have several open alerts"):
        check_one_alert_per_subject(engine, subjects, results)
