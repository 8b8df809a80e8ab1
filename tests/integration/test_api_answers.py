"""The hot list routes write their JSON from plain values (api.formats.json_answer) instead of
their declared models: on each SQL backend, the bytes must be exactly what the models write."""

from __future__ import annotations

from api.alerts import AlertOut, alert_out
from api.devices import DeviceQuery, list_devices
from api.pagination import Page
from api.routes.devices import Device
from streetwatch.alerts.model import Condition, Place
from streetwatch.alerts.records import AlertFilter

from api_world import T0_MS

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

    for limit in (2, 100):
        answer = api_on.get("/api/v1/alerts", who="viewer", params={"limit": limit})
        stored = alerts.page(AlertFilter(), None, limit + 1)
        cursor = answer.json()["next_cursor"]
        expected = Page[AlertOut](items=[alert_out(a) for a in stored[:limit]],
                                  next_cursor=cursor)
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        assert answer.content == expected.model_dump_json().encode()
        assert (cursor is None) == (limit == 100)


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
