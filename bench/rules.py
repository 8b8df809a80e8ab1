#!/usr/bin/env python
"""Rule-engine benchmark (issue 14, item 11): the pure core's costs and the live runner's alert
latency, each printed with its goal and its ratio to it, measured in ONE run.

    .venv/bin/python bench/rules.py [--quick] [--phases 1,2,3,4,5] [--profile DIR] [--json PATH]

  1. core cost per reading -- 100,000 lamps, steady night, `RuleEngine.lamp_reading` (MemorySink),
                              readings in timestamp order, construction excluded   goal <= 5 us
  2. tick over 1,000,000 lamps -- `RuleEngine.tick(T)` in steady state, with the timers due at T;
                              median of ordinary minutes, and the worst (the end of night)
                                                                                    goal <= 100 ms
  3. state of 1,000,000 lamps -- RSS growth of a child process for the engine plus one round of
                              readings (and tracemalloc's count of where it goes)  goal <= 250 MB
  4. replay of one night    -- `rules.replay.replay_lines`, 10,000 lamps, 5-minute readings, 12 h
                              (1.44 M readings), wall time                          goal <= 30 s
  5. alert latency, live    -- gateway publish -> alert on `streetwatch/alerts/#` through
                              `streetwatch rules` while 10,000 readings/s flow     goal p99 <= 1 s
                              (and the reading rate the runner sustains)           goal 10,000/s
  6. drain cost per reading -- 2,000 drains, bands learned from 14 days, one day of 10-minute
                              readings through `RuleEngine.drain_reading`           (context)
  7. drain replay           -- `replay_lines` over 30 days of 2,000 drains, 10-minute readings
                              (8.6 M), baselines learned from 14 days first         goal <= 60 s

Phases 1-4 run in child processes (bench/rules_phases.py), phase 5 starts its own Mosquitto and
influxd (bench/rules_live.py). The town, its schedule and its readings: bench/rules_town.py. What
each figure means and how it is measured: bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# This script is called rules.py, and Python puts its folder first on sys.path: `import rules`
# would import this file, not the project's package. So the checkout goes first and bench/ last
# (as in bench/ingest.py).
sys.path[:] = [
    str(REPO),
    *(p for p in sys.path if Path(p or ".").resolve() not in (BENCH, REPO)),
    str(BENCH),
]

import paho.mqtt
import pydantic
from cprofile_top import print_summary
from rules_live import LiveOptions, live_phase

from cpu_meter import CpuMeter
from figures import BenchError, run_in_scratch

NOISY_CORES = 0.25  # other processes' CPU during a phase above which the run is flagged
PHASE_TIMEOUT_S = 600


@dataclass(frozen=True)
class Goal:
    value: float
    unit: str
    at_most: bool = True  # False: the figure must reach at least `value`
    slack: float = 0.0  # a share of `value` forgiven (a rate over a finite window, see README)


GOALS = {
    "reading_us": Goal(5.0, "us"),
    "tick_ms": Goal(100.0, "ms"),
    "memory_mb": Goal(250.0, "MB"),
    "replay_s": Goal(30.0, "s"),
    "latency_p99_s": Goal(1.0, "s"),
    "rate": Goal(10_000.0, "/s", at_most=False, slack=0.01),
    "drain_replay_s": Goal(60.0, "s"),
}


@dataclass(frozen=True)
class Sizes:
    reading_lamps: int
    reading_rounds: int
    tick_lamps: int
    memory_lamps: int
    traced_lamps: int
    replay_lamps: int
    replay_hours: int
    live_lamps: int
    live_gateways: int
    live_rate: float
    live_seconds: float
    ceiling_messages: int
    drains: int = 2_000
    drain_days: int = 30
    drain_history_days: int = 14


FULL = Sizes(reading_lamps=100_000, reading_rounds=3, tick_lamps=1_000_000,
             memory_lamps=1_000_000, traced_lamps=100_000, replay_lamps=10_000, replay_hours=12,
             live_lamps=10_000, live_gateways=4, live_rate=10_000, live_seconds=20,
             ceiling_messages=60_000)
QUICK = Sizes(reading_lamps=20_000, reading_rounds=1, tick_lamps=100_000, memory_lamps=100_000,
              traced_lamps=20_000, replay_lamps=2_000, replay_hours=12, live_lamps=2_000,
              live_gateways=4, live_rate=2_000, live_seconds=5, ceiling_messages=10_000,
              drains=200, drain_days=3, drain_history_days=3)


def versions() -> dict[str, str]:
    mosquitto = subprocess.run(["mosquitto", "-h"], check=False, capture_output=True, text=True)
    first = (mosquitto.stdout.splitlines() or ["?"])[0]
    return {"python": platform.python_version(), "paho-mqtt": paho.mqtt.__version__,
            "pydantic": pydantic.VERSION, "mosquitto": first.removeprefix("mosquitto version "),
            "cpus": str(os.cpu_count())}


def progress() -> Callable[[str], None]:
    t0 = time.monotonic()
    return lambda text: print(f"[{time.monotonic() - t0:6.1f} s] {text}", file=sys.stderr,
                              flush=True)


def run_child(phase: str, params: dict[str, Any], root: Path) -> dict[str, Any]:
    """One core phase in a fresh interpreter (bench/rules_phases.py); its result, its wall time
    and the cores each process used meanwhile."""
    result_path = root / f"{phase}.json"
    t0 = time.monotonic()
    child = subprocess.Popen([sys.executable, str(BENCH / "rules_phases.py"), phase,
                              json.dumps(params), str(result_path)], cwd=REPO)
    meter = CpuMeter({"phase child": child.pid, "bench": os.getpid()}).start()
    try:
        code = child.wait(PHASE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(10)
        raise BenchError(f"phase {phase} took more than {PHASE_TIMEOUT_S} s") from None
    finally:
        if child.poll() is None:  # interrupted: do not leave it running
            child.kill()
            child.wait(10)
    cpu = meter.stop()
    if code != 0:
        raise BenchError(f"phase {phase} exited {code} (its traceback is above)")
    result = json.loads(result_path.read_text())
    result["wall_s"] = round(time.monotonic() - t0, 1)
    result["cpu_cores"] = cpu
    return result


def run(sizes: Sizes, phases: set[int], profile_dir: Path | None, root: Path,
        stack: contextlib.ExitStack) -> dict[str, Any]:
    step = progress()
    results: dict[str, Any] = {}

    def prof(name: str) -> str | None:
        return str(profile_dir / f"{name}.prof") if profile_dir else None

    if 1 in phases:
        step(f"item 1: core cost per reading, {sizes.reading_lamps:,} lamps")
        results["reading"] = run_child("reading", {"lamps": sizes.reading_lamps,
                                                   "rounds": sizes.reading_rounds,
                                                   "profile": prof("item1_reading")}, root)
    if 2 in phases:
        step(f"item 2: ticks over {sizes.tick_lamps:,} lamps")
        results["tick"] = run_child("tick", {"lamps": sizes.tick_lamps,
                                             "profile": prof("item2_tick")}, root)
    if 3 in phases:
        step(f"item 3: memory of {sizes.memory_lamps:,} lamps (RSS)")
        results["memory"] = run_child("memory", {"lamps": sizes.memory_lamps,
                                                 "profile": prof("item3_build")}, root)
        step(f"item 3: where it goes, tracemalloc at {sizes.traced_lamps:,} lamps")
        results["traced"] = run_child("traced", {"lamps": sizes.traced_lamps}, root)
    if 4 in phases:
        step(f"item 4: replay of {sizes.replay_hours} h, {sizes.replay_lamps:,} lamps")
        results["replay"] = run_child("replay", {"lamps": sizes.replay_lamps,
                                                 "hours": sizes.replay_hours}, root)
    if 5 in phases:
        step(f"item 5: live alert latency at {sizes.live_rate:,.0f} readings/s")
        options = LiveOptions(
            lamps=sizes.live_lamps, gateways=sizes.live_gateways, rate=sizes.live_rate,
            seconds=sizes.live_seconds, fault_every_s=0.1, dark_every_s=0.5, every_s=60,
            ceiling_messages=sizes.ceiling_messages,
            profile_path=(profile_dir / "item5_runner.prof") if profile_dir else None)
        results["live"] = live_phase(options, root / "live", stack, step)
    if 6 in phases:
        step(f"item 6: drain cost per reading, {sizes.drains:,} drains")
        results["drain_reading"] = run_child("drain_reading", {
            "drains": sizes.drains, "history_days": sizes.drain_history_days}, root)
    if 7 in phases:
        step(f"item 7: drain replay, {sizes.drain_days} days of {sizes.drains:,} drains")
        results["drain_replay"] = run_child("drain_replay", {
            "drains": sizes.drains, "days": sizes.drain_days,
            "history_days": sizes.drain_history_days}, root)
    return results


# Report ---------------------------------------------------------------------------------------------
def row(item: int, label: str, value: float | None, goal_key: str | None, unit: str,
        note: str = "") -> dict[str, Any]:
    """One line of the table; `goal_key` None: a context figure without a goal."""
    goal = GOALS.get(goal_key) if goal_key else None
    ratio = verdict = None
    if goal is not None and value is not None:
        ratio = value / goal.value
        met = (value <= goal.value * (1 + goal.slack) if goal.at_most
               else value >= goal.value * (1 - goal.slack))
        verdict = "met" if met else "MISSED"
    return {"item": item, "label": label, "value": value, "unit": unit,
            "goal": None if goal is None else ("<= " if goal.at_most else ">= ")
            + f"{goal.value:,g} {goal.unit}", "ratio": ratio, "verdict": verdict, "note": note}


def rows(results: dict[str, Any], sizes: Sizes) -> list[dict[str, Any]]:
    out = []
    if r := results.get("reading"):
        out.append(row(1, f"core cost per reading ({r['lamps']:,} lamps, steady night)",
                       r["us_per_reading"], "reading_us", "us",
                       f"{r['readings']:,} readings; per minute {min(r['per_minute_us'])}-"
                       f"{max(r['per_minute_us'])} us; harness floor {r['call_floor_us']} us"))
    if r := results.get("tick"):
        ordinary = [t for t in r["ticks"] if not t["phase_change"]]
        worst = max(r["ticks"], key=lambda t: t["ms"])
        out.append(row(2, f"tick, {r['lamps']:,} lamps, median of {len(ordinary)} minutes",
                       r["median_ms"], "tick_ms", "ms",
                       f"worst ordinary {r['worst_ordinary_ms']} ms; timers due at T: "
                       f"{max((t['due_timers'] or 0) for t in ordinary)} at most (~"
                       f"{_count(max((t.get('minute_timers') or 0) for t in ordinary))} a minute "
                       "fire between ticks, inside lamp_reading: item 1)"))
        out.append(row(2, f"tick, {r['lamps']:,} lamps, worst ({worst['hhmm']}"
                       f"{', night ends' if worst['phase_change'] else ''})",
                       worst["ms"], "tick_ms", "ms",
                       f"{_count(worst['due_timers'])} timers due at that instant; then "
                       f"{worst['settle_ms']:,.0f} ms more to judge the lamps they touched "
                       "(settle(), which the tick leaves to the next reading)"))
        out.append(row(2, f"  (context) reading cost at {r['lamps']:,} lamps",
                       r["warm_up_reading_us"], None, "us",
                       f"build {sum(r['build'].values()):.1f} s {r['build']}"))
    if r := results.get("memory"):
        out.append(row(3, f"state of {r['lamps']:,} lamps + one round, RSS growth",
                       r["state_mb"], "memory_mb", "MB",
                       f"RSS {r['rss_before_mb']} -> {r['rss_after_gc_mb']} MB, "
                       f"peak {r['peak_rss_mb']} MB; {_shape(r['shape'])}"))
    if r := results.get("traced"):
        scale = sizes.memory_lamps / r["lamps"]
        out.append(row(3, f"  (context) tracemalloc at {r['lamps']:,} lamps"
                       + (f", x{scale:g}" if scale != 1 else ""),
                       round(r["traced_mb"] * scale, 1), None, "MB",
                       f"{r['traced_mb']} MB traced at {r['lamps']:,} lamps"))
    if r := results.get("replay"):
        out.append(row(4, f"replay, {r['hours']} h, {r['lamps']:,} lamps "
                       f"({r['readings'] / 1e6:.2f} M readings)", r["seconds"], "replay_s", "s",
                       f"{r['us_per_reading']} us/reading; {r['lines']:,} lines "
                       f"({r['alert_lines']} alerts)"))
    if r := results.get("live"):
        fault, dark = r["kinds"]["lamp_fault"], r["kinds"]["lamp_out"]
        out.append(row(5, "alert latency p50, lamp_fault (no hold)", fault["p50_s"], None, "s",
                       f"{fault['alerts']} of {fault['markers']} markers answered"))
        out.append(row(5, "alert latency p99, lamp_fault (no hold)", fault["p99_s"],
                       "latency_p99_s", "s",
                       f"max {fault['max_s']} s; first/last tenth {fault['first_tenth_mean_s']}"
                       f"/{fault['last_tenth_mean_s']} s"))
        out.append(row(5, "alert latency p99, lamp_out minus its 1 s hold", dark["p99_s"],
                       "latency_p99_s", "s",
                       f"p50 {dark['p50_s']} s; {dark['alerts']} of {dark['markers']} answered"))
        out.append(row(5, "readings/s published (target rate)", r["publish_rate"], "rate", "/s",
                       f"{r['published']:,} in {r['seconds']:g} s"))
        out.append(row(5, "readings/s the runner handled", r["processed_rate"], "rate", "/s",
                       f"runner main thread {r['runner_threads_cores']['main']} cores, "
                       f"other threads {r['runner_threads_cores']['others']}"))
        if r.get("ceiling"):
            out.append(row(5, "  (context) paho receive ceiling, this machine",
                           r["ceiling"]["rate"], None, "/s",
                           "a bare paho client, QoS 1, as bench/ingest.py measures it"))
    if r := results.get("drain_reading"):
        out.append(row(6, f"drain cost per reading ({r['drains']:,} drains, one day)",
                       r["us_per_reading"], None, "us",
                       f"{r['readings']:,} drain + {r['rain_readings']:,} rain readings; "
                       f"bands learned in {r['learn_s']} s first"))
    if r := results.get("drain_replay"):
        out.append(row(7, f"drain replay, {r['days']} days, {r['drains']:,} drains "
                       f"({r['readings'] / 1e6:.2f} M readings)", r["seconds"],
                       "drain_replay_s", "s",
                       f"learn {r['learn_s']} s + judge {r['judge_s']} s "
                       f"({r['us_per_reading']} us/reading); {r['alert_lines']} alerts, "
                       f"{r['notice_lines']} notices; generating {r['generate_s']} s not counted"))
    return out


def _shape(shape: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in shape.items())


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _value(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def print_table(report: dict[str, Any]) -> None:
    print("\nversions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    print("sizes: " + ", ".join(f"{k}={v:,}" for k, v in report["sizes"].items()))
    if report["sizes"] != asdict(FULL):
        print("QUICK OR RESIZED RUN: sizes differ from the goals', verdicts are indicative only")
    if report["profiled"]:
        print("PROFILED RUN: cProfile slows items 2, 3 (build) and 5; item 1 profiles an extra "
              "round after its measured ones")
    header = (f"{'#':<2} {'figure':<56} {'measured':>10} {'unit':<3} {'goal':>13} {'ratio':>8}"
              "  verdict")
    print("\n" + header)
    print("-" * len(header))
    for r in report["rows"]:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        print(f"{r['item']:<2} {r['label']:<56} {_value(r['value']):>10} {r['unit']:<3} "
              f"{r['goal'] or '':>13} {ratio:>8}  {r['verdict'] or ''}")
        if r["note"]:
            print(f"{'':<3}   {r['note']}")
    busy = {name: res["cpu_cores"].get("others", 0.0) for name, res in report["results"].items()
            if isinstance(res, dict) and "cpu_cores" in res}
    noisy = {k: v for k, v in busy.items() if v > NOISY_CORES}
    if noisy:
        print(f"WARNING: other processes used {noisy} cores during these phases: their figures "
              "are skewed; run again on a quiet machine")
    print()


def print_details(results: dict[str, Any]) -> None:
    """What the table only summarizes: every measured tick, where the memory goes, live CPU."""
    if r := results.get("tick"):
        print("item 2, every measured tick:")
        for t in r["ticks"]:
            print(f"  {t['hhmm']} {t['phase']:<9} tick {t['ms']:>10,.2f} ms (+ settle "
                  f"{t['settle_ms']:>8,.2f} ms)  timers due at T "
                  f"{_count(t['due_timers']):>9} (of {_count(t.get('minute_timers')):>9} due "
                  f"in the minute)  {t['readings']:,} readings before it at {t['reading_us']} us")
    if r := results.get("traced"):
        print(f"item 3, tracemalloc top lines at {r['lamps']:,} lamps ({r['traced_mb']} MB "
              "traced; bench/rules_town.py lines are lamp ids the fleet keeps, not bench "
              "leftovers):")
        for t in r["top"]:
            print(f"  {t['mb']:>7.1f} MB {t['blocks']:>10,} blocks  {t['where']}")
    if r := results.get("live"):
        print("item 5, cores used during the load: "
              + ", ".join(f"{k}={v}" for k, v in r["cpu_cores"].items()))
        print(f"  runner: {r['runner_command']}; alerts seen: {r['alerts_seen']}; waited "
              f"{r['drain_s']} s after the load for the last alerts")
    print()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run (~1 min)")
    parser.add_argument("--phases", default="1,2,3,4,5,6,7",
                        help="which items to run, e.g. 1,2 (default: all)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="cProfile items 1, 2, 3 (build) and 5 (the runner); .prof files in "
                        "DIR, top 15 by cumulative and own time printed")
    parser.add_argument("--live-rate", type=float,
                        help="item 5's offered readings/s (default 10,000; the goal's rate)")
    parser.add_argument("--live-seconds", type=float, help="item 5's load duration (default 20)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temp dir (phase results, runner, broker and influxd logs)")
    args = parser.parse_args(argv)
    try:
        args.phase_set = {int(p) for p in args.phases.split(",") if p.strip()}
    except ValueError:
        parser.error("--phases takes numbers 1-7, comma-separated")
    if not args.phase_set <= {1, 2, 3, 4, 5, 6, 7}:
        parser.error("--phases takes numbers 1-7")
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.live_rate:
        sizes = replace(sizes, live_rate=args.live_rate)
    if args.live_seconds:
        sizes = replace(sizes, live_seconds=args.live_seconds)
    signal.signal(signal.SIGTERM, _interrupt)  # unwind: every `finally` stops what we started
    profile_dir = args.profile.resolve() if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    def measure(root: Path, stack: contextlib.ExitStack) -> dict:
        (root / "live").mkdir()
        return run(sizes, args.phase_set, profile_dir, root, stack)

    results = run_in_scratch("streetwatch-bench-rules-", args.keep, measure)
    if isinstance(results, int):
        return results
    report = {"versions": versions(), "sizes": asdict(sizes), "quick": args.quick,
              "profiled": profile_dir is not None, "results": results,
              "rows": rows(results, sizes)}
    print_table(report)
    print_details(results)
    titles = {"reading": "item 1, lamp_reading (one extra round after the measured ones)",
              "tick": "item 2, the measured ticks", "memory": "item 3, building the engine "
              "and one round of readings", "live": "item 5, the runner's main thread"}
    for key, title in titles.items():
        summary = results.get(key, {}).get("profile")
        if summary:
            print_summary(title, summary)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
