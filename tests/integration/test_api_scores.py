"""Scores, ranking and rectification list through the API and `streetwatch report
monthly|quarterly`, over real SQL and a real InfluxDB: one November by hand.

north: lit at 0.945 for one night (lighting part 0.5), 2 red alerts due in November (one on
time, one still open: on-time 0.5, 1 overdue -> 0.8), one repaired in 6 h (repair part 1), one
citizen report answered of one (1.0): (40*.5 + 30*.5 + 10*.8 + 10*1 + 10*1) / 100 = 63.0.
south: lit at 0.99 all night, nothing else: 100.0. October: north had a red alert resolved late
(a yellow card in November), south a yellow one (no card).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from streetwatch.alerts.model import Condition
from streetwatch.registry.models import CitizenReport
from streetwatch.registry.timestamps import datetime_from_ms

from api_world import ZONE_CREW

H, DAY = 3_600_000, 86_400_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOW = ms("2026-11-30T04:00:00")  # 12:00 in Shanghai, the town's zone (settings default)
NIGHT = ms("2026-11-23T10:30:00")  # 18:30 Shanghai: inside the night of Nov 23rd


def _samples(zone: str, rate: float, expected: int = 200) -> list[str]:
    lit = round(rate * expected)
    return [f"lighting_rate,zone={zone} rate={rate},lit={lit}i,expected={expected}i,stale=0i,"
            f"target=0.99 {NIGHT + k * 60_000}" for k in range(600)]


def _alert(api, zone, subject, severity, raised, deadline, resolved=None):
    store = api.res.alerts
    event = store.raise_alert(Condition("lamp_out", subject, zone, (subject[5:],), "dark"),
                              raised, severity, deadline)
    if resolved is not None:
        store.resolve(event.id, resolved, "crew", "fixed")


@pytest.fixture
def november(api):
    api.res.influx.write_lines(_samples("north", 0.945) + _samples("south", 0.99))
    _alert(api, "north", "lamp:N1", "red", ms("2026-10-10T00:00:00"), ms("2026-10-11T00:00:00"),
           resolved=ms("2026-10-12T00:00:00"))
    _alert(api, "south", "lamp:S1", "yellow", ms("2026-10-10T00:00:00"),
           ms("2026-10-11T00:00:00"), resolved=ms("2026-10-12T00:00:00"))
    _alert(api, "north", "lamp:N2", "red", ms("2026-11-10T00:00:00"), ms("2026-11-11T00:00:00"),
           resolved=ms("2026-11-10T06:00:00"))
    _alert(api, "north", "lamp:N3", "red", ms("2026-11-20T00:00:00"), ms("2026-11-21T00:00:00"))
    with api.res.engine.begin() as conn:
        conn.execute(insert(CitizenReport.__table__).values(
            receipt="R1", created_at=datetime_from_ms(ms("2026-11-05T00:00:00")), kind="dark_lamp",
            text="dark", zone="north", status="answered", answer="on it",
            answered_at=datetime_from_ms(ms("2026-11-05T02:00:00"))))
    api.clock.now_ms = NOW
    return api


def test_monthly_scores_by_hand(november):
    answer = november.get("/api/v1/scores/monthly?month=2026-11", who="viewer")
    assert answer.status_code == 200, answer.text
    zones = {z["zone"]: z for z in answer.json()["zones"]}
    assert set(zones) == {"north", "south"}
    north = zones["north"]
    assert north["parts"] == pytest.approx({"lighting": 0.5, "on_time": 0.5, "overdue": 0.8,
                                            "repair": 1.0, "citizen": 1.0, "patrol": None})
    assert north["score"] == 63.0
    assert (north["alerts_due"], north["overdue"], north["reports_answered"]) == (2, 1, 1)
    assert zones["south"]["score"] == 100.0


def test_the_month_defaults_to_the_current_one_and_a_bad_month_is_422(november):
    assert november.get("/api/v1/scores/monthly", who="viewer").json()["month"] == "2026-11"
    for bad in ("2026-13", "2026-1", "'; DROP TABLE alerts; --", "2026-11%27"):
        assert november.get(f"/api/v1/scores/monthly?month={bad}").status_code == 422


def test_quarterly_ranking_and_rectification(november):
    ranking = november.get("/api/v1/ranking/quarterly?quarter=2026-Q4", who="viewer").json()
    assert ranking["months"] == ["2026-10", "2026-11", "2026-12"]
    assert [(z["rank"], z["zone"]) for z in ranking["zones"]] == [(1, "south"), (2, "north")]
    rect = november.get("/api/v1/rectification?month=2026-11", who="viewer").json()
    assert [(z["zone"], z["overdue"], z["yellow_card"]) for z in rect["zones"]] == [
        ("north", 1, True)]
    october = november.get("/api/v1/rectification?month=2026-10", who="viewer").json()
    assert [(z["zone"], z["yellow_card"]) for z in october["zones"]] == [
        ("north", False), ("south", False)]


def test_a_zone_bound_key_sees_its_zones_rows_only(november):
    zones = november.get("/api/v1/scores/monthly?month=2026-11", who=ZONE_CREW).json()["zones"]
    assert [z["zone"] for z in zones] == ["north"]
    ranked = november.get("/api/v1/ranking/quarterly?quarter=2026-Q4", who=ZONE_CREW).json()
    assert [(z["rank"], z["zone"]) for z in ranked["zones"]] == [(2, "north")]


def test_csv_answers_equal_the_report_commands(november, tmp_path):
    monthly = november.get("/api/v1/scores/monthly?month=2026-11&format=csv", who="viewer")
    assert monthly.headers["content-type"].startswith("text/csv")
    quarterly = november.get("/api/v1/ranking/quarterly?quarter=2026-Q4",
                             headers={"Accept": "text/csv"}, who="viewer")
    settings = november.res.settings
    env = {**os.environ, "STREETWATCH_DATABASE_URL": settings.sql_url(),
           "STREETWATCH_INFLUX_URL": settings.influx_base_url(),
           "STREETWATCH_INFLUX_DB": settings.influx_db,
           "STREETWATCH_STATE_DIR": str(tmp_path / "state")}
    for args, api_text in ((["monthly", "--month", "2026-11"], monthly.text),
                           (["quarterly", "--quarter", "2026-Q4"], quarterly.text)):
        printed = subprocess.run([sys.executable, "-m", "streetwatch", "report", *args,
                                  "--at", "2026-11-30T04:00:00Z"], env=env,
                                 capture_output=True, text=True, timeout=60, check=False)
        assert printed.returncode == 0, printed.stderr
        assert printed.stdout == api_text
    assert monthly.text.splitlines()[0].startswith("zone,score,part_lighting")


def test_scores_need_a_key(november):
    assert november.get("/api/v1/scores/monthly", who=None).status_code == 401
