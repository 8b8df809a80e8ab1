"""Retention and downsampling in InfluxDB, applied by `streetwatch db upgrade` (idempotent).

Raw points stay in the database's default retention policy (`autogen` unless someone changed it),
the one every write without `rp` lands in and every query without one reads: `db upgrade` alters
its DURATION and never makes another policy the default, since that would send new writes to the
new policy and hide every earlier point from Streetwatch's queries, none of which names a policy.
Hourly aggregates go to a second policy, `hourly`, filled by one continuous query (CQ) per
measurement. Creating and altering retention policies needs an InfluxDB admin user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from streetwatch.errors import ConfigError, InfluxRejected, InfluxUnavailable
from streetwatch.influx import InfluxClient, influxql_ident
from streetwatch.settings import Settings, redact_url

HOURLY_RP = "hourly"
DAY_S = 86_400
# A CQ recomputes the hours it covers each time it runs: readings up to this late (an ingester
# catching up after an outage) still reach the hourly means; older ones need a backfill by hand.
RESAMPLE_FOR = "3h"
# One shard group a year for a long hourly policy (InfluxDB would pick a week: 520 shard groups in
# ten years); otherwise InfluxDB's own default for the duration. A shard group must not be longer
# than its policy, so every ALTER of a duration names the shard duration too.
LONG_SHARD_DURATION = "52w"
LONG_SHARD_MIN_DAYS = 2 * 364

# Per measurement, the aggregates its hourly CQ writes (field names in the `hourly` policy). Means,
# except rain (a reading is the rain since the previous one, so the hour's total is the sum) and
# the drain's hourly peak (a mean hides a surge); `readings` counts the raw points of the hour.
HOURLY_AGGREGATES: dict[str, tuple[str, ...]] = {
    "lamp": ('mean("power_w") AS "power_w"', 'mean("voltage_v") AS "voltage_v"',
             'mean("dim") AS "dim"', 'count("on") AS "readings"'),
    "drain": ('mean("level_cm") AS "level_cm"', 'max("level_cm") AS "level_cm_max"',
              'mean("battery_v") AS "battery_v"', 'mean("rssi_dbm") AS "rssi_dbm"',
              'count("level_cm") AS "readings"'),
    "rain": ('sum("rain_mm") AS "rain_mm"', 'count("rain_mm") AS "readings"'),
    "lighting_rate": ('mean("rate") AS "rate"', 'mean("lit") AS "lit"',
                      'mean("expected") AS "expected"', 'mean("stale") AS "stale"',
                      'mean("target") AS "target"'),
}


@dataclass(frozen=True)
class RetentionPolicy:
    """A row of SHOW RETENTION POLICIES; durations in seconds, 0 = for ever."""

    name: str
    duration_s: int
    default: bool


@dataclass(frozen=True)
class RetentionPlan:
    """What the database should hold: raw points for `raw_days`, hourly ones for `hourly_days`."""

    database: str
    raw_days: int
    hourly_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPlan:
        """The plan the settings ask for; ConfigError when raw points would expire before the
        ingester stops accepting them (InfluxDB drops such writes as beyond retention)."""
        raw_days = settings.influx_raw_retention_days
        if raw_days and raw_days * DAY_S <= settings.ingest_max_age_s:
            raise ConfigError(
                f"influx_raw_retention_days ({raw_days}) must be longer than ingest_max_age_s "
                f"({settings.ingest_max_age_s:.0f} s): the ingester accepts readings that old")
        return cls(settings.influx_db, raw_days, settings.influx_hourly_retention_days)


def parse_duration_s(text: str) -> int:
    """Seconds of an InfluxDB policy duration as SHOW prints it (`9600h0m0s`, `0s`)."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not match or not text:
        raise ValueError(f"not an InfluxDB duration: {text!r}")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def duration_literal(days: int) -> str:
    """InfluxQL duration for `days` (0: INF, kept for ever)."""
    return f"{days}d" if days else "INF"


def default_shard_duration(days: int) -> str:
    """InfluxDB's default shard group duration for a policy of `days` (0: for ever)."""
    if days == 0 or days > 182:
        return "7d"
    return "1d" if days >= 2 else "1h"


