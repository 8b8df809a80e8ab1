"""The hot read routes write their JSON themselves (api.formats.json_answer, api/lighting_now.py)
instead of returning their declared models: the bytes must be exactly what the models write."""

from __future__ import annotations

from api.alerts import AlertOut, alert_out
from api.devices import DeviceQuery, list_devices
from api.lighting import LastPoints, rates_now
from api.pagination import Page
from api.routes.devices import Device
from streetwatch.alerts.model import Condition, Place
from streetwatch.alerts.records import AlertFilter
from streetwatch.settings import RULES_USER

from api_world import T0_MS, ZONE_CREW, api_world

HOUR_MS = 3_600_000
TOWN_CSV = """kind,id,gateway,zone,road,position,cabinet,lat,lon,depth_cm,overflow_cm,downstream
lamp,L1,gw1,north,Main St,1,C1,52.1,4.1,,,
lamp,L2,gw1,north,,,,,,,,
drain,D1,gw3,north,,,,0.1,-179.99999,120.5,100,D2
drain,D2,gw3,south,,,,,,200,150,
rain,R1,gw3,north,,,,52.0,4.0,,,
"""


def test_an_alert_page_is_byte_for_byte_what_its_models_write(api_on):
    alerts = api_on.res.alerts
    places = [Place("Main St", 1, 52.1, 4.3), Place(), Place("Straße \u202e \"q\"", None, 0.1, None)]
    for n, place in enumerate(places):
        condition = Condition("lamp_out", f"lamp:L{n}", "north", (f"L{n}", "L9"),
                              f"L{n} is dark \u00e9\U0001f4a1", place)
        alerts.raise_alert(condition, T0_MS + n, "yellow", T0_MS + HOUR_MS)
    assert api_on.post("/api/v1/alerts/1/ack", who="crew").status_code == 200
    assert api_on.post("/api/v1/alerts/2/assign", who="manager",
                       json={"crew": "north-1"}).status_code == 200
    assert api_on.post("/api/v1/alerts/2/resolve", who="crew",
                       json={"note": "new lamp\n\tdone \u2603"}).status_code == 200

    def pages_as_the_models_write_them() -> None:
        for limit in (2, 100):
            answer = api_on.get("/api/v1/alerts", who="viewer", params={"limit": limit})
            stored = alerts.page(AlertFilter(), None, limit + 1)
            cursor = answer.json()["next_cursor"]
            expected = Page[AlertOut](items=[alert_out(a) for a in stored[:limit]],
                                      next_cursor=cursor)
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "application/json"
            assert answer.content == expected.model_dump_json().encode()
            assert (cursor is None) == (limit == 100)

    pages_as_the_models_write_them()
    api_on.clock.now_ms += 1  # alerts shown before, changed since: never their old JSON
    assert api_on.post("/api/v1/alerts/3/ack", who="crew").status_code == 200
    alerts.repeat("lamp:L0", "lamp_out", T0_MS + 5, ("L0",), "still dark")
    pages_as_the_models_write_them()


def test_a_device_page_is_byte_for_byte_what_its_models_write(api_on):
    imported = api_on.client.post("/api/v1/devices/import", content=TOWN_CSV.encode(),
                                  headers={**api_on.headers("admin"), "Content-Type": "text/csv"})
    assert imported.status_code == 200, imported.text
    assert api_on.post("/api/v1/devices/L2/retire", who="manager",
                       json={"reason": "works", "until": T0_MS + HOUR_MS}).status_code == 200
    assert api_on.post("/api/v1/devices/R1/retire", who="manager",
                       json={"reason": "gone"}).status_code == 200

    for limit in (3, 100):
        answer = api_on.get("/api/v1/devices", who="viewer", params={"limit": limit})
        records = list_devices(api_on.res.engine, DeviceQuery(), None, limit, api_on.clock())
        expected = Page[Device](items=[Device(**record) for record in records],
                                next_cursor=answer.json()["next_cursor"])
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        assert answer.content == expected.model_dump_json(exclude_unset=True).encode()
        assert len(answer.json()["items"]) == min(limit, 5)


def test_the_shared_lighting_answer_is_what_each_moment_computes(settings_for):
    """api/lighting_now.py keeps the serialized answer while it cannot change: across a phase
    change and a point going out of date (within one 5 s refresh of the points), for a bound and
    an unbound key, and with the clock going back, each answer is what `rates_now` computes."""
    settings = settings_for(RULES_USER, town_timezone="UTC", lights_on_grace_s=0,
                            rules_every_s=60, zone_schedules={"Z01": "18:00-06:00",
                                                              "Z02": "19:00-05:00",
                                                              "north": "18:00-06:00"})
    six_pm = T0_MS + 18 * HOUR_MS
    with api_world(settings) as world:
        world.res.influx.write_lines([
            f"lighting_rate,zone=Z01 rate=0.99,lit=99i,expected=100i,stale=0i {six_pm - 60_000}",
            f"lighting_rate,zone=Z02 rate=0.9,lit=90i,expected=100i,stale=1i {six_pm - 120_000}",
            f"lighting_rate,zone=north rate=1.0,lit=7i,expected=7i,stale=0i {six_pm - 30_000}",
            f"lighting_rate,zone=_city rate=0.95,lit=196i,expected=206i,stale=1i {six_pm - 60_000}",
        ])
        moments = [six_pm - 2_000, six_pm - 1, six_pm, six_pm + 1, six_pm + 2_000, six_pm - 500]
        seen: dict[str, set[tuple[str, str]]] = {"Z01": set(), "Z02": set()}
        read: set[int] = set()  # the identities of the points the answers came from
        for now_ms in moments:
            world.clock.now_ms = now_ms
            for who in ("viewer", ZONE_CREW):
                answer = world.get("/api/v1/lighting-rate", who=who)
                principal = world.res.keys.recent(world.keys[who])
                last = world.res.memo("lighting.last_points", LastPoints)
                read.add(id(last.ready(now_ms, 60_000)))
                expected = rates_now(settings, world.res.influx, now_ms, principal, last)
                assert answer.status_code == 200, answer.text
                assert answer.content == expected.model_dump_json().encode(), (now_ms, who)
                for zone in answer.json()["zones"] if who == "viewer" else []:
                    seen.get(zone["zone"], set()).add((zone["phase"], zone["status"]))
        # both boundaries were crossed without the points being read again
        assert len(read) == 1
        assert {phase for phase, _ in seen["Z01"]} == {"day", "night"}
        assert {status for _, status in seen["Z02"]} == {"current", "no_recent_sample"}
