"""The API as a whole (issue 16 item 9), over real SQL and InfluxDB:

- the role matrix: every `/api/v1` endpoint x no key and every role, table-driven (the table must
  name every route the app serves: a new endpoint without a row fails here);
- injection: InfluxQL and SQL metacharacters in every path and query parameter of every GET
  endpoint are refused or harmless: never a 5xx, and the stored data is all still there after.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from api.keys import RANK
from streetwatch.alerts.model import Condition
from streetwatch.influx import InfluxClient
from streetwatch.registry.models import Alert, Lamp
from streetwatch.registry.store import upsert_devices
from streetwatch.settings import RULES_USER, Settings

from api_world import ZONE_CREW, api_world

WHO = (None, "viewer", "crew", ZONE_CREW, "manager", "admin")
PUBLIC = None
DAY_MS = 86_400_000
CSV = "kind,id,gateway,zone\nlamp,L9,gw1,north\n"
# (method, path template, minimum role or PUBLIC, JSON body or text, content type)
ROUTES: list[tuple[str, str, str | None, object]] = [
    ("GET", "/api/v1/devices", "viewer", None),
    ("POST", "/api/v1/devices", "manager", {"kind": "lamp", "id": "L8", "gateway": "gw1",
                                            "zone": "north"}),
    ("GET", "/api/v1/devices/{device_id}", "viewer", None),
    ("PATCH", "/api/v1/devices/{device_id}", "manager", {"road": "R2"}),
    ("POST", "/api/v1/devices/{device_id}/retire", "manager", {"reason": "works",
                                                              "until": "2099-01-01T00:00:00Z"}),
    ("POST", "/api/v1/devices/import", "admin", CSV),
    ("GET", "/api/v1/devices/{device_id}/readings", "viewer", None),
    ("GET", "/api/v1/devices/{device_id}/readings/latest", "viewer", None),
    ("GET", "/api/v1/lighting-rate", "viewer", None),
    ("GET", "/api/v1/lighting-rate/series", "viewer", None),
    ("GET", "/api/v1/lighting-rate/nightly", "viewer", None),
    ("GET", "/api/v1/lighting-rate/monthly", "viewer", None),
    ("GET", "/api/v1/alerts", "viewer", None),
    ("GET", "/api/v1/alerts/{alert_id}", "viewer", None),
    ("POST", "/api/v1/alerts/{alert_id}/ack", "crew", None),
    ("POST", "/api/v1/alerts/{alert_id}/comment", "crew", {"text": "on my way"}),
    ("POST", "/api/v1/alerts/{alert_id}/assign", "manager", {"crew": "crew-north"}),
    ("POST", "/api/v1/alerts/{alert_id}/resolve", "crew", {"note": "replaced the driver"}),
    ("POST", "/api/v1/reports", PUBLIC, {"kind": "other", "text": "a bench is broken",
                                           "lat": 31.0, "lon": 121.0}),
    ("GET", "/api/v1/reports", "manager", None),
    ("GET", "/api/v1/reports/{receipt}", PUBLIC, None),
    ("POST", "/api/v1/reports/{receipt}/answer", "manager", {"answer": "fixed on Monday"}),
    ("POST", "/api/v1/reports/{receipt}/close", "manager", {}),
    ("GET", "/api/v1/scores/monthly", "viewer", None),
    ("GET", "/api/v1/ranking/quarterly", "viewer", None),
    ("GET", "/api/v1/rectification", "viewer", None),
    ("GET", "/api/v1/patrols", "manager", None),
]
QUERIES = {"/api/v1/lighting-rate/series": "?zone=north",
           "/api/v1/lighting-rate/nightly": "?zone=north&from=2026-11-01T00:00:00Z"
                                            "&to=2026-11-03T00:00:00Z",
           "/api/v1/lighting-rate/monthly": "?month=2026-11"}
HOSTILE = ["'", '"', "\\", ";", "' OR '1'='1", '" OR "1"="1', "x'; DROP MEASUREMENT lamp; --",
           "north' OR zone =~ /.*/ --", "/.*/", "x\" ; DROP DATABASE x", "1; SELECT * FROM alerts",
           "%00", "\u202e\u0000", "L1/../L2", "é漢字", "x" * 5000, "-1", "1e309", "NaN"]


@pytest.fixture(scope="module")
def world(mosquitto, influxd, tmp_path_factory):
    """One API for the module: lamps L1 (north) and L2 (south) with readings, an alert on L1,
    a citizen report."""
    root = tmp_path_factory.mktemp("api-contract")
    database = f"test_{uuid.uuid4().hex[:12]}"
    with InfluxClient(influxd.url, database) as influx:
        influx.create_database()
    settings = Settings(state_dir=root / "state", mqtt_url=mosquitto.url_for(RULES_USER),
                        influx_url=influxd.url, influx_db=database,
                        database_url=f"sqlite:///{root / 'streetwatch.db'}")
    with api_world(settings) as world:
        world.clock.now_ms = 1_795_392_000_000 + 10 * DAY_MS
        upsert_devices(world.res.engine, [
            {"id": "L1", "gateway": "gw1", "zone": "north", "lat": 31.23, "lon": 121.47},
            {"id": "L2", "gateway": "gw2", "zone": "south", "lat": 31.24, "lon": 121.48}], [], [])
        world.res.influx.write_lines([
            f"lamp,gateway=gw1,lamp=L1,zone=north on=true,dim=100i,fault=\"\" "
            f"{world.clock.now_ms - 60_000}",
            f"lamp,gateway=gw2,lamp=L2,zone=south on=false,dim=0i,fault=\"lamp_failure\" "
            f"{world.clock.now_ms - 60_000}"])
        raised = world.res.alerts.raise_alert(
            Condition("lamp_out", "lamp:L1", "north", ("L1",), "L1 dark"),
            world.clock.now_ms - DAY_MS, "yellow", world.clock.now_ms + DAY_MS)
        filed = world.client.post("/api/v1/reports", json={"kind": "other", "text": "hello",
                                                              "lat": 31.0, "lon": 121.0})
        world.values = {"device_id": "L1", "alert_id": str(raised.id),
                        "receipt": filed.json()["receipt"]}
        yield world
        world.res.influx.query(f'DROP DATABASE "{database}"', write=True)


# Role matrix ---------------------------------------------------------------------------------
def expected(minimum: str | None, who: str | None) -> str:
    if minimum is PUBLIC:
        return "allowed"
    if who is None:
        return "401"
    role = "crew" if who == ZONE_CREW else who
    return "allowed" if RANK[role] >= RANK[minimum] else "403"


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("method", "template", "minimum", "body"), ROUTES,
                         ids=[f"{m} {t}" for m, t, _, _ in ROUTES])
def test_role_matrix(world, method, template, minimum, body, who):
    path = template.format(**world.values) + QUERIES.get(template, "")
    kwargs = ({"content": body, "headers": {"Content-Type": "text/csv"}} if isinstance(body, str)
              else {} if body is None else {"json": body})
    answer = world.request(method, path, who=who, **kwargs)

    outcome = str(answer.status_code) if answer.status_code in (401, 403) else "allowed"
    assert outcome == expected(minimum, who), f"{who}: {answer.status_code} {answer.text[:300]}"
    assert answer.status_code < 500, answer.text


def test_the_matrix_names_every_route(world):
    schema = world.client.get("/openapi.json").json()
    served = {(method.upper(), path) for path, ops in schema["paths"].items()
              for method in ops if path.startswith("/api/v1/")}
    assert served == {(method, template) for method, template, _, _ in ROUTES}


# Injection -----------------------------------------------------------------------------------
def _get_parameters(world) -> list[tuple[str, str, str]]:
    """(path template, parameter location, name) of every GET parameter under /api/v1."""
    schema = world.client.get("/openapi.json").json()
    return [(path, p["in"], p["name"]) for path, ops in schema["paths"].items()
            if path.startswith("/api/v1/") and "get" in ops
            for p in ops["get"].get("parameters", [])]


def test_metacharacters_in_every_parameter_are_refused_or_harmless(world):
    before = _stored(world)
    tried = 0
    for template, where, name in _get_parameters(world):
        for hostile in HOSTILE:
            values = dict(world.values)
            if where == "path":
                values[name] = quote(hostile, safe="")
                path, params = template.format(**values), {}
            else:
                path, params = template.format(**values), {name: hostile}
            for who in ("admin", ZONE_CREW):
                answer = world.get(path, who=who, params=params)
                tried += 1
                assert answer.status_code < 500, (template, name, hostile, answer.text[:300])
                assert "L2" not in answer.text or who == "admin", (template, name, hostile)
    assert tried > 500
    assert _stored(world) == before  # no statement ran that dropped or changed data


def _stored(world) -> tuple[int, int, int]:
    points = world.res.influx.scalar('SELECT count("on") FROM "lamp"')
    with world.res.engine.connect() as conn:
        lamps = conn.execute(select(func.count()).select_from(Lamp)).scalar_one()
        alerts = conn.execute(select(func.count()).select_from(Alert)).scalar_one()
    return int(points or 0), lamps, alerts