def hourly_shard_duration(days: int) -> str:
    """A year for a long hourly policy (or one kept for ever), InfluxDB's default otherwise."""
    long = days == 0 or days >= LONG_SHARD_MIN_DAYS
    return LONG_SHARD_DURATION if long else default_shard_duration(days)


def policy_statements(plan: RetentionPlan, policies: list[RetentionPolicy]) -> list[str]:
    """The ALTER/CREATE statements that bring `policies` in line with `plan` (none when they are).

    The default policy is altered in place; `hourly` is created, or its duration altered."""
    db = influxql_ident(plan.database)
    default = default_policy(policies)
    if default.name == HOURLY_RP:
        raise ConfigError(f"the default retention policy of {plan.database} is {HOURLY_RP!r}, "
                          "where Streetwatch keeps hourly means: make the raw policy the default")
    statements = []
    if default.duration_s != plan.raw_days * DAY_S:
        statements.append(f"ALTER RETENTION POLICY {influxql_ident(default.name)} ON {db} "
                          f"DURATION {duration_literal(plan.raw_days)} "
                          f"SHARD DURATION {default_shard_duration(plan.raw_days)}")
    hourly = next((p for p in policies if p.name == HOURLY_RP), None)
    rp, days = influxql_ident(HOURLY_RP), plan.hourly_days
    if hourly is None:
        statements.append(f"CREATE RETENTION POLICY {rp} ON {db} DURATION {duration_literal(days)} "
                          f"REPLICATION 1 SHARD DURATION {hourly_shard_duration(days)}")
    elif hourly.duration_s != days * DAY_S:
        statements.append(f"ALTER RETENTION POLICY {rp} ON {db} DURATION {duration_literal(days)} "
                          f"SHARD DURATION {hourly_shard_duration(days)}")
    return statements


def default_policy(policies: list[RetentionPolicy]) -> RetentionPolicy:
    """The policy writes without `rp` go to; ConfigError when the database has none."""
    default = next((p for p in policies if p.default), None)
    if default is None:
        raise ConfigError("the InfluxDB database has no default retention policy: writes would "
                          "fail; create one (ALTER RETENTION POLICY autogen ON <db> DEFAULT)")
    return default


def hourly_select(database: str, raw_rp: str, measurement: str, where: str = "") -> str:
    """`SELECT <aggregates> INTO <db>.hourly.<m> FROM <db>.<raw rp>.<m> [WHERE ...] GROUP BY
    time(1h), *`: the CQ's query, and with a time range in `where` a backfill by hand."""
    db, m = influxql_ident(database), influxql_ident(measurement)
    where_clause = f" WHERE {where}" if where else ""
    return (f"SELECT {', '.join(HOURLY_AGGREGATES[measurement])} "
            f"INTO {db}.{influxql_ident(HOURLY_RP)}.{m} FROM {db}.{influxql_ident(raw_rp)}.{m}"
            f"{where_clause} GROUP BY time(1h), *")


def backfill_statement(database: str, raw_rp: str, measurement: str,
                       start_ms: int, end_ms: int) -> str:
    """The hourly aggregates of [start, end) written by hand (readings later than RESAMPLE_FOR,
    or data that predates the CQs); both ends should be whole hours."""
    return hourly_select(database, raw_rp, measurement,
                         f"time >= {int(start_ms)}ms AND time < {int(end_ms)}ms")


def cq_name(measurement: str) -> str:
    return f"{measurement}_hourly"


def continuous_queries(database: str, raw_rp: str) -> dict[str, str]:
    """CQ name -> CREATE CONTINUOUS QUERY statement, one per measurement in HOURLY_AGGREGATES."""
    return {
        cq_name(m): (f"CREATE CONTINUOUS QUERY {influxql_ident(cq_name(m))} ON "
                     f"{influxql_ident(database)} RESAMPLE EVERY 1h FOR {RESAMPLE_FOR} BEGIN "
                     f"{hourly_select(database, raw_rp, m)} END")
        for m in HOURLY_AGGREGATES
    }


