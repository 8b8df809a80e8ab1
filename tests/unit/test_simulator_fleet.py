"""The simulator's pure core: fleet building, readings, the report clock, batching, rate cap."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.cli import SimulationConfig, load_passwords_file, resolve_passwords
from simulators.fleet import build_fleet, split_evenly
from simulators.publisher import Batcher, TokenBucket, encode
from simulators.readings import (
    DAY_MS,
    FAILURE_FAULTS,
    HOUR_MS,
    LampSchedule,
    ReadingModel,
    Report,
    plan_lamp_failures,
    reading_for,
    release_due,
    schedule_reports,
)
from streetwatch.errors import ConfigError
from streetwatch.schemas import BATCH_ITEM, READING_MODELS
from streetwatch.settings import Settings

ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MIDNIGHT_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
LAMP_KEYS = {"ts", "on", "dim", "power_w", "voltage_v", "fault"}
DRAIN_KEYS = {"ts", "level_cm", "battery_v", "rssi_dbm", "cover_open"}
RAIN_KEYS = {"ts", "rain_mm"}


class FakeClock:
    """A wall clock that only moves when the code under test waits on it."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now_s

    def wait(self, seconds: float) -> bool:
        assert seconds > 0, "waited for nothing: that would spin"
        self.waits.append(seconds)
        self.now_s += seconds
        return False


def model_for(fleet, fail_share=0.0, start_ms=MIDNIGHT_MS, spread_ms=0, interval_ms=60_000):
    failures = plan_lamp_failures(fleet.lamps, fleet.seed, fail_share, start_ms, spread_ms)
    return ReadingModel(fleet.seed, interval_ms, LampSchedule(), failures)


# Fleet ------------------------------------------------------------------------------------------
def test_same_seed_builds_the_same_fleet_and_another_seed_does_not():
    assert build_fleet(7, 3, 100, 10) == build_fleet(7, 3, 100, 10)
    assert build_fleet(7, 3, 100, 10) != build_fleet(8, 3, 100, 10)


def test_counts_and_id_formats():
    fleet = build_fleet(1, gateways=4, lamps=102, drains=10)
    assert fleet.gateways == ("gw1", "gw2", "gw3", "gw4")
    assert fleet.zones == ("Z01", "Z02", "Z03", "Z04")
    assert [x.id for x in fleet.lamps] == [f"L{i:06d}" for i in range(1, 103)]
    assert [x.id for x in fleet.drains] == [f"D{i:05d}" for i in range(1, 11)]
    assert [x.id for x in fleet.gauges] == ["G001", "G002", "G003", "G004"]
    assert Counter(x.gateway for x in fleet.lamps) == {"gw1": 26, "gw2": 26, "gw3": 25, "gw4": 25}
    assert all(re.fullmatch(r"R\d{4}", x.road) for x in fleet.lamps)
    assert all(re.fullmatch(r"C\d{4}", x.cabinet) for x in fleet.lamps)


@pytest.mark.parametrize(
    ("gateways", "zone"), [(1, "Z01"), (99, "Z99"), (100, "Z100"), (120, "Z120")]
)
def test_zone_ids_widen_past_99_gateways(gateways, zone):
    fleet = build_fleet(1, gateways, 0, 0)
    assert fleet.zones[-1] == zone
    assert len(set(fleet.zones)) == gateways
    if gateways >= 100:
        assert fleet.zones[0] == "Z001"


def test_roads_are_ordered_runs_of_about_20_lamps_inside_one_zone():
    fleet = build_fleet(3, 2, 400, 0)
    roads: dict[str, list] = {}
    for lamp in fleet.lamps:
        roads.setdefault(lamp.road, []).append(lamp)
    for lamps in roads.values():
        assert [x.position_on_road for x in lamps] == list(range(1, len(lamps) + 1))
        assert len({x.zone for x in lamps}) == 1
        assert len(lamps) <= 25
    assert 15 <= 400 / len(roads) <= 25
    cabinet_sizes = Counter(x.cabinet for x in fleet.lamps).values()
    assert max(cabinet_sizes) <= 35 and 25 <= 400 / len(cabinet_sizes) <= 35


def test_drains_chain_downstream_within_a_gateway():
    fleet = build_fleet(5, 2, 0, 7)
    for gw in fleet.gateways:
        chain = [d for d in fleet.drains if d.gateway == gw]
        assert [d.downstream_id for d in chain] == [d.id for d in chain[1:]] + [None]
        for d in chain:
            assert 150 <= d.depth_cm <= 400
            assert d.overflow_cm == pytest.approx(d.depth_cm * 0.9, abs=0.06)


