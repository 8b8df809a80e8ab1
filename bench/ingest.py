#!/usr/bin/env python
"""Ingest benchmark: the two ceilings and the ingester end to end, measured in ONE run, as ratios.

    .venv/bin/python bench/ingest.py [--messages N] [--batch-size K] [--quick] [--json PATH]

It starts its own Mosquitto and influxd on free loopback ports under a temp dir, then measures
  1. paho receive ceiling   -- a bare paho 2.x client (v2 callbacks, MQTT 3.1.1, QoS 1, persistent
                               session) draining N messages the broker queued for it beforehand;
  2. InfluxDB write ceiling -- pre-encoded lamp points, `InfluxClient.write_lines`, 5,000 a batch,
                               2 writer threads;
  3. ingester, single readings -- `python -m streetwatch ingest` draining N queued lamp readings,
                               timed from its `ingest.connected` log event until InfluxDB holds all N;
  4. ingester, batch payloads  -- the same with `streetwatch/<gw>/batch` messages of K readings;
and prints each figure with its ratio to the LOWER of the two ceilings (goal for 3 and 4: >= 60 %).
Why these ceilings, and DESIGN s.8's figures for comparison: bench/README.md.

This file holds the options, the order of the phases and the report; the phases themselves are in
its sibling modules: ceilings.py (1, 2), end_to_end.py and ingester_child.py (3, 4), workload.py,
mqtt_load.py, local_services.py, cpu_meter.py, profile_summary.py and figures.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# This script is called ingest.py, and Python puts its folder first on sys.path: `import ingest`
# would import this file, not the project's package. So the checkout goes first and bench/ last:
# a project package always wins, and the sibling modules below (named like no project or installed
# module) are still found.
sys.path[:] = [
    str(REPO),
    *(p for p in sys.path if Path(p or ".").resolve() not in (BENCH, REPO)),
    str(BENCH),
]

import httpx
import influxdb_client
import paho.mqtt
import pydantic

from ingest.runner import IngestConfig
from simulators.fleet import Fleet
from simulators.publisher import MAX_BATCH_ITEMS
from streetwatch.influx import MAX_LINES_PER_REQUEST, InfluxClient

from ceilings import influx_write_ceiling, paho_receive_ceiling
from cpu_meter import wait_quiet
from end_to_end import ingest_phase
from figures import Figure, run_in_scratch
from ingester_child import IngestOptions, choose_launcher
from local_services import Services, start_services
from mqtt_load import create_session, drop_session, publish
from profile_summary import print_profile
from workload import (
    batch_messages,
    lamp_fleet,
    lamp_lines,
    now_ms,
    register_fleet,
    single_messages,
)

GOAL_RATIO = 0.60
NOISY_CORES = 0.25  # other processes' CPU during a phase above which the run is flagged
# DESIGN.md s.8 (same machine class, +-25 % between runs): shown next to this run's figures.
DESIGN_FIGURES = {"paho_receive": 15_000.0, "influx_write": 130_000.0}
FIGURE_ORDER = ["paho_receive", "influx_write", "ingest_single", "ingest_batch"]


@dataclass(frozen=True)
class Sizes:
    """How much each phase moves; defaults make every phase run >= ~5 s on a 2-core machine."""

    messages: int  # single-reading messages: phases 1 and 3 (one publish feeds both sessions)
    batch_size: int  # readings per batch message: phase 4
    batch_readings: int  # readings in phase 4, in batch_readings / batch_size messages
    points: int  # pre-encoded points: phase 2
    lamps: int
    gateways: int


def versions() -> dict[str, str]:
    """Exact versions of everything measured."""
    mosquitto = subprocess.run(["mosquitto", "-h"], check=False, capture_output=True, text=True)
    influxd = subprocess.run(["influxd", "version"], check=False, capture_output=True, text=True)

    return {
        "mosquitto": (re.findall(r"mosquitto version (\S+)", mosquitto.stdout) or ["?"])[0],
        "influxd": influxd.stdout.strip() or "?",
        "paho-mqtt": paho.mqtt.__version__,
        "pydantic": pydantic.VERSION,
        "httpx": httpx.__version__,
        "influxdb-client": influxdb_client.__version__,
        "python": platform.python_version(),
        "cpus": str(os.cpu_count()),
    }


@dataclass
class Bench:
    """One run's fixed parts: sizes, services, fleet, the ingester's options, a progress printer."""

    sizes: Sizes
    services: Services
    fleet: Fleet
    options: IngestOptions
    step: Callable[[str], None]

    def settle(self) -> None:
        """Let the services go idle before the next phase, and say how long that took."""
        self.step(f"  waited {wait_quiet(self.services.pids)} s for the services to go idle")


def run(sizes: Sizes, options_in: dict[str, Any], root: Path, stack: contextlib.ExitStack) -> dict:
    """All four phases, each starting on idle services; InfluxDB first, so its compactions are over
    before the MQTT phases, and one publish feeds both the raw and the ingester session."""
    fleet = lamp_fleet(sizes.lamps, sizes.gateways)
    services = start_services(root, fleet.gateways, stack)
    register_fleet(services.sql_url, fleet)
    options = IngestOptions(f"bench-ingest-{uuid.uuid4().hex[:8]}", **options_in)
    bench = Bench(sizes, services, fleet, options, progress())
    figures = [influx_phase(bench), *single_reading_phases(bench), batch_phase(bench)]
    return report(figures, sizes, services, options)


def influx_phase(bench: Bench) -> Figure:
    """Phase 2 on pre-encoded points (encoding is not timed), then drop them."""
    bench.step(f"phase 2: InfluxDB write ceiling, {bench.sizes.points:,} points")
    lines = lamp_lines(bench.fleet.lamps, bench.sizes.points, now_ms())
    figure = influx_write_ceiling(bench.services, "bench_ceiling", lines)
    with InfluxClient(bench.services.influxd.url, "bench_ceiling") as influx:
        influx.query('DROP DATABASE "bench_ceiling"', write=True)
    bench.settle()
    return figure


def single_reading_phases(bench: Bench) -> list[Figure]:
    """Phases 1 and 3: both sessions exist before one publish, so both get the same N messages."""
    services, sizes = bench.services, bench.sizes
    settings = services.settings
    subscription = IngestConfig.from_settings(settings, settings.mqtt_endpoint()).subscription
    raw_id = f"bench-raw-{uuid.uuid4().hex[:8]}"
    for client_id in (raw_id, bench.options.client_id):
        create_session(services, client_id, subscription)
    singles = single_messages(bench.fleet.lamps, sizes.messages, now_ms())
    bench.step(f"publishing {sizes.messages:,} single readings for both sessions")
    bench.step(f"  published in {publish(services, singles):.1f} s")
    del singles
    bench.settle()

    bench.step(f"phase 1: paho receive ceiling, {sizes.messages:,} queued messages")
    raw = paho_receive_ceiling(services, raw_id, sizes.messages)
    drop_session(services, raw_id)  # or phase 4's messages would be queued for it too
    bench.settle()

    bench.step(f"phase 3: ingester, {sizes.messages:,} single-reading messages")
    single = ingest_phase(
        services,
        bench.options,
        "bench_single",
        sizes.messages,
        "ingest_single",
        "ingester e2e, single readings",
    )
    bench.settle()
    return [raw, single]


def batch_phase(bench: Bench) -> Figure:
    """Phase 4: the ingester's session (still subscribed) gets batch messages, then drains them."""
    sizes = bench.sizes
    by_gateway = batch_messages(bench.fleet.lamps, sizes.batch_readings, sizes.batch_size, now_ms())
    messages = sum(len(v) for v in by_gateway.values())
    bench.step(f"publishing {sizes.batch_readings:,} readings in {messages:,} batch messages")
    bench.step(f"  published in {publish(bench.services, by_gateway):.1f} s")
    del by_gateway
    bench.settle()

    bench.step(f"phase 4: ingester, batch payloads of {sizes.batch_size}")
    figure = ingest_phase(
        bench.services,
        bench.options,
        "bench_batch",
        sizes.batch_readings,
        "ingest_batch",
        f"ingester e2e, batches of {sizes.batch_size}",
    )
    figure.extra["messages"] = messages
    figure.extra["messages_per_s"] = round(messages / figure.seconds, 1)
    return figure