def read_policies(influx: InfluxClient) -> list[RetentionPolicy]:
    """SHOW RETENTION POLICIES of the client's database."""
    rows = influx.rows(f"SHOW RETENTION POLICIES ON {influxql_ident(influx.database)}")
    return [RetentionPolicy(row["name"], parse_duration_s(row["duration"]), bool(row["default"]))
            for row in rows]


def apply_retention(influx: InfluxClient, plan: RetentionPlan) -> list[str]:
    """Create the database if missing, bring its policies and CQs in line with `plan`; return
    what changed, one phrase each (empty: nothing to do). Safe to run again and again."""
    influx.create_database()
    changes = []
    for statement in policy_statements(plan, read_policies(influx)):
        influx.query(statement, write=True)
        changes.append(_describe(statement))
    raw_rp = default_policy(read_policies(influx)).name
    for name, statement in continuous_queries(plan.database, raw_rp).items():
        changes.extend(_ensure_cq(influx, name, statement))
    return changes


def _describe(statement: str) -> str:
    """`ALTER RETENTION POLICY "autogen" ON "db" DURATION 400d` -> `retention policy autogen: 400d`
    (`created, 3650d` for a CREATE)."""
    verb, name, duration = re.findall(r'^(\w+) RETENTION POLICY "(.+?)" ON \S+ DURATION (\S+)',
                                      statement)[0]
    return f"retention policy {name}: {'created, ' if verb == 'CREATE' else ''}{duration}"


def _ensure_cq(influx: InfluxClient, name: str, statement: str) -> list[str]:
    """CREATE is a no-op when the same CQ exists; a CQ of that name with another query is
    dropped and created anew (InfluxQL has no ALTER CONTINUOUS QUERY)."""
    existed = name in _cq_names(influx)
    try:
        influx.query(statement, write=True)
    except InfluxRejected as exc:
        if "already exists" not in str(exc):
            raise
        influx.query(f"DROP CONTINUOUS QUERY {influxql_ident(name)} ON "
                     f"{influxql_ident(influx.database)}", write=True)
        influx.query(statement, write=True)
        return [f"replaced continuous query {name}"]
    return [] if existed else [f"created continuous query {name}"]


def _cq_names(influx: InfluxClient) -> set[str]:
    results = influx.query("SHOW CONTINUOUS QUERIES")
    series = (results or [{}])[0].get("series", [])
    return {row[0] for s in series if s.get("name") == influx.database
            for row in s.get("values", [])}


def upgrade_influx(settings: Settings) -> str:
    """`db upgrade`'s InfluxDB step: apply the settings' plan and say what changed, in a line.

    A local influxd (no STREETWATCH_INFLUX_URL) that is not running is skipped with a note; an
    external one that cannot be reached is an error (InfluxUnavailable). With
    `influx_manage_retention` off (InfluxDB 2.x/3.x: no InfluxQL policies or CQs) nothing is sent."""
    where = f"influxdb {redact_url(settings.influx_base_url())} database {settings.influx_db}"
    if not settings.influx_manage_retention:
        return f"{where}: retention left alone (influx_manage_retention is false)"
    plan = RetentionPlan.from_settings(settings)
    with InfluxClient.from_settings(settings) as influx:
        if settings.uses_local_influx and not influx.ping():
            return (f"{where}: skipped, the local influxd is not running (run `streetwatch "
                    "services up`, then `streetwatch db upgrade` again)")
        try:
            changes = apply_retention(influx, plan)
        except InfluxUnavailable as exc:
            raise InfluxUnavailable(f"{exc}; retention policies and continuous queries were not "
                                    "created: run `streetwatch db upgrade` again") from None
    summary = "; ".join(changes) if changes else "retention and continuous queries up to date"
    return (f"{where}: {summary} (raw {duration_literal(plan.raw_days)}, {HOURLY_RP} "
            f"{duration_literal(plan.hourly_days)})")


__all__ = [
    "HOURLY_AGGREGATES",
    "HOURLY_RP",
    "RESAMPLE_FOR",
    "RetentionPlan",
    "RetentionPolicy",
    "apply_retention",
    "backfill_statement",
    "continuous_queries",
    "hourly_select",
    "parse_duration_s",
    "policy_statements",
    "upgrade_influx",
]
