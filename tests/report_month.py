"""One November (2026, town time Asia/Shanghai) for the monthly report page's tests, stored in an
ApiWorld's real InfluxDB and SQL: lighting-rate samples every tick of every night, alerts
(due, on time, late, still open; a red one late in October too), citizen reports, and a zone
whose name is markup.

- north: ~99.5 % most nights, dips below 99 % every 7th; red due 11 Nov resolved on time, red
  raised 20 Nov still open (overdue), red late in October (a yellow card in November); two
  citizen reports, one answered.
- south: 99 % every night but 10-12 Nov (no samples: a gap in its curve); a yellow alert
  resolved two days late; one citizen report, answered.
- east: 97-98.5 %; a blue alert resolved on time.
- HOSTILE_ZONE: a zone named `<script>...`, 95 %, and a red alert left open.
- the town (`_city`): 98.5 %.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert

from streetwatch.alerts.model import CITY_ZONE, Condition
from streetwatch.registry.models import CitizenReport
from streetwatch.registry.timestamps import datetime_from_ms

MONTH = "2026-11"
EVERY_S = 600  # the settings' rules_every_s for these tests: ten-minute ticks, fewer points
HOSTILE_ZONE = "<script>alert(1)</script>"
ZONES = ("north", "south", "east", HOSTILE_ZONE)
LIGHTING_ZONES = (*ZONES, CITY_ZONE)
DAY_MS = 86_400_000


def ms(text: str) -> int:
    """Epoch ms of a UTC time written without its zone."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOW_MS = ms("2026-12-01T04:00:00")  # noon of 1 December in Shanghai: November is over
NOV_1_MS = ms("2026-10-31T16:00:00")  # local midnight starting 1 November


def rate_of(zone: str, day: int) -> float | None:
    """The zone's lighting rate through the night starting on November `day` (None: no
    samples that night)."""
    if zone == "north":
        return 0.96 if day % 7 == 0 else 0.995
    if zone == "south":
        return None if 10 <= day <= 12 else 0.99
    if zone == "east":
        return 0.97 + (day % 4) * 0.005
    return 0.985 if zone == CITY_ZONE else 0.95


def lighting_lines(expected: int = 200) -> list[str]:
    """A sample per tick from 17:00 to 07:00 local of every November night, per zone."""
    lines = []
    for day in range(1, 31):
        evening_ms = NOV_1_MS + (day - 1) * DAY_MS + 17 * 3_600_000
        for zone in LIGHTING_ZONES:
            rate = rate_of(zone, day)
            if rate is None:
                continue
            lit = round(rate * expected)
            lines += [f"lighting_rate,zone={zone} rate={lit / expected},lit={lit}i,"
                      f"expected={expected}i,stale=0i,target=0.99 "
                      f"{evening_ms + k * EVERY_S * 1000}"
                      for k in range(14 * 3600 // EVERY_S)]
    return lines


def seed_november(world) -> None:  # noqa: ANN001 - an api_world.ApiWorld
    """Store the month in `world` and set its clock to NOW_MS."""
    world.res.influx.write_lines(lighting_lines())
    _alert(world, "north", "lamp:N1", "red", "2026-10-10T00:00", "2026-10-11T00:00",
           "2026-10-12T00:00")
    _alert(world, "north", "lamp:N2", "red", "2026-11-10T00:00", "2026-11-11T00:00",
           "2026-11-10T06:00")
    _alert(world, "north", "lamp:N3", "red", "2026-11-20T00:00", "2026-11-21T00:00")
    _alert(world, "south", "lamp:S1", "yellow", "2026-11-03T00:00", "2026-11-06T00:00",
           "2026-11-08T00:00")
    _alert(world, "east", "drain:E1", "blue", "2026-11-01T00:00", "2026-11-08T00:00",
           "2026-11-02T12:00")
    _alert(world, HOSTILE_ZONE, "lamp:X1", "red", "2026-11-15T00:00", "2026-11-16T00:00")
    _report(world, "R1", "north", "2026-11-05T00:00", "2026-11-05T02:00")
    _report(world, "R2", "north", "2026-11-25T00:00", None)
    _report(world, "R3", "south", "2026-11-07T00:00", "2026-11-09T00:00")
    world.clock.now_ms = NOW_MS


def _alert(world, zone, subject, severity, raised, deadline, resolved=None) -> None:  # noqa: ANN001
    event = world.res.alerts.raise_alert(
        Condition("lamp_out", subject, zone, (subject.split(":")[1],), "dark"), ms(raised),
        severity, ms(deadline))
    if resolved is not None:
        world.res.alerts.resolve(event.id, ms(resolved), "crew", "fixed")


def _report(world, receipt, zone, created, answered) -> None:  # noqa: ANN001
    with world.res.engine.begin() as conn:
        conn.execute(insert(CitizenReport.__table__).values(
            receipt=receipt, created_at=datetime_from_ms(ms(created)), kind="dark_lamp",
            text="dark", zone=zone, status="answered" if answered else "open",
            answer="on it" if answered else None,
            answered_at=None if answered is None else datetime_from_ms(ms(answered))))
