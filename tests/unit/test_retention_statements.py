"""The InfluxQL `db upgrade` sends for retention and downsampling (exact strings, pure)."""

from __future__ import annotations

import pytest

from streetwatch.errors import ConfigError
from streetwatch.influx_retention import (
    RetentionPlan,
    RetentionPolicy,
    backfill_statement,
    continuous_queries,
    parse_duration_s,
    policy_statements,
)
from streetwatch.settings import Settings

DAY = 86_400
FRESH = [RetentionPolicy("autogen", 0, True)]  # what CREATE DATABASE makes


def test_a_fresh_database_gets_its_default_policy_altered_and_hourly_created() -> None:
    assert policy_statements(RetentionPlan("sw", 400, 3650), FRESH) == [
        'ALTER RETENTION POLICY "autogen" ON "sw" DURATION 400d SHARD DURATION 7d',
        'CREATE RETENTION POLICY "hourly" ON "sw" DURATION 3650d REPLICATION 1 '
        "SHARD DURATION 52w",
    ]


def test_nothing_to_do_when_the_policies_match() -> None:
    policies = [RetentionPolicy("autogen", 400 * DAY, True),
                RetentionPolicy("hourly", 3650 * DAY, False)]
    assert policy_statements(RetentionPlan("sw", 400, 3650), policies) == []


@pytest.mark.parametrize(("raw", "hourly", "expected"), [
    (0, 0, ['ALTER RETENTION POLICY "raw" ON "sw" DURATION INF SHARD DURATION 7d',
            'ALTER RETENTION POLICY "hourly" ON "sw" DURATION INF SHARD DURATION 52w']),
    (90, 30, ['ALTER RETENTION POLICY "raw" ON "sw" DURATION 90d SHARD DURATION 1d',
              'ALTER RETENTION POLICY "hourly" ON "sw" DURATION 30d SHARD DURATION 1d']),
    (400, 365, ['ALTER RETENTION POLICY "hourly" ON "sw" DURATION 365d SHARD DURATION 7d']),
])
def test_changed_durations_are_altered_with_a_shard_duration_that_fits(
        raw: int, hourly: int, expected: list[str]) -> None:
    """A policy shorter than its shard group is refused by InfluxDB: every ALTER names both."""
    policies = [RetentionPolicy("raw", 400 * DAY, True),
                RetentionPolicy("hourly", 3650 * DAY, False),
                RetentionPolicy("autogen", 0, False)]
    assert policy_statements(RetentionPlan("sw", raw, hourly), policies) == expected


def test_only_the_default_policy_is_altered_and_never_replaced() -> None:
    """Writes name no policy: a new default would hide the points already written."""
    statements = policy_statements(RetentionPlan("sw", 400, 3650), FRESH)
    assert not any("DEFAULT" in statement for statement in statements)


def test_hourly_as_the_default_policy_is_refused() -> None:
    with pytest.raises(ConfigError, match="make the raw policy the default"):
        policy_statements(RetentionPlan("sw", 400, 3650), [RetentionPolicy("hourly", 0, True)])


def test_a_database_without_default_policy_is_refused() -> None:
    with pytest.raises(ConfigError, match="no default retention policy"):
        policy_statements(RetentionPlan("sw", 400, 3650), [RetentionPolicy("autogen", 0, False)])


def test_continuous_queries_exact() -> None:
    queries = continuous_queries("streetwatch", "autogen")
    assert list(queries) == ["lamp_hourly", "drain_hourly", "rain_hourly", "lighting_rate_hourly"]
    assert queries["lamp_hourly"] == (
        'CREATE CONTINUOUS QUERY "lamp_hourly" ON "streetwatch" RESAMPLE EVERY 1h FOR 3h BEGIN '
        'SELECT mean("power_w") AS "power_w", mean("voltage_v") AS "voltage_v", '
        'mean("dim") AS "dim", count("on") AS "readings" '
        'INTO "streetwatch"."hourly"."lamp" FROM "streetwatch"."autogen"."lamp" '
        "GROUP BY time(1h), * END")
    assert 'sum("rain_mm") AS "rain_mm"' in queries["rain_hourly"]
    assert 'max("level_cm") AS "level_cm_max"' in queries["drain_hourly"]


def test_backfill_is_the_cq_query_with_a_time_range() -> None:
    assert backfill_statement("sw", "autogen", "rain", 3_600_000, 7_200_000) == (
        'SELECT sum("rain_mm") AS "rain_mm", count("rain_mm") AS "readings" '
        'INTO "sw"."hourly"."rain" FROM "sw"."autogen"."rain" '
        "WHERE time >= 3600000ms AND time < 7200000ms GROUP BY time(1h), *")


def test_names_are_quoted_identifiers() -> None:
    query = continuous_queries('we"ird', "rp")["rain_hourly"]
    assert 'ON "we\\"ird"' in query and 'FROM "we\\"ird"."rp"."rain"' in query


@pytest.mark.parametrize(("text", "seconds"), [
    ("0s", 0), ("9600h0m0s", 400 * DAY), ("168h0m0s", 7 * DAY), ("1h30m", 5400)])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "7d", "1.5h", "inf"])
def test_parse_duration_refuses_what_show_never_prints(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration_s(text)


def test_plan_from_settings() -> None:
    plan = RetentionPlan.from_settings(Settings(influx_db="town", influx_raw_retention_days=31,
                                                influx_hourly_retention_days=0))
    assert plan == RetentionPlan("town", 31, 0)


def test_raw_retention_must_outlast_the_oldest_reading_the_ingester_accepts() -> None:
    """InfluxDB drops points older than the policy: an accepted reading would vanish."""
    with pytest.raises(ConfigError, match="longer than ingest_max_age_s"):
        RetentionPlan.from_settings(Settings(influx_raw_retention_days=30))
