"""Night patrols through the console over real SQL (SQLite and PostgreSQL) and a real InfluxDB:
the proposed route, marks stored in SQL, a dark mark on a lamp whose telemetry says lit raising
a patrol_mismatch alert the API reports, zone binding, finishing, and the CSV of one patrol
and of a month (`/api/v1/patrols`)."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import pytest

from api.console.access import COOKIE
from streetwatch.alerts.model import Condition, rfc3339_ms
from streetwatch.influx import InfluxClient
from streetwatch.registry.store import upsert_devices
from streetwatch.services.process import free_port

from api_world import ZONE_CREW
from console_client import csrf_of, signed_in

H = 3_600_000
LAMPS = [{"id": f"N{p}", "gateway": "gw1", "zone": "north", "road": "Main St",
          "position_on_road": p, "lat": 31.2300 + 0.0005 * p, "lon": 121.47} for p in range(1, 8)]
SOUTH = [{"id": "S1", "gateway": "gw2", "zone": "south", "road": "South Rd",
          "position_on_road": 1, "lat": 31.1, "lon": 121.4}]


def alert(world, kind, lamp, zone="north", resolved_h_ago=None):
    now = world.clock()
    event = world.res.alerts.raise_alert(
        Condition(kind, f"lamp:{lamp}", zone, (lamp,), f"{kind} {lamp}"),
        now - 30 * 24 * H, "yellow", now + 72 * H)
    if resolved_h_ago is not None:
        world.res.alerts.resolve(event.id, now - resolved_h_ago * H, "rules", "lit again")
    return event.id


def reading(world, lamp, on, age_ms=60_000, fault=""):
    world.res.influx.write_lines([
        f'lamp,gateway=gw1,lamp={lamp},road=Main\\ St,zone=north fault="{fault}",'
        f'on={"true" if on else "false"} {world.clock() - age_ms}'])


@pytest.fixture
def town(api_on):
    upsert_devices(api_on.res.engine, LAMPS + SOUTH, [], [])
    alert(api_on, "lamp_out", "N5")
    alert(api_on, "lamp_silent", "N2")
    alert(api_on, "citizen_report", "N2")
    alert(api_on, "lamp_out", "N6", resolved_h_ago=24)       # repaired yesterday
    alert(api_on, "lamp_out", "N7", resolved_h_ago=30 * 24)  # long ago: not on the route
    alert(api_on, "day_burner", "N1")                        # not a reason to walk at night
    alert(api_on, "lamp_out", "S1", zone="south")
    return api_on


def start(client, zone="north") -> int:
    answer = client.post("/console/patrol", data={"csrf": csrf_of(client), "zone": zone})
    assert answer.status_code == 303, answer.text
    return int(answer.headers["location"].rsplit("/", 1)[1])


def mark(client, patrol, lamp, what, note=""):
    return client.post(f"/console/patrol/{patrol}/mark",
                       data={"csrf": csrf_of(client), "lamp": lamp, "mark": what, "note": note})


def test_the_route_holds_the_lamps_to_check_along_their_road(town):
    client = signed_in(town)
    page = client.get("/console/patrol").text  # one zone: proposed at once
    assert re.findall(r'class="stop" data-lamp="(\w+)"', page) == ["N2", "N5", "N6"]
    assert "silent, reported by a citizen" in page and "recently repaired" in page
    assert "Route for north: 3 lamps to check" in page
    everyone = signed_in(town, "crew").get("/console/patrol?zone=south").text
    assert re.findall(r'class="stop" data-lamp="(\w+)"', everyone) == ["S1"]


def test_a_patrol_with_a_mismatch(town):
    reading(town, "N5", on=True)                  # telemetry: lit, fresh
    reading(town, "N2", on=True, age_ms=2 * H)    # lit, but stale: not lit by telemetry
    reading(town, "N6", on=True, fault="lamp_failure")
    client = signed_in(town)
    patrol = start(client)
    assert mark(client, patrol, "N5", "dark", "pole 5, photo 0012").status_code == 303
    for lamp in ("N2", "N6"):
        mark(client, patrol, lamp, "dark")
    page = client.get(f"/console/patrol/{patrol}").text
    (alert_id,) = {int(x) for x in re.findall(r'/console/alerts/(\d+)" class="mismatch', page)}
    assert "3 of 3 lamps marked" in page
    shown = town.get(f"/api/v1/alerts/{alert_id}", who="viewer").json()
    assert (shown["kind"], shown["subject"], shown["severity"], shown["zone"]) == (
        "patrol_mismatch", "lamp:N5", "yellow", "north")
    assert shown["deadline"] == rfc3339_ms(town.clock() + 72 * H)
    assert shown["history"][0]["by"] == ZONE_CREW and "photo 0012" in shown["message"]
    assert shown["place"] == {"road": "Main St", "position": 5, "lat": 31.2325, "lon": 121.47}
    mismatches = town.get("/api/v1/alerts?kind=patrol_mismatch", who="viewer").json()["items"]
    assert [a["id"] for a in mismatches] == [alert_id]  # N2 stale, N6 dark by fault: no alert
    # The same lamp seen dark again on the next patrol: a repeat of the open alert.
    client.post(f"/console/patrol/{patrol}/finish", data={"csrf": csrf_of(client)})
    again = start(client)
    mark(client, again, "N5", "dark")
    assert f"/console/alerts/{alert_id}" in client.get(f"/console/patrol/{again}").text
    assert town.res.alerts.get(alert_id).seen_count == 2
    assert f'data-alert-id="{alert_id}"' in client.get("/console").text


def test_marks_notes_added_lamps_and_finishing(town):
    client = signed_in(town)
    patrol = start(client)
    assert mark(client, patrol, "N2", "lit", "=HYPERLINK(\"x\")").status_code == 303
    assert mark(client, patrol, "N6", "damaged", "glass broken").status_code == 303
    assert mark(client, patrol, "N6", "sparkling").status_code == 422
    assert mark(client, patrol, "N1", "lit").status_code == 409  # not on the route
    added = client.post(f"/console/patrol/{patrol}/add",
                        data={"csrf": csrf_of(client), "lamp": "N1"})
    assert added.status_code == 303 and mark(client, patrol, "N1", "lit").status_code == 303
    unknown = client.post(f"/console/patrol/{patrol}/add",
                          data={"csrf": csrf_of(client), "lamp": "S1"})
    assert unknown.status_code == 422 and "has no lamp S1" in unknown.text
    finished = client.post(f"/console/patrol/{patrol}/finish", data={"csrf": csrf_of(client)})
    assert finished.status_code == 303
    assert mark(client, patrol, "N5", "lit").status_code == 409
    rows = list(csv.DictReader(io.StringIO(client.get(f"/console/patrol/{patrol}.csv").text)))
    assert [(r["seq"], r["lamp"], r["reasons"], r["mark"]) for r in rows] == [
        ("1", "N2", "silent;reported", "lit"), ("2", "N5", "dark", ""),
        ("3", "N6", "repaired", "damaged"), ("4", "N1", "added", "lit")]
    assert rows[0]["note"] == "'=HYPERLINK(\"x\")" and rows[0]["patroller"] == ZONE_CREW
    assert rows[0]["finished_at"] == rfc3339_ms(town.clock())
    month = town.get("/api/v1/patrols?month=2026-11&format=csv", who="manager")
    assert month.status_code == 200 and list(csv.DictReader(io.StringIO(month.text))) == rows
    assert town.get("/api/v1/patrols?month=2026-11", who="crew").status_code == 403
    listed = town.get("/api/v1/patrols?month=2026-11", who="manager").json()["patrols"]
    assert [(p["id"], len(p["lamps"])) for p in listed] == [(patrol, 4)]
    assert town.get("/api/v1/patrols?month=2026-10", who="manager").json()["patrols"] == []


def test_a_zone_bound_key_patrols_its_zones_only(town):
    south = signed_in(town, "crew")
    south_patrol = start(south, "south")
    client = signed_in(town)
    assert client.get(f"/console/patrol/{south_patrol}").status_code == 404
    assert client.get(f"/console/patrol/{south_patrol}.csv").status_code == 404
    assert mark(client, south_patrol, "S1", "dark").status_code == 404
    assert client.post("/console/patrol",
                       data={"csrf": csrf_of(client), "zone": "south"}).status_code == 404
    assert "south" not in re.findall(r'<option value="(\w+)"', client.get("/console/patrol").text)
    _, key = town.res.keys.create("office-north", "manager", ["north"], town.clock())
    shown = town.client.get("/api/v1/patrols?month=2026-11",
                            headers={"Authorization": f"Bearer {key}"}).json()["patrols"]
    assert shown == []


def test_a_dark_mark_is_kept_when_telemetry_cannot_be_read(town):
    client = signed_in(town)
    patrol = start(client)
    town.res.influx = InfluxClient(f"http://127.0.0.1:{free_port()}", "x", retries=1,
                                   sleep=lambda s: None)
    answer = mark(client, patrol, "N5", "dark")
    assert answer.status_code == 303 and "?unchecked=N5" in answer.headers["location"]
    page = client.get(answer.headers["location"]).text
    assert "Telemetry could not be read" in page and 'data-mark="dark"' in page
    assert COOKIE in client.cookies


def test_finished_patrols_count_in_the_monthly_score(town):
    client = signed_in(town)
    patrol = start(client)
    client.post(f"/console/patrol/{patrol}/finish", data={"csrf": csrf_of(client)})
    start(client)  # under way: not counted
    scores = town.get("/api/v1/scores/monthly?month=2026-11", who="viewer").json()["zones"]
    zones = {z["zone"]: z for z in scores}
    weeks = (town.clock() - int(datetime.fromisoformat("2026-10-31T16:00:00Z").timestamp() * 1000)) / (7 * 24 * H)  # Nov 1st, Shanghai
    assert zones["north"]["patrols"] == 1
    assert zones["north"]["parts"]["patrol"] == pytest.approx(1 / (3 * weeks))
    assert (zones["south"]["patrols"], zones["south"]["parts"]["patrol"]) == (0, 0.0)
    table = town.get("/api/v1/scores/monthly?month=2026-11&format=csv", who="viewer").text
    rows = {r["zone"]: r for r in csv.DictReader(io.StringIO(table))}
    assert rows["north"]["patrols"] == "1" and float(rows["south"]["part_patrol"]) == 0.0
