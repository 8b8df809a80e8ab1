"""Citizen reports through the real app on SQL (SQLite, and PostgreSQL where reachable): filing
without a key, linking to the nearest device and its alert, receipts, managers' answers, and
hostile input (markup, NaN, huge bodies, floods from one address)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError

from streetwatch.alerts.model import Condition, rfc3339_ms
from streetwatch.registry.store import upsert_devices

REPORTS = "/api/v1/reports"
# Around People's Square: 0.0001 degree of latitude is ~11.1 m, of longitude here ~9.5 m.
LAT, LON = 31.2304, 121.4737
LAMPS = [
    {"id": "L1", "gateway": "gw1", "zone": "Z01", "road": "R1", "position_on_road": 1,
     "lat": LAT, "lon": LON},
    {"id": "L2", "gateway": "gw1", "zone": "Z01", "road": "R1", "position_on_road": 2,
     "lat": LAT + 0.0004, "lon": LON},  # ~44 m north of L1
    {"id": "N1", "gateway": "gw2", "zone": "north", "road": "R9", "position_on_road": 1,
     "lat": LAT + 0.01, "lon": LON},
]
DRAINS = [{"id": "D_1", "gateway": "gw1", "zone": "Z01", "lat": LAT, "lon": LON + 0.0002}]


@pytest.fixture
def town(api):
    upsert_devices(api.res.engine, LAMPS, DRAINS, [])
    return api


@pytest.fixture
def town_on(api_on):
    upsert_devices(api_on.res.engine, LAMPS, DRAINS, [])
    return api_on


def file(world, client: TestClient | None = None, **fields):
    """POST a report without a key (from `client`, another address, when given)."""
    body = {"kind": "dark_lamp", "text": "The lamp by the bus stop is dark."} | fields
    return (client or world.client).post(REPORTS, json=body)


def from_address(world, address: str) -> TestClient:
    return TestClient(world.client.app, client=(address, 50000))


def alerts_on(world, subject: str):
    return [a for a in world.res.alerts.list_alerts(open_only=False) if a.subject == subject]


# Filing and linking ----------------------------------------------------------------------------

def test_a_report_by_a_lamp_raises_a_citizen_alert_and_a_second_adds_a_note(town_on):
    world = town_on
    answer = file(world, lat=LAT + 0.0001, lon=LON, contact="138 0000 0000")  # ~11 m from L1
    assert answer.status_code == 201, answer.text
    body = answer.json()
    receipt = body["receipt"]
    assert body == {"receipt": receipt, "status": "open", "kind": "dark_lamp",
                    "created_at": rfc3339_ms(world.clock.now_ms), "answer": None,
                    "answered_at": None}
    assert answer.headers["location"].endswith(f"{REPORTS}/{receipt}")
    (alert,) = alerts_on(world, "lamp:L1")
    assert (alert.kind, alert.severity, alert.zone, alert.devices) == (
        "citizen_report", "yellow", "Z01", ("L1",))
    assert alert.deadline_ms == world.clock.now_ms + world.res.settings.deadline_yellow_s * 1000
    assert "The lamp by the bus stop is dark." in alert.message
    assert [(h.event, h.actor) for h in world.res.alerts.history(alert.id)] == [
        ("raised", "citizen")]

    world.clock.now_ms += 60_000
    again = file(world, lat=LAT - 0.00005, lon=LON, text="Still dark <b>tonight</b>")
    assert again.status_code == 201, again.text
    assert alerts_on(world, "lamp:L1") == [world.res.alerts.get(alert.id)]  # no second alert
    history = world.res.alerts.history(alert.id)
    assert [(h.event, h.actor) for h in history] == [("raised", "citizen"),
                                                     ("commented", "citizen")]
    assert history[1].detail.endswith("(dark_lamp): Still dark <b>tonight</b>")
    listed = world.get(REPORTS, who="manager").json()["items"]
    assert [(r["device_id"], r["zone"], r["alert_id"]) for r in listed] == [
        ("L1", "Z01", alert.id), ("L1", "Z01", alert.id)]
    assert listed[0]["contact"] == "138 0000 0000"


def test_a_report_adds_a_note_to_the_rules_open_alert_of_that_lamp(town):
    raised = town.res.alerts.raise_alert(
        Condition("lamp_out", "lamp:L2", "Z01", ("L2",), "lamp L2 is out"),
        town.clock.now_ms - 600_000, "yellow", town.clock.now_ms + 86_400_000)
    assert file(town, device_id="L2").status_code == 201
    history = town.res.alerts.history(raised.id)
    assert [(h.event, h.actor) for h in history][-1] == ("commented", "citizen")
    assert alerts_on(town, "lamp:L2")[0].kind == "lamp_out"  # no citizen_report beside it
    assert town.get(REPORTS, who="manager").json()["items"][0]["alert_id"] == raised.id


def test_a_report_of_a_lamp_in_a_blind_spot_notes_the_blind_spot(town):
    raised = town.res.alerts.raise_alert(
        Condition("blind_spot", "road:R1:1", "Z01", ("L1", "L2"), "two dark lamps"),
        town.clock.now_ms, "red", town.clock.now_ms + 86_400_000)
    assert file(town, lat=LAT, lon=LON).status_code == 201
    assert town.res.alerts.history(raised.id)[-1].event == "commented"
    assert alerts_on(town, "lamp:L1") == []


@pytest.mark.parametrize(("fields", "device"), [
    ({"kind": "drain_overflow", "lat": LAT, "lon": LON}, "D_1"),  # the lamp is nearer
    ({"kind": "missing_cover", "lat": LAT, "lon": LON + 0.0001}, "D_1"),
    ({"kind": "other", "lat": LAT, "lon": LON + 0.00015}, "D_1"),  # either kind: the nearest
    ({"kind": "other", "lat": LAT, "lon": LON + 0.00005}, "L1"),
    ({"kind": "dark_lamp", "lat": LAT, "lon": LON + 0.0002}, "L1"),  # only lamps for a lamp
    ({"kind": "dark_lamp", "lat": LAT + 0.0002, "lon": LON}, "L1"),  # 22.2 m each: lowest id
    ({"kind": "dark_lamp", "lat": LAT - 0.0003, "lon": LON}, None),  # 33 m: too far
    ({"kind": "drain_overflow", "lat": LAT + 0.0004, "lon": LON}, None),  # only a lamp near
    ({"kind": "dark_lamp", "lat": -LAT, "lon": -LON}, None),
])
def test_reports_link_to_the_nearest_device_of_their_kind(town, fields, device):
    assert file(town, **fields).status_code == 201
    (report,) = town.get(REPORTS, who="manager").json()["items"]
    assert report["device_id"] == device
    assert (report["alert_id"] is None) == (device is None)
    assert (report["zone"] is None) == (device is None)


def test_a_named_device_must_exist_and_be_of_the_kind(town):
    assert file(town, device_id="D_1", kind="missing_cover").status_code == 201
    for fields in ({"device_id": "L404"}, {"device_id": "D_1"}):  # unknown; a drain, not a lamp
        answer = file(town, **fields)
        assert answer.status_code == 422 and "lat and lon" in answer.json()["detail"]
    # With lat/lon as well, the place decides.
    assert file(town, device_id="L404", lat=LAT, lon=LON).status_code == 201
    assert [r["device_id"] for r in town.get(REPORTS, who="manager").json()["items"]] == [
        "D_1", "L1"]


# Receipts --------------------------------------------------------------------------------------

def test_the_citizen_looks_the_status_up_by_receipt_and_sees_nothing_else(town):
    receipt = file(town, lat=LAT, lon=LON, contact="me@example.org").json()["receipt"]
    status = town.get(f"{REPORTS}/{receipt}", who=None)
    assert status.status_code == 200, status.text
    assert set(status.json()) == {"receipt", "status", "kind", "created_at", "answer",
                                  "answered_at"}
    assert "me@example.org" not in status.text
    typed = f"{receipt[:4].lower()}-{receipt[4:]}"
    assert town.get(f"{REPORTS}/{typed}", who=None).json()["receipt"] == receipt
    for unknown in ("0000000000", "'; SELECT 1", "x" * 32, "%00"):
        missing = town.get(f"{REPORTS}/{unknown}", who=None)
        assert missing.status_code == 404, (unknown, missing.text)


def test_receipt_lookups_are_limited_per_address(town):
    limit = 6 * town.res.settings.api_reports_per_hour
    for _ in range(limit):
        assert town.get(f"{REPORTS}/0000000000", who=None).status_code == 404
    refused = town.get(f"{REPORTS}/0000000000", who=None)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    other = from_address(town, "203.0.113.9").get(f"{REPORTS}/0000000000")
    assert other.status_code == 404


# Managers --------------------------------------------------------------------------------------

def test_a_report_is_answered_then_closed_and_never_closed_unanswered(town_on):
    world = town_on
    receipt = file(world, lat=LAT, lon=LON).json()["receipt"]
    path = f"{REPORTS}/{receipt}"
    refused = world.post(f"{path}/close", who="manager")
    assert refused.status_code == 409 and "no answer" in refused.json()["detail"]
    assert world.post(f"{path}/close", who="manager", json={}).status_code == 409
    world.clock.now_ms += 3_600_000
    answered = world.post(f"{path}/answer", who="manager",
                          json={"answer": "A crew fixes it tonight."})
    assert answered.status_code == 200, answered.text
    assert (answered.json()["status"], answered.json()["answered_by"]) == ("answered", "manager")
    public = world.get(path, who=None).json()
    assert (public["status"], public["answer"], public["answered_at"]) == (
        "answered", "A crew fixes it tonight.", rfc3339_ms(world.clock.now_ms))
    closed = world.post(f"{path}/close", who="manager")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.json()["answer"] == "A crew fixes it tonight."
    assert world.post(f"{path}/close", who="manager").status_code == 409
    assert world.post(f"{path}/answer", who="manager", json={"answer": "again"}).status_code == 409

    other = file(world, lat=LAT, lon=LON).json()["receipt"]
    closed = world.post(f"{REPORTS}/{other}/close", who="manager", json={"answer": "Fixed."})
    assert (closed.json()["status"], closed.json()["answer"]) == ("closed", "Fixed.")

    # Each answer is a note on the reports' alert, by the manager: crews see what was said.
    (alert,) = alerts_on(world, "lamp:L1")
    history = world.res.alerts.history(alert.id)
    assert [(h.event, h.actor) for h in history] == [
        ("raised", "citizen"), ("commented", "manager"), ("commented", "citizen"),
        ("commented", "manager")]
    assert history[1].detail.startswith("answer to citizen report ")
    assert history[1].detail.endswith(": A crew fixes it tonight.")
    assert history[3].detail.endswith(": Fixed.") and receipt not in history[1].detail


def test_the_database_refuses_a_closed_report_without_an_answer(town_on):
    file(town_on, lat=LAT, lon=LON)
    with pytest.raises(IntegrityError), town_on.res.engine.begin() as conn:
        conn.execute(sa.text("UPDATE citizen_reports SET status = 'closed'"))


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("viewer", 403), ("crew", 403),
                                             ("manager", 200), ("admin", 200)])
def test_only_managers_list_answer_and_close(town, who, status):
    receipt = file(town, lat=LAT, lon=LON).json()["receipt"]
    assert town.get(REPORTS, who=who).status_code == status
    answer = town.post(f"{REPORTS}/{receipt}/answer", who=who, json={"answer": "ok"})
    assert answer.status_code == status
    assert town.post(f"{REPORTS}/{receipt}/close", who=who).status_code == status


def test_lists_filter_and_page(town):
    for fields in ({"lat": LAT, "lon": LON}, {"kind": "missing_cover", "device_id": "D_1"},
                   {"lat": LAT + 0.01, "lon": LON}, {"lat": 0.0, "lon": 0.0}):
        assert file(town, **fields).status_code == 201
    first = town.get(REPORTS, who="manager").json()["items"][0]["receipt"]
    town.post(f"{REPORTS}/{first}/answer", who="manager", json={"answer": "seen"})

    def listed(**params):
        return [(r["kind"], r["zone"], r["status"])
                for r in town.get(REPORTS, who="manager", params=params).json()["items"]]

    assert listed(zone="Z01") == [("dark_lamp", "Z01", "answered"),
                                  ("missing_cover", "Z01", "open")]
    assert listed(kind="dark_lamp", status="open") == [("dark_lamp", "north", "open"),
                                                        ("dark_lamp", None, "open")]
    pages, cursor = [], None
    while True:
        page = town.get(REPORTS, who="manager", params={"limit": 3} | (
            {"cursor": cursor} if cursor else {})).json()
        pages.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [3, 1]
    for params in ({"status": "lost"}, {"kind": "x"}, {"zone": "Z01'--"}, {"limit": 0},
                   {"limit": -1}, {"cursor": "!!"}):
        assert town.get(REPORTS, who="manager", params=params).status_code in (400, 422)


def test_a_zone_bound_manager_sees_and_answers_only_its_zones_reports(town):
    key = town.res.keys.create("manager@north", "manager", ["north"], town.clock.now_ms)[1]
    bound = {"Authorization": f"Bearer {key}"}
    mine = file(town, lat=LAT + 0.01, lon=LON).json()["receipt"]
    theirs = file(town, lat=LAT, lon=LON).json()["receipt"]
    nowhere = file(town, lat=0.0, lon=0.0).json()["receipt"]
    listed = town.client.get(REPORTS, headers=bound).json()["items"]
    assert [r["receipt"] for r in listed] == [mine]
    for receipt in (theirs, nowhere):
        answer = town.client.post(f"{REPORTS}/{receipt}/answer", headers=bound,
                                  json={"answer": "not mine"})
        assert answer.status_code == 404
    assert town.client.post(f"{REPORTS}/{mine}/close", headers=bound,
                            json={"answer": "done"}).status_code == 200


# Hostile input ---------------------------------------------------------------------------------

def test_markup_stays_plain_text_in_json(town):
    text = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'
    receipt = file(town, lat=LAT, lon=LON, text=text).json()["receipt"]
    listed = town.get(REPORTS, who="manager")
    assert listed.headers["content-type"] == "application/json"
    assert listed.json()["items"][0]["text"] == text
    town.post(f"{REPORTS}/{receipt}/answer", who="manager", json={"answer": text})
    public = town.get(f"{REPORTS}/{receipt}", who=None)
    assert public.headers["content-type"] == "application/json"
    assert public.json()["answer"] == text


@pytest.mark.parametrize("raw", [
    '{"kind": "dark_lamp", "text": "x", "lat": NaN, "lon": 121.4}',
    '{"kind": "dark_lamp", "text": "x", "lat": 31.2, "lon": Infinity}',
    '{"kind": "dark_lamp", "text": "x", "lat": 1e999, "lon": 121.4}',
    '{"kind": "dark_lamp", "text": "x", "lat": 91, "lon": 121.4}',
    '{"kind": "dark_lamp", "text": "x", "lat": 31.2, "lon": 181}',
    '{"kind": "dark_lamp", "text": "x", "lat": 31.2}',
    '{"kind": "dark_lamp", "text": "x"}',
    '{"kind": "dark_lamp", "text": "bell\\u0007", "lat": 31.2, "lon": 121.4}',
    '{"kind": "dark_lamp", "text": "\\ud800", "lat": 31.2, "lon": 121.4}',
    '{"kind": "dark_lamp", "text": "x", "device_id": "L1\' OR \'1\'=\'1"}',
    '{"kind": "dark_lamp", "text": "   ", "lat": 31.2, "lon": 121.4}',
    'not json', '',
])
def test_hostile_reports_are_422_with_a_reason(town, raw):
    answer = town.client.post(REPORTS, content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert isinstance(answer.json()["detail"], str) and answer.json()["detail"]
    assert town.get(REPORTS, who="manager").json()["items"] == []


def test_huge_bodies_are_413_before_parsing(town):
    limit = town.res.settings.api_report_max_bytes
    padded = json.dumps({"kind": "dark_lamp", "text": "x" * limit, "lat": LAT, "lon": LON})
    assert town.client.post(REPORTS, content=padded).status_code == 413

    def chunks():  # no Content-Length: the bytes read decide
        yield b'{"kind": "dark_lamp", "text": "'
        for _ in range(limit // 1000 + 2):
            yield b"y" * 1000

    answer = from_address(town, "192.0.2.1").post(REPORTS, content=chunks())
    assert answer.status_code == 413, answer.text
    liar = town.client.post(REPORTS, content=b"{}", headers={"Content-Length": "nonsense"})
    assert liar.status_code in (400, 413)
    assert town.get(REPORTS, who="manager").json()["items"] == []


def test_the_eleventh_report_in_an_hour_from_one_address_is_429(town):
    per_hour = town.res.settings.api_reports_per_hour
    assert per_hour == 10
    flooder = from_address(town, "198.51.100.7")
    for n in range(per_hour):
        assert file(town, flooder, lat=LAT, lon=LON, text=f"report {n}").status_code == 201
    refused = file(town, flooder, lat=LAT, lon=LON)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert file(town, from_address(town, "203.0.113.9"), lat=LAT, lon=LON).status_code == 201
    town.clock.now_ms += 3_600_000
    assert file(town, flooder, lat=LAT, lon=LON).status_code == 201


def test_managers_answering_and_closing_at_once_leave_one_consistent_report(town_on):
    """Real threads on one report (SQLite and PostgreSQL): eight closes with an answer and four
    answers released together. Exactly one close wins, nothing is a 5xx, and the stored report
    is closed with the answer its closer gave (or one given before it)."""
    world = town_on
    receipt = file(world, lat=LAT, lon=LON).json()["receipt"]
    path = f"{REPORTS}/{receipt}"
    start = threading.Barrier(12)

    def act(action: str, n: int) -> tuple[str, int]:
        start.wait()
        answer = world.post(f"{path}/{action}", who="manager", json={"answer": f"answer {n}"})
        return action, answer.status_code

    calls = [("close", n) for n in range(8)] + [("answer", n) for n in range(8, 12)]
    with ThreadPoolExecutor(len(calls)) as pool:
        outcomes = Counter(pool.map(lambda c: act(*c), calls))

    assert outcomes[("close", 200)] == 1, outcomes
    assert all(status in (200, 409) for _, status in outcomes), outcomes
    final = world.get(path, who=None).json()
    assert final["status"] == "closed" and final["answer"].startswith("answer ")
