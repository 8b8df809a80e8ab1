#!/usr/bin/env python
"""The pure rule core's phases of bench/rules.py, each in its own child process (fresh heap, no
state from another phase, memory measured alone):

    .venv/bin/python bench/rules_phases.py PHASE PARAMS_JSON RESULT_PATH

  reading -- item 1: us per `RuleEngine.lamp_reading` in steady state (MemorySink, night)
  tick    -- item 2: `RuleEngine.tick(T)` with 1M lamps, ordinary minutes and the end of night
  memory  -- item 3: RSS growth for building the engine and one round of readings
  traced  -- item 3: the same under tracemalloc (Python's own count, and where it goes)
  replay  -- item 4: `rules.replay.replay_lines` over one night of generated observations
  drain_reading -- item 6: us per `RuleEngine.drain_reading` (2,000 drains, bands learned)
  drain_replay  -- item 7: a 30-day, 2,000-drain replay, baselines learned first

The driving loop is replay's: for each whole minute T, the readings with T - 60 s <= ts < T, then
`tick(T)` (a reading stamped exactly at T would come first; the town has none, see rules_town).
Params and results are JSON; progress goes to stderr.
"""

from __future__ import annotations

import cProfile
import gc
import itertools
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# As in bench/ingest.py: this folder holds rules.py, which would shadow the project's `rules`
# package. The checkout goes first and bench/ last.
sys.path[:] = [
    str(REPO),
    *(p for p in sys.path if Path(p or ".").resolve() not in (BENCH, REPO)),
    str(BENCH),
]

import drain_town
from cprofile_top import summarize
from rules_town import DAY0_MS, HOUR_MS, MIN_MS, Readings, Town, build_town

from rules.config import RuleConfig
from rules.drains import DrainNetwork
from rules.engine import RuleEngine
from rules.fleet import Fleet
from rules.lifecycle import MemorySink
from rules.replay import DrainObservation, LampObservation, remember, replay_lines
from streetwatch.settings import Settings

MB = 1_000_000