def test_registry_rows_have_exactly_the_registry_keys():
    lamps, drains, gauges = build_fleet(1, 2, 5, 3).registry_rows()
    assert set(lamps[0]) == {
        "id", "gateway", "zone", "road", "position_on_road", "cabinet", "lat", "lon"
    }
    assert set(drains[0]) == {"id", "gateway", "zone", "depth_cm", "overflow_cm", "downstream_id"}
    assert set(gauges[0]) == {"id", "gateway", "zone", "lat", "lon"}
    assert (len(lamps), len(drains), len(gauges)) == (5, 3, 2)


def test_gauge_count_can_be_set():
    gauges = build_fleet(1, 3, 0, 0, gauges=4).gauges
    assert [g.gateway for g in gauges] == ["gw1", "gw1", "gw2", "gw3"]
    assert build_fleet(1, 3, 0, 0, gauges=0).gauges == ()


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError):
        build_fleet(1, 0, 10, 1)
    with pytest.raises(ValueError):
        build_fleet(1, 1, -1, 1)


# Readings ---------------------------------------------------------------------------------------
def test_readings_are_deterministic_per_seed_device_and_time():
    fleet = build_fleet(11, 2, 20, 4)
    other = build_fleet(12, 2, 20, 4)
    for device, _twin in zip(fleet.devices, other.devices, strict=False):
        ts = MIDNIGHT_MS + 7 * HOUR_MS + 1234
        again = reading_for(model_for(fleet), device, ts)
        assert reading_for(model_for(fleet), device, ts) == again
    ts_list = range(MIDNIGHT_MS, MIDNIGHT_MS + DAY_MS, HOUR_MS)
    ours = [reading_for(model_for(fleet), d, t) for d in fleet.devices for t in ts_list]
    theirs = [reading_for(model_for(other), d, t) for d in other.devices for t in ts_list]
    assert ours != theirs


def test_payloads_have_exactly_the_wire_fields_and_pass_the_wire_schemas():
    fleet = build_fleet(2, 2, 10, 4)
    model = model_for(fleet, fail_share=0.3)
    expected = {"lamp": LAMP_KEYS, "drain": DRAIN_KEYS, "rain": RAIN_KEYS}
    for ts in range(MIDNIGHT_MS, MIDNIGHT_MS + DAY_MS, 37 * 60_000):
        for device in fleet.devices:
            payload = reading_for(model, device, ts)
            assert set(payload) == expected[device.kind]
            assert payload["ts"] == ts
            READING_MODELS[device.kind].model_validate_json(encode(payload))
            BATCH_ITEM.validate_json(encode({"kind": device.kind, "id": device.id, **payload}))
            assert all(round(v, 2) == v for v in payload.values() if isinstance(v, float))


def test_lamps_are_dark_by_day_and_lit_at_night_except_failing_ones():
    fleet = build_fleet(4, 4, 500, 0)
    model = model_for(fleet, fail_share=0.05)
    failing = set(model.failures)
    assert len(failing) == 25
    for hour in (8, 12, 16):
        day = [reading_for(model, x, MIDNIGHT_MS + hour * HOUR_MS) for x in fleet.lamps]
        assert not any(r["on"] for r in day) and all(r["dim"] == 0 for r in day)
    for hour in (19, 23, 2, 5):
        ts = MIDNIGHT_MS + hour * HOUR_MS
        night = {x.id: reading_for(model, x, ts) for x in fleet.lamps}
        assert {i for i, r in night.items() if not r["on"]} == failing
        assert all(night[i]["fault"] in FAILURE_FAULTS for i in failing)
        working = [r for i, r in night.items() if i not in failing]
        assert all(r["fault"] is None and r["power_w"] > 0 for r in working)


def test_lamps_fail_at_their_seeded_time_and_stay_failed():
    fleet = build_fleet(9, 2, 200, 0)
    model = model_for(fleet, fail_share=0.1, spread_ms=DAY_MS)
    since = {i: f.since_ms for i, f in model.failures.items()}
    assert len(set(since.values())) > 1
    lamp = next(x for x in fleet.lamps if x.id in since)
    night_before = since[lamp.id] - since[lamp.id] % DAY_MS - 4 * HOUR_MS  # 20:00 the day before
    assert reading_for(model, lamp, night_before)["on"] is True
    later = reading_for(model, lamp, since[lamp.id] + DAY_MS)
    assert later["fault"] == model.failures[lamp.id].fault