def progress() -> Callable[[str], None]:
    t0 = time.monotonic()
    return lambda text: print(
        f"[{time.monotonic() - t0:6.1f} s] {text}", file=sys.stderr, flush=True
    )


def report(figures: list[Figure], sizes: Sizes, services: Services, options: IngestOptions) -> dict:
    """Everything the table and the JSON file show."""
    by_key = {f.key: f for f in figures}
    lowest = min(by_key["paho_receive"].rate, by_key["influx_write"].rate)
    settings = services.settings
    return {
        "versions": versions(),
        "settings": {
            "ingest_batch_size_messages": options.batch_size or settings.ingest_batch_size,
            "ingest_flush_interval_s": options.flush_interval_s or settings.ingest_flush_interval_s,
            "ingest_mqtt_protocol": "MQTT 3.1.1 (ingest/runner.py)",
            "broker_max_inflight_messages": services.broker_conf("max_inflight_messages"),
            "broker_max_queued_messages": services.broker_conf("max_queued_messages"),
            "influx_lines_per_request": MAX_LINES_PER_REQUEST,
            "ingester_command": options.command,
            "profiled": options.profile_dir is not None,
        },
        "sizes": asdict(sizes),
        "lowest_ceiling": round(lowest, 1),
        "goal_ratio": GOAL_RATIO,
        "figures": [
            {
                **asdict(f),
                "rate": round(f.rate, 1),
                "ratio_to_lowest_ceiling": round(f.rate / lowest, 3),
                "design_s8": DESIGN_FIGURES.get(f.key),
            }
            for f in sorted(figures, key=lambda f: FIGURE_ORDER.index(f.key))
        ],
    }