def log(text: str) -> None:
    print(f"    [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Profiler:
    """cProfile switched on only around the measured calls (a no-op without a path)."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self.profile = cProfile.Profile() if path else None

    def __enter__(self) -> Profiler:
        if self.profile is not None:
            self.profile.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.profile is not None:
            self.profile.disable()

    def result(self) -> dict[str, Any] | None:
        if self.profile is None or self.path is None:
            return None
        self.profile.dump_stats(str(self.path))
        return summarize(self.path)


class Drive:
    """Feeds an engine minute by minute, as replay does, timing readings and ticks apart."""

    def __init__(self, engine: RuleEngine, readings: Readings) -> None:
        self.engine, self.readings = engine, readings
        self.events = 0

    def minute(self, tick_ms: int, profile_readings: Profiler | None = None,
               profile_tick: Profiler | None = None,
               before_tick: Callable[[], None] | None = None,
               settle: list[float] | None = None) -> tuple[float, int, float]:
        """Readings of [tick - 60 s, tick), then tick(tick); returns (readings s, count, tick s).
        With `settle`, `RuleEngine.settle()` right after the tick, its seconds appended there:
        the lamps a tick touched are judged at the end of their instant, which the tick does not
        close (the next reading, or the live runner's next `advance`, would pay for it)."""
        batch = self.readings.window(tick_ms - MIN_MS, tick_ms)
        engine = self.engine
        lamp_reading = engine.lamp_reading
        with profile_readings or _NULL:
            t0 = time.perf_counter()
            for lamp, ts, on, fault in batch:
                lamp_reading(lamp, ts, on, fault)
            self.events += len(engine.take_events())
            t1 = time.perf_counter()
        if before_tick is not None:
            before_tick()
        with profile_tick or _NULL:
            t2 = time.perf_counter()
            engine.tick(tick_ms)
            self.events += len(engine.take_events())
            t3 = time.perf_counter()
            if settle is not None:
                engine.settle()
                self.events += len(engine.take_events())
                settle.append(time.perf_counter() - t3)
        return t1 - t0, len(batch), t3 - t2


_NULL = Profiler(None)


def build(lamps: int, start_ms: int) -> tuple[Town, RuleEngine, dict[str, float]]:
    """The town, its Fleet and a RuleEngine at `start_ms`, each step timed."""
    t0 = time.perf_counter()
    town = build_town(lamps)
    t1 = time.perf_counter()
    fleet = town.fleet()
    t2 = time.perf_counter()
    engine = RuleEngine(fleet, RuleConfig(), town.schedule(), MemorySink(), start_ms)
    t3 = time.perf_counter()
    seconds = {"town_s": round(t1 - t0, 2), "fleet_s": round(t2 - t1, 2),
               "engine_s": round(t3 - t2, 2)}
    log(f"built {lamps:,} lamps: {seconds}")
    return town, engine, seconds


def call_floor_us(batch: list[tuple[str, int, bool, str | None]]) -> float:
    """What the harness alone costs per reading: the same loop calling a no-op method."""

    class Null:
        def lamp_reading(self, lamp: str, ts: int, on: bool, fault: str | None) -> None:
            return None

    call = Null().lamp_reading
    t0 = time.perf_counter()
    for lamp, ts, on, fault in batch:
        call(lamp, ts, on, fault)
    return 1e6 * (time.perf_counter() - t0) / max(len(batch), 1)


# Item 1 -------------------------------------------------------------------------------------------
def phase_reading(params: dict[str, Any]) -> dict[str, Any]:
    """Steady night (20:00 UTC): warm-up pass + first minute unmeasured, then `rounds` rounds of
    5 minutes measured (every lamp `rounds` times); ticks run but are not counted."""
    lamps, rounds = params["lamps"], params["rounds"]
    start = DAY0_MS + 20 * HOUR_MS
    first_round = start + 15 * MIN_MS
    town, engine, build_s = build(lamps, start)
    drive = Drive(engine, Readings(engine.fleet.ids, first_round))
    for tick in range(start + MIN_MS, first_round + 2 * MIN_MS, MIN_MS):
        drive.minute(tick)
    log("warm-up done (one pass of every lamp + 1 minute of rounds)")
    measured_from = first_round + 2 * MIN_MS
    per_minute_us, ticks_ms = [], []
    seconds = count = 0
    gc.collect()
    for tick in range(measured_from, measured_from + rounds * 5 * MIN_MS, MIN_MS):
        s, n, tick_s = drive.minute(tick)
        seconds += s
        count += n
        per_minute_us.append(round(1e6 * s / n, 2))
        ticks_ms.append(round(1000 * tick_s, 2))
    floor = call_floor_us(drive.readings.window(measured_from, measured_from + MIN_MS))
    log(f"{count:,} readings in {seconds:.2f} s: {1e6 * seconds / count:.2f} us each")
    profiler = Profiler(params.get("profile"))
    if profiler.profile is not None:  # one more round, profiled, after the measured ones
        end = measured_from + rounds * 5 * MIN_MS
        for tick in range(end, end + 5 * MIN_MS, MIN_MS):
            drive.minute(tick, profile_readings=profiler)
    return {
        "lamps": lamps, "readings": count, "seconds": round(seconds, 3),
        "us_per_reading": round(1e6 * seconds / count, 3),
        "per_minute_us": per_minute_us, "ticks_ms": ticks_ms, "call_floor_us": round(floor, 3),
        "events": drive.events, "build": build_s, "profile": profiler.result(),
    }


# Item 2 -------------------------------------------------------------------------------------------
def _due_wakes(engine: RuleEngine, at_ms: int) -> int | None:
    """Timers due at or before `at_ms` (read from the core's private wake table; None if the
    core's internals changed shape). Counted outside the timed tick."""
    try:
        return sum(1 for due in engine.lamps.timers._due if due <= at_ms)
    except AttributeError:
        return None


def phase_tick(params: dict[str, Any]) -> dict[str, Any]:
    """1M lamps from 05:20 UTC: warm-up pass 05:21-05:35, rounds from 05:35; ticks 05:37-05:47
    measured. Night ends at 05:45 (dawn 06:00 minus the 900 s grace): every lit lamp holds a
    timer for that instant, so the 05:45 tick is the night's heaviest."""
    lamps = params["lamps"]
    start = DAY0_MS + 5 * HOUR_MS + 20 * MIN_MS
    first_round = start + 15 * MIN_MS
    measured = [first_round + k * MIN_MS for k in range(2, 13)]
    town, engine, build_s = build(lamps, start)
    schedule = town.schedule()
    drive = Drive(engine, Readings(engine.fleet.ids, first_round))
    reading_s = reading_n = 0
    for tick in range(start + MIN_MS, measured[0], MIN_MS):
        s, n, _ = drive.minute(tick)
        reading_s += s
        reading_n += n
    log(f"warm-up done: {reading_n:,} readings, {1e6 * reading_s / reading_n:.2f} us each")
    profiler = Profiler(params.get("profile"))
    ticks = []
    gc.collect()
    for tick in measured:
        in_minute = _due_wakes(engine, tick)  # timers the minute's readings and tick(T) will fire
        due: list[int | None] = []
        settle: list[float] = []
        s, n, tick_s = drive.minute(tick, profile_tick=profiler,
                                    before_tick=lambda t=tick, d=due: d.append(_due_wakes(engine, t)),
                                    settle=settle)
        zone = town.zones[0]
        ticks.append({
            "ts_ms": tick, "hhmm": time.strftime("%H:%M", time.gmtime(tick / 1000)),
            "ms": round(1000 * tick_s, 2), "settle_ms": round(1000 * settle[0], 2),
            "due_timers": due[0], "minute_timers": in_minute,
            "phase_change": schedule.phase(zone, tick - 1) != schedule.phase(zone, tick),
            "phase": schedule.phase(zone, tick), "readings": n,
            "reading_us": round(1e6 * s / n, 2) if n else None,
        })
        log(f"tick {ticks[-1]['hhmm']}: {ticks[-1]['ms']:.1f} ms (+ settle "
            f"{ticks[-1]['settle_ms']:.1f} ms), {due[0]} timers due, "
            f"{n:,} readings at {ticks[-1]['reading_us']} us")
    ordinary = [t["ms"] for t in ticks if not t["phase_change"]]
    return {
        "lamps": lamps, "ticks": ticks,
        "median_ms": round(statistics.median(ordinary), 2) if ordinary else None,
        "worst_ordinary_ms": max(ordinary) if ordinary else None,
        "worst_ms": max(t["ms"] for t in ticks),
        "worst_at": max(ticks, key=lambda t: t["ms"])["hhmm"],
        "warm_up_reading_us": round(1e6 * reading_s / reading_n, 2),
        "events": drive.events, "build": build_s, "profile": profiler.result(),
    }


# Item 3 -------------------------------------------------------------------------------------------
def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _build_and_one_round(lamps: int) -> tuple[RuleEngine, Drive]:
    """Engine at 20:00 (night), then the warm-up pass: every lamp reports once, over 14 min."""
    start = DAY0_MS + 20 * HOUR_MS
    first_round = start + 15 * MIN_MS
    town, engine, _ = build(lamps, start)
    drive = Drive(engine, Readings(engine.fleet.ids, first_round))
    for tick in range(start + MIN_MS, first_round + MIN_MS, MIN_MS):
        drive.minute(tick)
    del town  # the input: a registry load is dropped once the Fleet holds its columns
    gc.collect()
    return engine, drive


def _shape(engine: RuleEngine) -> dict[str, int]:
    """Sizes of the core's biggest containers, to read the memory figure by."""
    lamps = engine.lamps
    shape = {"sites": len(engine.fleet.sites)}
    for name in ("timers", "_active", "_changes", "_runs"):
        if hasattr(lamps, name):
            shape[name] = len(getattr(lamps, name))
    return shape


def phase_memory(params: dict[str, Any]) -> dict[str, Any]:
    """RSS before (interpreter + imports) and after the engine and one round of readings."""
    gc.collect()
    before = _status_kb("VmRSS")
    profiler = Profiler(params.get("profile"))
    t0 = time.perf_counter()
    with profiler:
        engine, drive = _build_and_one_round(params["lamps"])
    seconds = time.perf_counter() - t0
    after = _status_kb("VmRSS")
    gc.collect()
    after_gc = _status_kb("VmRSS")
    result = {
        "lamps": params["lamps"], "rss_before_mb": round(before * 1024 / MB, 1),
        "rss_after_mb": round(after * 1024 / MB, 1),
        "rss_after_gc_mb": round(after_gc * 1024 / MB, 1),
        "state_mb": round((after_gc - before) * 1024 / MB, 1),
        "peak_rss_mb": round(_status_kb("VmHWM") * 1024 / MB, 1),
        "seconds": round(seconds, 2), "shape": _shape(engine), "events": drive.events,
        "profile": profiler.result(),
    }
    log(f"RSS {result['rss_before_mb']} -> {result['rss_after_gc_mb']} MB "
        f"(state {result['state_mb']} MB) in {seconds:.1f} s")
    return result


def phase_traced(params: dict[str, Any]) -> dict[str, Any]:
    """tracemalloc (1 frame) over the same build: Python's own count, and the top lines."""
    gc.collect()
    tracemalloc.start(1)
    base, _ = tracemalloc.get_traced_memory()
    t0 = time.perf_counter()
    engine, drive = _build_and_one_round(params["lamps"])
    gc.collect()
    seconds = time.perf_counter() - t0
    current, peak = tracemalloc.get_traced_memory()
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    top = []
    for stat in snapshot.statistics("lineno")[: params.get("top", 15)]:
        frame = stat.traceback[0]
        top.append({"where": f"{_short(frame.filename)}:{frame.lineno}",
                    "mb": round(stat.size / MB, 1), "blocks": stat.count})
    result = {"lamps": params["lamps"], "traced_mb": round((current - base) / MB, 1),
              "traced_peak_mb": round((peak - base) / MB, 1), "seconds": round(seconds, 1),
              "top": top, "shape": _shape(engine), "events": drive.events}
    log(f"tracemalloc: {result['traced_mb']} MB traced in {seconds:.1f} s")
    return result


def _short(filename: str) -> str:
    from cprofile_top import short_path

    return short_path(filename)


# Item 4 -------------------------------------------------------------------------------------------
def phase_replay(params: dict[str, Any]) -> dict[str, Any]:
    """`replay_lines` from 18:00 for `hours` (12: one night), ticks every minute, every lamp
    every 5 min. The observations are built first (not timed) so the figure is the replay's."""
    lamps, hours = params["lamps"], params["hours"]
    start = DAY0_MS + 18 * HOUR_MS
    end = start + hours * HOUR_MS
    t0 = time.perf_counter()
    town = build_town(lamps)
    readings = Readings(town.ids(), start)  # rounds from 18:00, no warm-up pass
    observations = [LampObservation(ts, lamp, on, fault)
                    for lamp, ts, on, fault in readings.iterate(start, end)]
    prepared_s = time.perf_counter() - t0
    log(f"{len(observations):,} observations built in {prepared_s:.1f} s")
    gc.collect()
    profiler = Profiler(params.get("profile"))
    t1 = time.perf_counter()
    with profiler:
        engine = RuleEngine(town.fleet(), RuleConfig(), town.schedule(), MemorySink(), start)
        lines = alert_lines = chars = 0
        for line in replay_lines(engine, observations, start, end, MIN_MS):
            lines += 1
            chars += len(line)
            if line.startswith('{"type": "alert"'):
                alert_lines += 1
    seconds = time.perf_counter() - t1
    log(f"replay: {lines:,} lines in {seconds:.1f} s")
    return {"lamps": lamps, "hours": hours, "readings": len(observations),
            "seconds": round(seconds, 2), "prepare_s": round(prepared_s, 1), "lines": lines,
            "alert_lines": alert_lines, "output_mb": round(chars / MB, 2),
            "us_per_reading": round(1e6 * seconds / len(observations), 2),
            "profile": profiler.result()}


# Items 6 and 7: drains -------------------------------------------------------------------------
DRAIN_TOWN = Settings.model_construct().model_copy(update={"town_timezone": "UTC"})


def _drain_engine(drains: int,
                  history_days: int) -> tuple[RuleEngine, DrainNetwork, int, float]:
    """An engine over the generated drain town, its bands learned from `history_days` of
    readings before its start (prebuilt, then fed: the learning's own time is returned)."""
    network = drain_town.network(drains)
    start = drain_town.DAY0_MS + history_days * drain_town.DAY_MS
    engine = RuleEngine.from_settings(Fleet([]), DRAIN_TOWN, MemorySink(), start, network)
    history = list(drain_town.observations(network, drain_town.DAY0_MS, start))
    gc.collect()
    gc.freeze()  # millions of prebuilt observations: the collector need not walk them
    t0 = time.perf_counter()
    remember(engine, history)
    learn_s = time.perf_counter() - t0
    log(f"{drains:,} drains learned {len(history):,} readings in {learn_s:.1f} s")
    del history
    gc.collect()
    gc.freeze()  # as stored replay and the live runner do after learning
    return engine, network, start, learn_s


def phase_drain_reading(params: dict[str, Any]) -> dict[str, Any]:
    """One day of every drain's 10-minute readings (and its gauges' rain) through
    `drain_reading` / `rain_reading` after the bands are learned; the day's first bands are
    learned inside it (once a day per drain, as in service)."""
    drains, history = params["drains"], params["history_days"]
    engine, network, start, learn_s = _drain_engine(drains, history)
    day = list(drain_town.observations(network, start, start + drain_town.DAY_MS))
    gc.collect()
    gc.freeze()
    drain_reading, rain_reading = engine.drain_reading, engine.rain_reading
    t0 = time.perf_counter()
    for o in day:
        if type(o) is DrainObservation:
            drain_reading(o.drain, o.ts_ms, o.level_cm, o.battery_v, o.cover_open)
        else:
            rain_reading(o.gauge, o.ts_ms, o.rain_mm)
    seconds = time.perf_counter() - t0
    readings = sum(type(o) is DrainObservation for o in day)
    log(f"{len(day):,} readings in {seconds:.2f} s")
    return {"drains": drains, "readings": readings, "rain_readings": len(day) - readings,
            "seconds": round(seconds, 2), "us_per_reading": round(1e6 * seconds / len(day), 2),
            "learn_s": round(learn_s, 1), "events": len(engine.take_events())}


def phase_drain_replay(params: dict[str, Any]) -> dict[str, Any]:
    """`replay_lines` over `days` of the drain town, ticks every minute, after its bands are
    learned from `history_days` before (timed apart). Each day's observations are generated
    before it is replayed, outside the timing (as item 4 builds its night first)."""
    drains, days, history = params["drains"], params["days"], params["history_days"]
    engine, network, start, learn_s = _drain_engine(drains, history)
    end = start + days * drain_town.DAY_MS
    generating = [0.0, 0]

    def by_day():
        for first in range(start, end, drain_town.DAY_MS):
            t = time.perf_counter()
            day = list(drain_town.observations(network, first, first + drain_town.DAY_MS))
            gc.freeze()  # (prebuilt, as a stored replay's readings are not: see bench/README.md)
            generating[0] += time.perf_counter() - t
            generating[1] += len(day)
            yield day

    lines = alert_lines = notice_lines = 0
    t0 = time.perf_counter()
    observations = itertools.chain.from_iterable(by_day())  # no generator frame per reading
    for line in replay_lines(engine, observations, start, end, MIN_MS):
        lines += 1
        alert_lines += line.startswith('{"type": "alert"')
        notice_lines += line.startswith('{"type": "notice"')
    seconds = time.perf_counter() - t0 - generating[0]
    log(f"replay: {generating[1]:,} readings, {lines:,} lines in {seconds:.1f} s "
        f"(+ {generating[0]:.1f} s generating, not counted)")
    return {"drains": drains, "days": days, "readings": generating[1],
            "seconds": round(seconds + learn_s, 1), "judge_s": round(seconds, 1),
            "learn_s": round(learn_s, 1), "generate_s": round(generating[0], 1),
            "us_per_reading": round(1e6 * seconds / generating[1], 2), "lines": lines,
            "alert_lines": alert_lines, "notice_lines": notice_lines}


PHASES = {"reading": phase_reading, "tick": phase_tick, "memory": phase_memory,
          "traced": phase_traced, "replay": phase_replay, "drain_reading": phase_drain_reading,
          "drain_replay": phase_drain_replay}


def main(argv: list[str]) -> int:
    phase, params, result_path = argv[0], json.loads(argv[1]), Path(argv[2])
    result = PHASES[phase](params)
    result_path.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
