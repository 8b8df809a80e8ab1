"""Devices through the API on real SQL (SQLite and PostgreSQL) and InfluxDB: list filters and
keyset pages, one device with its latest reading and open alerts, create / update / retire by
the CSV's rules, bulk import (CSV and GeoJSON) all or nothing, and who may do what where."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

import api.routes.devices
from streetwatch.alerts.model import Condition
from streetwatch.lineproto import SeriesTags, lamp_line
from streetwatch.registry.models import Drain, Lamp, RainGauge
from streetwatch.schemas import LampReading

from api_world import T0_MS, TEST_SCRYPT_N

DEVICES = "/api/v1/devices"
IMPORT = DEVICES + "/import"
HOUR_MS = 3_600_000
TOWN_CSV = """kind,id,gateway,zone,road,position,cabinet,lat,lon,depth_cm,overflow_cm,downstream
lamp,L1,gw1,north,Main St,1,C1,52.1,4.1,,,
lamp,L2,gw1,north,Main St,2,C1,,,,,
lamp,L3,gw2,south,Side Rd,1,C2,,,,,
lamp,L4,gw2,south,,,,,,,,
drain,D1,gw3,north,,,,,,120,100,D2
drain,D2,gw3,south,,,,,,200,150,
rain,R1,gw3,north,,,,52.0,4.0,,,
"""
ALL = ["lamp:L1", "lamp:L2", "lamp:L3", "lamp:L4", "drain:D1", "drain:D2", "rain:R1"]


def import_csv(world, text: str, who: str = "admin"):  # noqa: ANN201
    return world.client.post(IMPORT, content=text.encode(),
                      headers={**world.headers(who), "Content-Type": "text/csv"})


def keys(items: list[dict]) -> list[str]:
    return [f"{d['kind']}:{d['id']}" for d in items]


def walk(world, who: str = "viewer", **params) -> list[dict]:  # noqa: ANN003
    """Every page of a filtered list, following next_cursor."""
    items, cursor = [], None
    while True:
        page = world.get(DEVICES, who=who, params={**params, **({"cursor": cursor} if cursor
                                                                 else {})})
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def device_count(world) -> int:  # noqa: ANN001
    with world.res.engine.connect() as conn:
        return sum(conn.execute(select(func.count()).select_from(t)).scalar_one()
                   for t in (Lamp, Drain, RainGauge))


@pytest.fixture
def town(api_on):
    answer = import_csv(api_on, TOWN_CSV)
    assert answer.status_code == 200, answer.text
    return api_on


# Listing -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [1, 2, 3, 7, 100])
def test_pages_walk_every_device_once_in_kind_then_id_order(town, limit):
    assert keys(walk(town, limit=limit)) == ALL


@pytest.mark.parametrize(("params", "expected"), [
    ({"kind": "lamp"}, ["lamp:L1", "lamp:L2", "lamp:L3", "lamp:L4"]),
    ({"zone": "north"}, ["lamp:L1", "lamp:L2", "drain:D1", "rain:R1"]),
    ({"gateway": "gw3"}, ["drain:D1", "drain:D2", "rain:R1"]),
    ({"road": "Main St"}, ["lamp:L1", "lamp:L2"]),
    ({"cabinet": "C2"}, ["lamp:L3"]),
    ({"zone": "south", "kind": "drain"}, ["drain:D2"]),
    ({"kind": "drain", "road": "Main St"}, []),
    ({"zone": "nowhere"}, []),
])
def test_list_filters(town, params, expected):
    assert keys(walk(town, limit=2, **params)) == expected


def test_state_filter_follows_the_clock_through_a_works_window(town):
    start = T0_MS + HOUR_MS
    assert town.post(f"{DEVICES}/L2/retire", who="manager",
                     json={"reason": "pole replaced", "from": start,
                           "until": start + HOUR_MS}).status_code == 200
    assert town.post(f"{DEVICES}/D2/retire", who="manager",
                     json={"reason": "sensor removed"}).status_code == 200

    def states(state: str) -> list[str]:
        return keys(walk(town, limit=2, state=state))

    assert states("out_of_service") == []
    assert states("retired") == ["drain:D2"]
    town.clock.now_ms = start
    assert states("out_of_service") == ["lamp:L2"]
    assert "lamp:L2" not in states("in_service")
    town.clock.now_ms = start + HOUR_MS  # the end is excluded
    assert states("out_of_service") == []
    assert len(states("in_service")) == 6


def test_zone_bound_crew_lists_its_zones_only(town):
    assert keys(walk(town, who="crew@north", limit=2)) == [
        "lamp:L1", "lamp:L2", "drain:D1", "rain:R1"]
    assert walk(town, who="crew@north", zone="south") == []


@pytest.mark.parametrize("cursor", ["nonsense", "WyJ4OnkiXQ", "WzFd", "W10", "bGFtcDo"])
def test_a_damaged_cursor_is_400(town, cursor):
    assert town.get(DEVICES, params={"cursor": cursor}).status_code == 400


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"kind": "pump"},
                                    {"state": "broken"}, {"zone": "a b"}, {"road": "r" * 65}])
def test_bad_list_parameters_are_422(town, params):
    assert town.get(DEVICES, params=params).status_code == 422


# One device --------------------------------------------------------------------------------------
def test_device_with_latest_reading_and_open_alerts(town):
    town.res.influx.write_lines([
        lamp_line("L1", SeriesTags("gw1", "north", "Main St"),
                  LampReading(ts=T0_MS - 60_000, on=True, dim=40, power_w=30.5)),
        lamp_line("L1", SeriesTags("gw1", "north", "Main St"),
                  LampReading(ts=T0_MS - 120_000, on=False))])
    alerts = town.res.alerts
    own = alerts.raise_alert(Condition("lamp_out", "lamp:L1", "north", ("L1",), "L1 dark"),
                             T0_MS, "yellow", T0_MS + HOUR_MS)
    stretch = alerts.raise_alert(Condition("blind_spot", "road:Main St:1", "north",
                                           ("L1", "L2"), "two dark"), T0_MS, "red",
                                 T0_MS + HOUR_MS)
    alerts.raise_alert(Condition("lamp_out", "lamp:L2", "north", ("L2",), "L2 dark"),
                       T0_MS, "yellow", T0_MS + HOUR_MS)
    gone = alerts.raise_alert(Condition("lamp_fault", "lamp:L1", "north", ("L1",), "old"),
                              T0_MS, "blue", T0_MS + HOUR_MS)
    alerts.resolve(gone.id, T0_MS, "crew", "fixed")

    answer = town.get(f"{DEVICES}/L1", who="crew@north")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["kind"] == "lamp" and body["zone"] == "north" and body["state"] == "in_service"
    assert (body["road"], body["position"], body["cabinet"], body["lat"]) == ("Main St", 1, "C1",
                                                                              52.1)
    assert "depth_cm" not in body  # a lamp shows a lamp's columns
    assert body["latest_reading"] == {"time": "2026-11-22T23:59:00.000Z", "on": True,
                                      "dim": 40.0, "power_w": 30.5, "voltage_v": None,
                                      "fault": ""}
    assert [a["id"] for a in body["open_alerts"]] == [own.id, stretch.id]
    assert body["open_alerts"][1]["devices"] == ["L1", "L2"]


def test_a_device_that_never_reported_has_no_latest_reading(town):
    body = town.get(f"{DEVICES}/D1").json()
    assert body["latest_reading"] is None and body["open_alerts"] == []
    assert (body["depth_cm"], body["overflow_cm"], body["downstream"]) == (120.0, 100.0, "D2")
    assert "road" not in body


def test_another_zones_device_is_404_like_a_missing_one(town):
    hidden = town.get(f"{DEVICES}/L3", who="crew@north")
    missing = town.get(f"{DEVICES}/L99", who="crew@north")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"] == "no device 'L3'"


def test_an_id_shared_by_two_kinds_needs_kind(town):
    assert import_csv(town, "kind,id,gateway,zone\ndrain,L1,gw3,north\n").status_code == 200

    assert town.get(f"{DEVICES}/L1").status_code == 409
    assert town.get(f"{DEVICES}/L1", params={"kind": "drain"}).json()["kind"] == "drain"
    assert town.get(f"{DEVICES}/L1", params={"kind": "lamp"}).json()["kind"] == "lamp"


# Create, update, retire --------------------------------------------------------------------------
NEW_LAMP = {"kind": "lamp", "id": "L10", "gateway": "gw1", "zone": "north", "road": "Main St",
            "position": 3, "lat": 52.2, "lon": 4.2}


def test_manager_creates_a_device_and_a_second_create_is_409(town):
    created = town.post(DEVICES, who="manager", json=NEW_LAMP)

    assert created.status_code == 201, created.text
    assert created.json()["state"] == "in_service" and created.json()["position"] == 3
    assert town.get(f"{DEVICES}/L10", who="viewer").json()["road"] == "Main St"
    again = town.post(DEVICES, who="manager", json=NEW_LAMP)
    assert again.status_code == 409 and "taken" in again.json()["detail"]
    other_kind = town.post(DEVICES, who="manager", json={"kind": "rain", "id": "D1",
                                                         "gateway": "gw3", "zone": "north"})
    assert other_kind.status_code == 409 and "drain" in other_kind.json()["detail"]


@pytest.mark.parametrize(("change", "reason"), [
    ({"id": "L 10"}, "id 'L 10' must be 1-64 characters"),
    ({"lat": 95.0}, "lat 95 must be between -90 and 90"),
    ({"lat": None}, "lat and lon go together"),
    ({"position": -1}, "position '-1' must be a whole number"),
    ({"depth_cm": 10}, "depth_cm does not apply to a lamp"),
    ({"road": None}, "position needs a road"),
    ({"out_of_service_from": "2026-03-01"}, "must be an RFC 3339"),
    ({"out_of_service_from": T0_MS, "out_of_service_until": T0_MS},
     "out_of_service_until must be later"),
    ({"kind": "drain", "road": None, "position": None, "depth_cm": 10, "overflow_cm": 20},
     "overflow_cm (20) must not exceed depth_cm (10)"),
])
def test_create_checks_by_the_csv_rules(town, change, reason):
    answer = town.post(DEVICES, who="manager", json={**NEW_LAMP, **change})

    assert answer.status_code == 422, answer.text
    assert reason in answer.json()["detail"]
    assert town.get(f"{DEVICES}/L10").status_code == 404


@pytest.mark.parametrize("body", [{**NEW_LAMP, "colour": "red"}, {**NEW_LAMP, "lat": "north"},
                                  {**NEW_LAMP, "road": {"a": 1}}, {"kind": "lamp"}, [],
                                  {**NEW_LAMP, "id": "x" * 5000}])
def test_malformed_bodies_are_422(town, body):
    assert town.post(DEVICES, who="manager", json=body).status_code == 422


def test_patch_changes_only_what_is_sent_and_null_clears(town):
    answer = town.request("PATCH", f"{DEVICES}/L1", who="manager",
                          json={"cabinet": None, "gateway": "gw9"})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["gateway"], body["cabinet"], body["road"], body["lat"]) == ("gw9", None,
                                                                             "Main St", 52.1)
    bad = town.request("PATCH", f"{DEVICES}/L1", who="manager", json={"zone": "no zone"})
    assert bad.status_code == 422
    assert town.get(f"{DEVICES}/L1").json()["zone"] == "north"


def test_retire_for_good_then_conflict_then_back_into_service(town):
    retired = town.post(f"{DEVICES}/D1/retire", who="manager", json={"reason": "sensor stolen"})

    assert retired.status_code == 200, retired.text
    assert retired.json()["state"] == "retired"
    assert retired.json()["out_of_service_reason"] == "sensor stolen"
    again = town.post(f"{DEVICES}/D1/retire", who="manager", json={"reason": "twice"})
    assert again.status_code == 409 and "retired already" in again.json()["detail"]
    back = town.request("PATCH", f"{DEVICES}/D1", who="manager", json={"in_service": True})
    assert back.json()["state"] == "in_service"
    assert back.json()["out_of_service_reason"] is None


def test_retire_for_planned_works(town):
    window = {"from": "2026-11-23T08:00:00+01:00", "until": T0_MS + 10 * HOUR_MS}
    answer = town.post(f"{DEVICES}/L1/retire", who="manager",
                       json={"reason": "resurfacing", **window})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["out_of_service_from"], body["out_of_service_until"]) == (
        "2026-11-23T07:00:00.000Z", "2026-11-23T10:00:00.000Z")
    assert (body["state"], body["in_service"]) == ("in_service", True)  # not yet
    town.clock.now_ms = T0_MS + 7 * HOUR_MS
    assert town.get(f"{DEVICES}/L1").json()["state"] == "out_of_service"


@pytest.mark.parametrize(("body", "reason"), [
    ({"reason": "works", "from": T0_MS + 2 * HOUR_MS, "until": T0_MS + HOUR_MS}, "later than"),
    ({"reason": "works", "until": T0_MS - 1}, "later than"),
    ({"reason": "works", "from": T0_MS - 2 * HOUR_MS, "until": T0_MS - HOUR_MS}, "passed"),
    ({"reason": "works", "from": "tomorrow"}, "RFC 3339"),
    ({"reason": "a\nb"}, "printable"),
])
def test_retire_refuses_a_bad_window_or_reason(town, body, reason):
    answer = town.post(f"{DEVICES}/L1/retire", who="manager", json=body)

    assert answer.status_code == 422, answer.text
    assert reason in answer.json()["detail"]


def test_a_retired_drain_stays_retired_through_a_csv_reimport(town):
    town.post(f"{DEVICES}/D1/retire", who="manager", json={"reason": "sensor stolen"})

    assert import_csv(town, TOWN_CSV).status_code == 200

    assert town.get(f"{DEVICES}/D1").json()["state"] == "retired"


# Roles and zones ---------------------------------------------------------------------------------
def zone_manager(world) -> str:  # noqa: ANN001
    """A manager key bound to zone north, added to the world as `manager@north`."""
    world.keys["manager@north"] = world.res.keys.create("manager@north", "manager", ["north"],
                                                        world.clock())[1]
    assert world.res.keys._scrypt_n == TEST_SCRYPT_N
    return "manager@north"


@pytest.mark.parametrize("who", ["viewer", "crew", "crew@north"])
def test_below_manager_cannot_write(town, who):
    assert town.post(DEVICES, who=who, json=NEW_LAMP).status_code == 403
    assert town.request("PATCH", f"{DEVICES}/L1", who=who, json={"road": "X"}).status_code == 403
    assert town.post(f"{DEVICES}/L1/retire", who=who, json={"reason": "x"}).status_code == 403
    assert town.get(f"{DEVICES}/L1").json()["road"] == "Main St"


def test_a_zone_bound_manager_writes_in_its_zone_only(town):
    who = zone_manager(town)

    assert town.post(DEVICES, who=who, json=NEW_LAMP).status_code == 201
    assert town.post(DEVICES, who=who, json={**NEW_LAMP, "id": "L11",
                                             "zone": "south"}).status_code == 403
    assert town.request("PATCH", f"{DEVICES}/L3", who=who, json={"road": "X"}).status_code == 404
    assert town.request("PATCH", f"{DEVICES}/L1", who=who,
                        json={"zone": "south"}).status_code == 403
    assert town.post(f"{DEVICES}/L3/retire", who=who, json={"reason": "x"}).status_code == 404
    assert town.get(f"{DEVICES}/L3").json()["state"] == "in_service"


@pytest.mark.parametrize("who", [None, "viewer", "crew", "manager"])
def test_only_admin_imports(town, who):
    assert import_csv(town, TOWN_CSV, who=who).status_code == (401 if who is None else 403)


def test_a_zone_bound_admin_cannot_import(town):
    town.keys["admin@north"] = town.res.keys.create("admin@north", "admin", ["north"],
                                                    town.clock())[1]
    assert import_csv(town, TOWN_CSV, who="admin@north").status_code == 403


# Import ------------------------------------------------------------------------------------------
def test_a_bad_csv_imports_nothing_and_lists_every_problem_by_line(town):
    before = device_count(town)
    text = ("kind,id,gateway,zone,lat,lon\n"
            "lamp,N1,gw1,north,,\n"
            "lamp,N2,gw1,north,95,4\n"
            "\n"
            "drain,N 3,gw1,north,,\n"
            "lamp,N1,gw1,north,,\n")

    answer = import_csv(town, text)

    assert answer.status_code == 422
    body = answer.json()
    assert body["imported"] is False
    assert reported(body["errors"], "line") == [
        (3, "lat 95 must be between -90 and 90"), (5, "id 'N 3' must be 1-64 characters"),
        (6, "duplicate lamp id 'N1' (first on line 2)")]
    assert device_count(town) == before
    assert town.get(f"{DEVICES}/N1").status_code == 404


def reported(errors: list[dict], where: str) -> list[tuple[int, str]]:
    """(line or feature, message) of each error, the message cut at its first `from`/`:`."""
    return [(e[where], e["message"].split(" from ")[0].split(":")[0]) for e in errors]


def test_import_reports_counts(town):
    text = TOWN_CSV + "lamp,L5,gw1,north,,,,,,,,\n"

    body = import_csv(town, text).json()

    assert body == {"imported": True, "lamps": 5, "drains": 2, "gauges": 1, "inserted": 1,
                    "updated": 7, "errors": []}


def feature(lon: float, lat: float, **properties) -> dict:  # noqa: ANN003
    properties.update(properties.pop("extra", {}))
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": properties}


def post_geojson(world, document: object, media: str = "application/geo+json"):  # noqa: ANN201
    return world.client.post(IMPORT, content=json.dumps(document).encode(),
                      headers={**world.headers("admin"), "Content-Type": media})


@pytest.mark.parametrize("media", ["application/geo+json", "application/json"])
def test_geojson_points_import_with_coordinates_as_lon_lat(town, media):
    document = {"type": "FeatureCollection", "features": [
        feature(4.9, 52.37, kind="lamp", id="G1", gateway="gw1", zone="north", road="Dam",
                position=1, in_service=False),
        feature(4.8, 52.36, kind="drain", id="G2", gateway="gw3", zone="south", depth_cm=150,
                overflow_cm=120.5)]}

    answer = post_geojson(town, document, media)

    assert answer.status_code == 200, answer.text
    assert answer.json()["inserted"] == 2
    lamp = town.get(f"{DEVICES}/G1").json()
    assert (lamp["lat"], lamp["lon"], lamp["road"], lamp["state"]) == (52.37, 4.9, "Dam",
                                                                      "retired")
    assert town.get(f"{DEVICES}/G2").json()["overflow_cm"] == 120.5


def test_a_bad_geojson_imports_nothing_and_lists_problems_by_feature(town):
    before = device_count(town)
    document = {"type": "FeatureCollection", "features": [
        feature(4.9, 52.37, kind="lamp", id="G1", gateway="gw1", zone="north"),
        feature(4.9, 95.0, kind="lamp", id="G2", gateway="gw1", zone="north"),
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
         "properties": {"kind": "lamp", "id": "G3", "gateway": "gw1", "zone": "north"}},
        feature(4.9, 52.0, kind="lamp", id="G4", gateway="gw1", zone="north", colour="red"),
        feature(4.9, 52.0, kind="lamp", id="G5", gateway="gw1", zone="north", extra={"lat": 1}),
        feature(4.9, 52.0, kind="lamp", id="G6", gateway="gw1", zone="north", road=[1]),
        "not a feature"]}

    answer = post_geojson(town, document)

    assert answer.status_code == 422
    assert reported(answer.json()["errors"], "feature") == [
        (2, "lat 95 must be between -90 and 90"),
        (3, "geometry must be a Point with coordinates [lon, lat]"),
        (4, "unknown column 'colour'"), (5, "lat comes"),
        (6, "road must be text, a number, true/false or null"),
        (7, "not a GeoJSON Feature (needs \"type\"")]
    assert device_count(town) == before


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"type": "Feature"}',
                                  b'{"type": "FeatureCollection", "features": {}}',
                                  b"\xff\xfe", b"[" * 100_000])
def test_geojson_that_is_not_a_feature_collection_is_422(town, body):
    answer = town.client.post(IMPORT, content=body, headers={**town.headers("admin"),
                                                      "Content-Type": "application/geo+json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["feature"] == 0


def test_an_import_body_over_the_limit_is_413_and_another_type_415(town, monkeypatch):
    monkeypatch.setattr(api.routes.devices, "MAX_IMPORT_BYTES", 100)

    assert import_csv(town, TOWN_CSV).status_code == 413
    assert town.client.post(IMPORT, content=b"x", headers={**town.headers("admin"),
                                                    "Content-Type": "text/plain"}
                     ).status_code == 415
    assert town.client.post(IMPORT, content=b"\xff", headers={**town.headers("admin"),
                                                       "Content-Type": "text/csv"}
                     ).status_code == 422
