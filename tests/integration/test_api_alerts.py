"""`/api/v1/alerts` against real SQL (SQLite, and PostgreSQL for the races), InfluxDB and
Mosquitto: filtered keyset pages, an alert with its history, crew actions with their 409s, zone
-bound keys, concurrent crews, and crew actions reaching MQTT subscribers via the rule runner."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import paho.mqtt.client as mqtt

from streetwatch.alerts.model import Condition, Place, rfc3339_ms
from streetwatch.settings import INGEST_USER

from api_world import T0_MS, ZONE_CREW
from rule_live import start_runner

MINUTE, HOUR = 60_000, 3_600_000
ALERTS = "/api/v1/alerts"


def raise_alert(api, subject: str, zone: str = "north", severity: str = "yellow",
                kind: str = "lamp_out", at_ms: int = T0_MS, deadline_ms: int | None = None) -> int:
    """An alert as the rule engine raises it (actor `rules`)."""
    condition = Condition(kind, subject, zone, (subject.split(":")[1],),  # type: ignore[arg-type]
                          f"{subject} is dark", Place("Main St", 1, 52.1, 4.3))
    event = api.res.alerts.raise_alert(condition, at_ms, severity,  # type: ignore[arg-type]
                                       deadline_ms if deadline_ms is not None else at_ms + HOUR)
    assert event is not None and event.id is not None
    return event.id


def ids(answer) -> list[int]:  # noqa: ANN001
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


# Reading -----------------------------------------------------------------------------------------
def test_pages_are_newest_first_and_filtered(api):
    north_red = raise_alert(api, "lamp:N1", severity="red", deadline_ms=T0_MS + HOUR)
    south = raise_alert(api, "drain:S1", zone="south", kind="blockage",
                        deadline_ms=T0_MS + 3 * HOUR)
    north_ack = raise_alert(api, "lamp:N2", deadline_ms=T0_MS + 4 * HOUR)
    north_done = raise_alert(api, "lamp:N3", severity="blue", deadline_ms=T0_MS + 5 * HOUR)
    api.clock.now_ms = T0_MS + MINUTE
    assert api.post(f"{ALERTS}/{north_ack}/ack", who="crew").status_code == 200
    assert api.post(f"{ALERTS}/{north_done}/resolve", who="crew",
                    json={"note": "fixed"}).status_code == 200

    assert ids(api.get(ALERTS, who="viewer")) == [north_done, north_ack, south, north_red]
    assert ids(api.get(ALERTS, params={"state": "open"})) == [north_ack, south, north_red]
    assert ids(api.get(ALERTS, params={"state": "raised"})) == [south, north_red]
    assert ids(api.get(ALERTS, params={"state": "acknowledged"})) == [north_ack]
    assert ids(api.get(ALERTS, params={"state": "resolved"})) == [north_done]
    assert ids(api.get(ALERTS, params={"zone": "south"})) == [south]
    assert ids(api.get(ALERTS, params={"severity": "red"})) == [north_red]
    assert ids(api.get(ALERTS, params={"kind": "blockage"})) == [south]
    assert ids(api.get(ALERTS, params={"zone": "north", "state": "open",
                                       "severity": "yellow"})) == [north_ack]
    # Overdue at the API's clock: at 3 h 30 min the red (1 h) and the drain (3 h) are late.
    assert ids(api.get(ALERTS, params={"overdue": "true"})) == []
    api.clock.now_ms = T0_MS + 3 * HOUR + 30 * MINUTE
    assert ids(api.get(ALERTS, params={"overdue": "true"})) == [south, north_red]
    assert ids(api.get(ALERTS, params={"overdue": "false"})) == [north_done, north_ack]

    first = api.get(ALERTS, params={"limit": 3}).json()
    assert [a["id"] for a in first["items"]] == [north_done, north_ack, south]
    rest = api.get(ALERTS, params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [a["id"] for a in rest["items"]] == [north_red] and rest["next_cursor"] is None


def test_a_zone_bound_key_sees_and_acts_on_its_zones_only(api):
    north = raise_alert(api, "lamp:N1")
    south = raise_alert(api, "lamp:S1", zone="south")

    assert ids(api.get(ALERTS, who=ZONE_CREW)) == [north]
    assert ids(api.get(ALERTS, who=ZONE_CREW, params={"zone": "south"})) == []
    for method, path, body in [("GET", f"{ALERTS}/{south}", None),
                               ("POST", f"{ALERTS}/{south}/ack", None),
                               ("POST", f"{ALERTS}/{south}/comment", {"text": "hi"}),
                               ("POST", f"{ALERTS}/{south}/resolve", {"note": "done"})]:
        hidden = api.request(method, path, who=ZONE_CREW, json=body)
        missing = api.request(method, path.replace(str(south), "999999"), who=ZONE_CREW,
                              json=body)
        assert (hidden.status_code, hidden.json()) == (404, {"detail": f"no alert with id {south}"})
        assert missing.status_code == 404
    assert api.post(f"{ALERTS}/{north}/ack", who=ZONE_CREW).status_code == 200
    assert api.res.alerts.get(south).state == "raised"  # type: ignore[union-attr]


def test_an_alert_with_its_full_history(api):
    alert_id = raise_alert(api, "lamp:N1")
    steps = [("ack", "crew", None), ("assign", "manager", {"crew": "crew-north"}),
             ("comment", "crew", {"text": "ladder needed\n<b>not html</b>"}),
             ("resolve", "crew", {"note": "new lamp head"})]
    for n, (action, who, body) in enumerate(steps, start=1):
        api.clock.now_ms = T0_MS + n * MINUTE
        answer = api.post(f"{ALERTS}/{alert_id}/{action}", who=who, json=body)
        assert answer.status_code == 200, answer.text

    alert = api.get(f"{ALERTS}/{alert_id}", who="viewer").json()
    assert (alert["state"], alert["assigned_to"], alert["acknowledged_by"], alert["resolved_by"],
            alert["resolve_note"]) == ("resolved", "crew-north", "crew", "crew", "new lamp head")
    assert alert["resolved_at"] == rfc3339_ms(T0_MS + 4 * MINUTE)
    assert [(h["event"], h["by"], h["at"], h["detail"]) for h in alert["history"]] == [
        ("raised", "rules", rfc3339_ms(T0_MS), "lamp:N1 is dark"),
        ("acknowledged", "crew", rfc3339_ms(T0_MS + MINUTE), None),
        ("assigned", "manager", rfc3339_ms(T0_MS + 2 * MINUTE), "crew-north"),
        ("commented", "crew", rfc3339_ms(T0_MS + 3 * MINUTE), "ladder needed\n<b>not html</b>"),
        ("resolved", "crew", rfc3339_ms(T0_MS + 4 * MINUTE), "new lamp head")]
    assert {k for k in alert if k != "history"} == set(
        api.res.alerts.get(alert_id).as_json())  # type: ignore[union-attr]


# Acting ------------------------------------------------------------------------------------------
def test_invalid_transitions_are_409_with_the_reason(api):
    alert_id = raise_alert(api, "lamp:N1")
    api.clock.now_ms = T0_MS + MINUTE
    api.post(f"{ALERTS}/{alert_id}/ack", who="crew")
    acked_at = rfc3339_ms(T0_MS + MINUTE)

    again = api.post(f"{ALERTS}/{alert_id}/ack", who="crew@north")
    assert (again.status_code, again.json()["detail"]) == (
        409, f"alert {alert_id} is already acknowledged (by crew at {acked_at})")
    api.clock.now_ms = T0_MS + 2 * MINUTE
    api.post(f"{ALERTS}/{alert_id}/resolve", who="crew", json={"note": "fixed"})
    done = f"alert {alert_id} is resolved (by crew at {rfc3339_ms(T0_MS + 2 * MINUTE)})"
    refused = {
        "ack": f"{done}: it cannot be acknowledged any more",
        "resolve": done.replace("is resolved", "is already resolved"),
        "assign": f"{done}: it cannot be assigned any more",
    }
    bodies = {"ack": None, "resolve": {"note": "again"}, "assign": {"crew": "crew-b"}}
    for action, reason in refused.items():
        answer = api.post(f"{ALERTS}/{alert_id}/{action}", who="manager", json=bodies[action])
        assert (answer.status_code, answer.json()) == (409, {"detail": reason})
    assert api.post(f"{ALERTS}/{alert_id}/comment", who="crew",
                    json={"text": "checked at night: lit"}).status_code == 200
    assert [h.event for h in api.res.alerts.history(alert_id)] == [
        "raised", "acknowledged", "resolved", "commented"]


def test_roles_and_bodies(api):
    alert_id = raise_alert(api, "lamp:N1")
    path = f"{ALERTS}/{alert_id}"
    assert api.get(path, who=None).status_code == 401
    assert api.post(f"{path}/ack", who="viewer").status_code == 403
    assert api.post(f"{path}/assign", who="crew", json={"crew": "c"}).status_code == 403
    assert api.post(f"{path}/assign", who="manager", json={"crew": "c"}).status_code == 200
    hostile = [
        ("resolve", {}), ("resolve", {"note": "   "}), ("resolve", {"note": "x" * 2001}),
        ("comment", {"text": "a\x00b"}), ("comment", {"text": "bell\x07"}),
        ("comment", {"text": "x", "html": True}), ("comment", {"text": 5}),
        ("assign", {"crew": "crew'; DROP TABLE alerts;--"}), ("assign", {"crew": "x" * 65}),
    ]
    for action, body in hostile:
        answer = api.post(f"{path}/{action}", who="manager", json=body)
        assert answer.status_code == 422, (action, body, answer.text)
    for bad in ("0", "-1", "2147483648", "99999999999999999999", "1e3", "abc"):
        assert api.get(f"{ALERTS}/{bad}").status_code == 422
    for params in ({"state": "open;"}, {"zone": "north' OR '1'='1"}, {"severity": "pink"},
                   {"kind": "x"}, {"overdue": "maybe"}, {"limit": 0}, {"limit": 1001},
                   {"cursor": "not-a-cursor"}, {"cursor": "WyJ4Il0"}):
        assert api.get(ALERTS, params=params).status_code in (400, 422), params
    assert api.res.alerts.get(alert_id).state == "raised"  # type: ignore[union-attr]
    note = "ünïcode ✓ 'quotes' \"double\" ; -- \\ backslash\nline two\ttab"
    resolved = api.post(f"{path}/resolve", who="crew", json={"note": f"  {note}  "})
    assert resolved.status_code == 200 and resolved.json()["resolve_note"] == note


def test_a_lone_surrogate_is_refused_without_echoing_it(api):
    alert_id = raise_alert(api, "lamp:N1")
    answer = api.client.post(f"{ALERTS}/{alert_id}/comment",
                             content=b'{"text": "half \\ud800 a pair"}',
                             headers={"Content-Type": "application/json", **api.headers("crew")})
    assert answer.status_code == 422, answer.text
    assert "half" not in answer.text and answer.json()["detail"][0]["loc"] == ["body", "text"]


def at_once(api, path: str, calls: list[tuple[str, str, dict | None]]) -> Counter:  # noqa: ANN001
    """Every call in its own thread, released together; Counter of (action, status)."""
    start = threading.Barrier(len(calls))

    def call(action: str, who: str, body: dict | None) -> tuple[str, int]:
        start.wait()
        return action, api.post(f"{path}/{action}", who=who, json=body).status_code

    with ThreadPoolExecutor(len(calls)) as pool:
        return Counter(pool.map(lambda c: call(*c), calls))


CREWS = ("crew", ZONE_CREW, "manager", "admin")  # four keys that may act on a north alert


def test_concurrent_crews_never_corrupt_an_alert(api_on):
    """Crews at once on one alert (real threads, real database), twice: acks with assigns and
    comments, then resolves with more of everything. Exactly one ack and one resolve win, the
    losers are told 409, nothing is a 5xx, and the history tells one consistent story."""
    for round_ in range(3):
        alert_id = raise_alert(api_on, f"lamp:R{round_}")
        path = f"{ALERTS}/{alert_id}"
        api_on.clock.now_ms = T0_MS + MINUTE
        first = at_once(api_on, path, [("ack", who, None) for who in CREWS * 2]
                        + [("assign", "manager", {"crew": f"crew-{n}"}) for n in range(4)]
                        + [("comment", who, {"text": "on my way"}) for who in CREWS])
        assert first == {("ack", 200): 1, ("ack", 409): 7, ("assign", 200): 4,
                         ("comment", 200): 4}, first
        api_on.clock.now_ms = T0_MS + 2 * MINUTE
        second = at_once(api_on, path, [("resolve", who, {"note": f"fixed by {who}"})
                                        for who in CREWS * 2]
                         + [("ack", who, None) for who in CREWS]
                         + [("assign", "manager", {"crew": "crew-late"})] * 4
                         + [("comment", who, {"text": "done?"}) for who in CREWS])
        assert {code for _, code in second} <= {200, 409}, second
        assert (second[("resolve", 200)], second[("ack", 409)], second[("comment", 200)]) == (
            1, 4, 4), second

        alert = api_on.get(path).json()
        events = [h["event"] for h in alert["history"]]
        assert events[0] == "raised" and events[1:].count("acknowledged") == 1
        assert events.count("resolved") == 1 and events.count("commented") == 8
        assert events.count("assigned") == 4 + second[("assign", 200)]
        resolved = events.index("resolved")
        assert events.index("acknowledged") < resolved
        assert set(events[resolved + 1:]) <= {"commented"}  # nothing changed it afterwards
        winner = alert["history"][resolved]
        assert alert["state"] == "resolved" and alert["resolved_by"] == winner["by"]
        assert alert["resolve_note"] == winner["detail"] == f"fixed by {winner['by']}"
        acked = alert["history"][events.index("acknowledged")]
        assert (alert["acknowledged_by"], alert["acknowledged_at"]) == (acked["by"], acked["at"])
        assert [h["at"] for h in alert["history"]] == sorted(h["at"] for h in alert["history"])


# MQTT through the rule runner ------------------------------------------------------------------
class ZoneSubscriber:
    """A crew's tool: subscribed to `streetwatch/alerts/north/#` (clean session)."""

    def __init__(self, mosquitto) -> None:  # noqa: ANN001
        self.events: list[tuple[str, dict]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"crew-{uuid.uuid4().hex[:6]}", clean_session=True)
        self.client.username_pw_set(INGEST_USER, mosquitto.password(INGEST_USER))
        ready = threading.Event()
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = lambda _c, _u, m: self.events.append(
            (m.topic, json.loads(m.payload)))
        self.client.connect(mosquitto.host, mosquitto.port)
        self.client.loop_start()
        self.client.subscribe("streetwatch/alerts/north/#", qos=1)
        assert ready.wait(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(check, timeout_s: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_crew_actions_reach_mqtt_through_the_rule_runner(api, mosquitto):
    """An ack made while no runner runs waits in the outbox; the runner, once up, publishes it
    on the zone's topic (and a comment made while it runs), writes their `alert_event` points,
    and publishes nothing twice: the alert the rules raised is not republished from the outbox."""
    settings, sql = api.res.settings, api.res.engine
    api.res.influx.create_database()

    def points() -> list[dict]:
        return api.res.influx.rows(f"SELECT alert_id, message FROM alert_event "
                                   f"WHERE alert_id = {alert_id}")

    subscriber = ZoneSubscriber(mosquitto)
    days_ahead = time.time_ns() // 1_000_000 + 48 * HOUR  # the runner's wall clock: not overdue
    south = raise_alert(api, "lamp:S1", zone="south", deadline_ms=days_ahead)
    alert_id = raise_alert(api, "lamp:N1", severity="red", deadline_ms=days_ahead)
    api.clock.now_ms = T0_MS + MINUTE
    assert api.post(f"{ALERTS}/{alert_id}/ack", who=ZONE_CREW).status_code == 200
    assert api.post(f"{ALERTS}/{south}/ack", who="crew").status_code == 200
    runner, stop, thread = start_runner(settings, sql)
    try:
        wait_for(lambda: len(subscriber.events) >= 1, 15, "the ack made while the runner was down")
        api.clock.now_ms = T0_MS + 2 * MINUTE
        assert api.post(f"{ALERTS}/{alert_id}/comment", who="crew",
                        json={"text": "on my way"}).status_code == 200
        wait_for(lambda: len(subscriber.events) >= 2, 15, "the comment")
        wait_for(lambda: not api.res.alerts.due_deliveries(2**40, mqtt=True), 15,
                 "every MQTT outbox row delivered")
        wait_for(lambda: len(points()) == 2, 15, "alert_event points written")
    finally:
        stop.set()
        thread.join(10)
        subscriber.close()
    assert [(topic, e["event"], e["id"], e["ts"], e["message"]) for topic, e in
            subscriber.events] == [
        ("streetwatch/alerts/north/red", "acknowledged", alert_id, rfc3339_ms(T0_MS + MINUTE),
         "lamp:N1 is dark"),
        ("streetwatch/alerts/north/red", "commented", alert_id, rfc3339_ms(T0_MS + 2 * MINUTE),
         "on my way")]
    assert points() == [
        {"time": T0_MS + MINUTE, "alert_id": alert_id, "message": "lamp:N1 is dark"},
        {"time": T0_MS + 2 * MINUTE, "alert_id": alert_id, "message": "on my way"}]