def print_table(result: dict) -> None:
    """The figures, their ratio to the lowest ceiling, and whether end to end meets the goal."""
    print("\nversions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()))
    print("settings: " + ", ".join(f"{k}={v}" for k, v in result["settings"].items()))
    print(
        f"lowest ceiling: {result['lowest_ceiling']:,.0f}/s   goal: end to end >= "
        f"{result['goal_ratio']:.0%} of it\n"
    )
    header = (
        f"{'figure':<42} {'value':>10}  {'unit':<11} {'ratio':>6}  {'goal':<5} {'DESIGN s.8':>10}"
        "  cpu cores"
    )
    print(header)
    print("-" * len(header))
    influx = next(g for g in result["figures"] if g["key"] == "influx_write")
    for f in result["figures"]:
        print(figure_row(f, result["goal_ratio"]))
        if f["extra"].get("messages_per_s"):
            print(f"{'  same run, in messages':<42} {f['extra']['messages_per_s']:>10,.0f}  msg/s")
            print(
                f"{'  same run, vs the InfluxDB ceiling':<42} {f['rate'] / influx['rate']:>10.0%}"
                "  (a batch message carries many readings: paho's msg/s does not bound them)"
            )
    busy = max(f["cpu_cores"].get("others", 0) for f in result["figures"])
    if busy > NOISY_CORES:
        print(
            f"WARNING: other processes used up to {busy} cores during a phase: this run's figures"
            " are skewed low; run again on a quiet machine"
        )
    print()


def figure_row(f: dict[str, Any], goal_ratio: float) -> str:
    """One figure's line: value, ratio, goal met (end to end only), DESIGN s.8, cpu cores."""
    goal = ""
    if f["key"].startswith("ingest"):
        goal = "yes" if f["ratio_to_lowest_ceiling"] >= goal_ratio else "NO"
    design = f"{f['design_s8']:,.0f}" if f["design_s8"] else ""
    cpu = " ".join(f"{k}={v}" for k, v in f["cpu_cores"].items())
    return (
        f"{f['label']:<42} {f['rate']:>10,.0f}  {f['unit']:<11} {f['ratio_to_lowest_ceiling']:>6.0%}"
        f"  {goal:<5} {design:>10}  {cpu}"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, help="single-reading messages (default 100,000)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=50,
        help=f"readings per batch message, 1 to {MAX_BATCH_ITEMS:,} (the wire contract's limit)",
    )
    parser.add_argument(
        "--batch-readings", type=int, help="readings sent in batches (default 500,000)"
    )
    parser.add_argument(
        "--points", type=int, help="points for the InfluxDB ceiling (default 1,200,000)"
    )
    parser.add_argument("--lamps", type=int, help="distinct lamps (series), default 2,000")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run under 30 s")
    parser.add_argument(
        "--ingest-batch-size", type=int, help="override STREETWATCH_INGEST_BATCH_SIZE"
    )
    parser.add_argument(
        "--flush-interval", type=float, help="override STREETWATCH_INGEST_FLUSH_INTERVAL_S"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy record the ingester in phases 3 and 4 (collapsed stacks in DIR)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temp dir (service and ingester logs)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.batch_size <= MAX_BATCH_ITEMS:
        parser.error(f"--batch-size must be between 1 and {MAX_BATCH_ITEMS:,}")
    return args


def sizes_from(args: argparse.Namespace) -> Sizes:
    quick = args.quick
    return Sizes(
        messages=args.messages or (5_000 if quick else 100_000),
        batch_size=args.batch_size,
        batch_readings=args.batch_readings or (25_000 if quick else 500_000),
        points=args.points or (50_000 if quick else 1_200_000),
        lamps=args.lamps or (500 if quick else 2_000),
        gateways=4,
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def raise_on_sigterm() -> None:
    """SIGTERM behaves like Ctrl-C: unwind, so every `finally` stops what we started."""
    signal.signal(signal.SIGTERM, _interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sizes_from(args)
    raise_on_sigterm()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    options = {
        "batch_size": args.ingest_batch_size,
        "flush_interval_s": args.flush_interval,
        "profile_dir": args.profile.resolve() if args.profile else None,
        "launcher": choose_launcher(),
    }
    result = run_in_scratch("streetwatch-bench-", args.keep,
                            lambda root, stack: run(sizes, options, root, stack))
    if isinstance(result, int):
        return result
    print_table(result)
    for figure in result["figures"]:
        if "profile" in figure["extra"]:
            print_profile(figure["key"], figure["extra"]["profile"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