@pytest.mark.parametrize("share", [0.0, 0.02, 0.1, 0.5, 1.0])
def test_fail_share_is_respected(share):
    fleet = build_fleet(1, 4, 1000, 0)
    assert len(model_for(fleet, fail_share=share).failures) == pytest.approx(share * 1000, abs=1)


def test_drain_levels_stay_between_zero_and_overflow_and_follow_the_day():
    fleet = build_fleet(6, 3, 0, 30)
    model = model_for(fleet)
    by_hour: dict[int, list[float]] = {}
    for ts in range(MIDNIGHT_MS, MIDNIGHT_MS + 7 * DAY_MS, 10 * 60_000):
        for drain in fleet.drains:
            level = reading_for(model, drain, ts)["level_cm"]
            assert 0 <= level < drain.overflow_cm
            by_hour.setdefault(ts % DAY_MS // HOUR_MS, []).append(level)
    mean = {h: sum(v) / len(v) for h, v in by_hour.items()}
    assert mean[7] > mean[3] and mean[19] > mean[3]


def test_rain_is_never_negative_and_mostly_zero():
    fleet = build_fleet(8, 2, 0, 0)
    model = model_for(fleet)
    rain = [reading_for(model, g, ts)["rain_mm"] for g in fleet.gauges
            for ts in range(MIDNIGHT_MS, MIDNIGHT_MS + 30 * DAY_MS, HOUR_MS)]
    assert min(rain) >= 0
    assert 0.8 < rain.count(0.0) / len(rain) < 1.0


# The report clock -------------------------------------------------------------------------------
def test_every_device_reports_once_per_round_with_unique_device_ts():
    fleet = build_fleet(1, 3, 40, 6)
    reports = list(schedule_reports(fleet, MIDNIGHT_MS, 60_000, rounds=5))
    assert len(reports) == 5 * len(fleet.devices)
    assert len({(r.device.id, r.ts_ms) for r in reports}) == len(reports)
    assert [r.ts_ms for r in reports] == sorted(r.ts_ms for r in reports)
    for k in range(5):
        chunk = reports[k * len(fleet.devices):(k + 1) * len(fleet.devices)]
        assert {r.device.id for r in chunk} == {d.id for d in fleet.devices}
        round_ms = MIDNIGHT_MS + k * 60_000
        assert all(round_ms <= r.ts_ms < round_ms + 60_000 for r in chunk)


def test_reports_interleave_gateways():
    fleet = build_fleet(1, 2, 4, 0, gauges=0)
    assert [r.device.gateway for r in schedule_reports(fleet, 0, 1000, 1)] == ["gw1", "gw2"] * 2


def test_nothing_is_released_before_the_wall_clock_reaches_it():
    fleet = build_fleet(1, 2, 10, 2)
    clock = FakeClock(MIDNIGHT_MS / 1000)
    start_ms = MIDNIGHT_MS - 120_000  # two rounds of history, then real time
    released = []
    for report in release_due(schedule_reports(fleet, start_ms, 60_000, 6), clock, clock.wait):
        assert report.ts_ms <= clock() * 1000
        released.append(report)
    assert len(released) == 6 * len(fleet.devices)
    assert clock.waits  # real time was reached
    assert clock() * 1000 == pytest.approx(released[-1].ts_ms)


def test_history_is_caught_up_without_waiting():
    fleet = build_fleet(1, 2, 10, 2)
    clock = FakeClock(MIDNIGHT_MS / 1000)
    history = schedule_reports(fleet, MIDNIGHT_MS - DAY_MS, 60_000, 10)
    reports = list(release_due(history, clock, clock.wait))
    assert len(reports) == 10 * len(fleet.devices) and clock.waits == []


def test_duration_deadline_and_stop_end_the_release():
    fleet = build_fleet(1, 1, 10, 0, gauges=0)
    clock = FakeClock(MIDNIGHT_MS / 1000)
    unbounded = schedule_reports(fleet, MIDNIGHT_MS, 60_000, rounds=None)
    released = list(release_due(unbounded, clock, clock.wait, deadline_s=clock() + 150))
    # rounds at 0, 60, 120 s; lamps 6 s apart; the lamp due exactly at the deadline is not sent
    assert len(released) == 10 + 10 + 5 and clock() == MIDNIGHT_MS / 1000 + 150
    future = schedule_reports(fleet, int(clock() * 1000) + 1, 60_000, 2)
    stopped = list(release_due(future, clock, lambda seconds: True))
    assert stopped == []


def test_before_wait_runs_before_each_hold():
    calls = []
    clock = FakeClock(0.0)
    reports = [Report(build_fleet(1, 1, 1, 0).lamps[0], ts) for ts in (0, 5000, 9000)]
    list(release_due(reports, clock, clock.wait, before_wait=lambda: calls.append(clock())))
    assert calls == [0.0, 5.0]


# Batching and the rate cap ----------------------------------------------------------------------
def test_batches_split_per_gateway_at_batch_size():
    batcher = Batcher(3)
    full = [b for i in range(8) for b in [batcher.add(f"gw{i % 2 + 1}", {"n": i})] if b is not None]
    assert full == [[{"n": 0}, {"n": 2}, {"n": 4}], [{"n": 1}, {"n": 3}, {"n": 5}]]
    assert batcher.drain() == [("gw1", [{"n": 6}]), ("gw2", [{"n": 7}])]
    assert batcher.drain() == []


def test_token_bucket_holds_the_rate_without_spinning():
    clock = FakeClock(100.0)
    bucket = TokenBucket(1000.0, clock, clock.wait)
    for _ in range(5000):
        assert bucket.take()
    assert clock() - 100.0 == pytest.approx(5.0, rel=0.02)
    assert len(clock.waits) <= 5000 / 2  # each wait refills ~2 ms worth (2 tokens here)


def test_token_bucket_wakes_rarely_at_high_rates():
    clock = FakeClock(1e9)
    bucket = TokenBucket(50_000.0, clock, clock.wait)
    for _ in range(100_000):
        assert bucket.take()
    assert clock() - 1e9 == pytest.approx(2.0, rel=0.02)
    assert len(clock.waits) <= 1100


def test_unlimited_rate_never_waits():
    clock = FakeClock(0.0)
    bucket = TokenBucket(0, clock, clock.wait)
    assert all(bucket.take() for _ in range(100)) and clock.waits == []


def test_encode_is_compact_json():
    assert encode({"ts": 1, "on": True, "fault": None}) == b'{"ts":1,"on":true,"fault":null}'


# Properties -------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    gateways=st.integers(1, 12),
    lamps=st.integers(0, 300),
    drains=st.integers(0, 40),
    gauges=st.none() | st.integers(0, 15),
)
def test_fleet_invariants(seed, gateways, lamps, drains, gauges):
    fleet = build_fleet(seed, gateways, lamps, drains, gauges)
    assert fleet == build_fleet(seed, gateways, lamps, drains, gauges)
    assert (len(fleet.lamps), len(fleet.drains)) == (lamps, drains)
    assert len(fleet.gauges) == (gateways if gauges is None else gauges)
    ids = [d.id for d in fleet.devices]
    assert len(set(ids)) == len(ids)
    assert all(ID.fullmatch(i) for i in ids + list(fleet.zones))
    for kind in (fleet.lamps, fleet.drains):
        per_gateway = Counter(d.gateway for d in kind)
        assert max(per_gateway.values(), default=0) - min(per_gateway.values(), default=0) <= 1
    for device in fleet.devices:
        assert fleet.zone_of(device.gateway) == device.zone
    model = model_for(fleet, fail_share=0.1)
    for report in schedule_reports(fleet, MIDNIGHT_MS + seed % DAY_MS, 60_000, rounds=2):
        payload = reading_for(model, report.device, report.ts_ms)
        if report.device.kind == "drain":
            assert 0 <= payload["level_cm"] < report.device.overflow_cm


@given(total=st.integers(0, 10_000), parts=st.integers(1, 200))
def test_split_evenly(total, parts):
    counts = split_evenly(total, parts)
    assert sum(counts) == total and max(counts) - min(counts) <= 1


# Command options --------------------------------------------------------------------------------
def test_bad_options_are_named_together():
    with pytest.raises(ConfigError, match=r"--gateways.*--batch"):
        SimulationConfig(gateways=0, batch=0)
    assert SimulationConfig(rounds=3, duration_s=10).rounds == 3


def test_passwords_file_must_cover_every_gateway(tmp_path):
    path = tmp_path / "passwords.json"
    path.write_text(json.dumps({"gw1": "a", "gw2": "b", "gw9": "c"}))
    assert load_passwords_file(path, ["gw1", "gw2"]) == {"gw1": "a", "gw2": "b"}
    with pytest.raises(ConfigError, match="gw3"):
        load_passwords_file(path, ["gw1", "gw3"])
    external_broker = Settings(mqtt_url="mqtt://broker.example:1883")
    with pytest.raises(ConfigError, match="--passwords-file"):
        resolve_passwords(external_broker, ["gw1"])
