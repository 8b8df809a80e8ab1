"""Item 5: alert latency through the live rule runner while a stream of readings flows.

The bench's own Mosquitto and influxd (bench/local_services.py), a SQLite registry with the town's
lamps, then:

  0. the paho receive ceiling of this machine, measured as bench/ingest.py does (a bare paho
     client draining N queued messages): no Python MQTT consumer, the runner included, can take
     readings faster than that, so it is the ceiling the achieved rate is read against;
  1. `python -m streetwatch rules --warm-up 0` as a child process (the production composition
     root: `rules.service.run_rules`), as `rules@streetwatch`, every zone in a fixed lights-on
     period around the current time (UTC), `lamp_out_after_s=1`, ticks every `rules_every_s`;
  2. a subscriber on `streetwatch/alerts/#` in this process, stamping each alert on arrival;
  3. the gateways in a child process (bench/rules_publisher.py): healthy readings at the target
     rate plus marker readings (`lamp_fault`: no hold; `lamp_out`: 1 s hold, subtracted), each
     marker's publish time recorded.

Latency = alert arrival - marker publish (- hold). The runner takes messages in the order the
broker delivers them, so when a marker's alert arrives every message published before it has
been handled: the last marker gives the rate the runner sustained. CPU per process and, for the
runner, per thread (its main thread runs the rules; paho's network thread reads the socket).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cprofile_top import summarize
from rules_town import Town, build_town

from simulators.publisher import encode
from streetwatch.errors import ServiceError
from streetwatch.registry.migrate import upgrade
from streetwatch.registry.store import make_engine, upsert_devices
from streetwatch.services.process import log_tail, stop_child, wait_until
from streetwatch.settings import INGEST_USER, RULES_USER
from streetwatch.topics import reading_topic

from ceilings import paho_receive_ceiling
from cpu_meter import CLK_TCK, CpuMeter, wait_quiet
from figures import BenchError
from local_services import Services, start_services
from mqtt_load import PahoClient, create_session, drop_session, publish

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HOLD_S = {"lamp_fault": 0.0, "lamp_out": 1.0}
RULES_DB = "bench_rules"
DRAIN_IDLE_S = 20  # after the load: give up once no marker alert came for this long
DRAIN_MAX_S = 180
RULES_MODULE_ARGS = ["-m", "streetwatch", "rules", "--warm-up", "0"]
RULES_FALLBACK_ARGS = [
    "-c",
    "from streetwatch.settings import load_settings\n"
    "from streetwatch.logs import configure_logging\n"
    "from rules.service import run_rules\n"
    "s = load_settings(); configure_logging(s.log_level); run_rules(s, s.rules_every_s, 0)\n",
]


@dataclass(frozen=True)
class LiveOptions:
    lamps: int
    gateways: int
    rate: float  # readings (messages) per second
    seconds: float  # of load
    fault_every_s: float  # lamp_fault markers
    dark_every_s: float  # lamp_out markers
    every_s: int  # the runner's tick period
    ceiling_messages: int  # for the paho receive ceiling (0: skip it)
    profile_path: Path | None  # cProfile the runner (its main thread) into this file


@dataclass(frozen=True)
class Marker:
    lamp: str
    gateway: str
    zone: str
    kind: str


def markers_for(town: Town, options: LiveOptions) -> list[Marker]:
    """Lamps that report once, each the subject of one alert: alone on a road of their own, no
    cabinet, so no blind spot or cabinet roll-up can absorb their alert."""
    zone_of = {s.gateway: s.zone for s in town.sites}
    out = []
    for kind, prefix, every in (("lamp_fault", "MF", options.fault_every_s),
                                ("lamp_out", "MD", options.dark_every_s)):
        for n in range(math.ceil(options.seconds / every) + 5):
            gateway = town.gateways[n % len(town.gateways)]
            out.append(Marker(f"{prefix}{n:05d}", gateway, zone_of[gateway], kind))
    return out


def night_around_now() -> str:
    """A fixed lights-on period (UTC) from 3 h ago to 3 h ahead: night for the whole run."""
    now = datetime.now(UTC)
    return f"{now - timedelta(hours=3):%H:%M}-{now + timedelta(hours=3):%H:%M}"


def register(services: Services, town: Town, markers: list[Marker]) -> None:
    rows = town.registry_rows() + [
        {"id": m.lamp, "gateway": m.gateway, "zone": m.zone, "road": f"RM-{m.lamp}",
         "position_on_road": 1} for m in markers]
    upgrade(services.sql_url)
    engine = make_engine(services.sql_url)
    try:
        upsert_devices(engine, rows, [], [])
    finally:
        engine.dispose()


def runner_env(services: Services, town: Town, every_s: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREETWATCH_")}
    values = {
        "STATE_DIR": str(services.root / "rules-state"),
        "MQTT_URL": services.broker.url_for(RULES_USER),
        "INFLUX_URL": services.influxd.url,
        "INFLUX_DB": RULES_DB,
        "DATABASE_URL": services.sql_url,
        "TOWN_TIMEZONE": "UTC",
        "LIGHTS_ON_GRACE_S": "0",
        "ZONE_SCHEDULES": json.dumps({zone: night_around_now() for zone in town.zones}),
        "LAMP_OUT_AFTER_S": "1",
        "RULES_EVERY_S": str(every_s),
        "RULES_METRICS_PORT": "0",
        "LOG_LEVEL": "INFO",
    }
    env.update({f"STREETWATCH_{k}": v for k, v in values.items()})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def runner_command(profile_path: Path | None) -> tuple[list[str], str]:
    """`python -m streetwatch rules`, as in production; if the CLI does not import (another
    component mid-edit), the same composition root via `python -c`. Under cProfile if asked."""
    probe = subprocess.run([sys.executable, "-c", "import streetwatch.cli"], check=False,
                           cwd=REPO, capture_output=True, text=True, timeout=60)
    args, label = RULES_MODULE_ARGS, "python -m streetwatch rules --warm-up 0"
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        print(f"warning: `python -m streetwatch` does not import ({last}); running the rules "
              "as `python -c 'run_rules(...)'` instead", file=sys.stderr)
        args, label = RULES_FALLBACK_ARGS, "python -c run_rules(load_settings(), every, 0)"
    if profile_path is not None:
        if args[0] == "-c":
            script = profile_path.with_suffix(".py")
            script.write_text(args[1])
            args = [str(script)]
        args = ["-m", "cProfile", "-o", str(profile_path), *args]
        label += " (under cProfile)"
    return [sys.executable, *args], label


class RunnerChild:
    """The live rule runner as a child process, its JSON log in a file."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=log_path.parent, env=env, stdout=log,
                                            stderr=log, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_reason(self) -> str | None:
        code = self.process.poll()
        return None if code is None else f"the rule runner exited ({code})"

    def events(self, name: str) -> list[dict[str, Any]]:
        marker = f'"event": "{name}"'
        with contextlib.suppress(FileNotFoundError), open(self.log_path, errors="replace") as log:
            return [json.loads(line) for line in log if marker in line]
        return []

    def wait_event(self, name: str, timeout_s: float) -> None:
        wait_until(lambda: bool(self.events(name)), timeout_s, f"the runner's {name} event",
                   logs=(self.log_path,), abort=self.exit_reason)

    def thread_cpu_s(self) -> dict[str, float]:
        """CPU seconds so far: the main thread (the rules loop) and all other threads."""
        main = others = 0.0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            with contextlib.suppress(OSError, IndexError):
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
                if int(task.name) == self.pid:
                    main += cpu
                else:
                    others += cpu
        return {"main": main, "others": others}

    def stop(self) -> int | None:
        """SIGTERM: the runner finishes its step and exits (cProfile then writes its file)."""
        return stop_child(self.process, 60)


class AlertSubscriber:
    """`streetwatch/alerts/#`, QoS 1, clean session; each message stamped on arrival."""

    def __init__(self, services: Services) -> None:
        self.received: list[tuple[float, bytes]] = []
        self.client = PahoClient(services, INGEST_USER, f"bench-alerts-{uuid.uuid4().hex[:6]}",
                                 clean=True)
        self.client.client.on_message = self._on_message

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.received.append((time.time(), message.payload))

    def start(self) -> AlertSubscriber:
        self.client.connect()
        self.client.client.subscribe("streetwatch/alerts/#", qos=1)
        self.client.wait(self.client.subscribed.is_set, 10, "SUBACK for streetwatch/alerts/#")
        return self

    def raised(self) -> dict[tuple[str, str], float]:
        """(kind, subject) -> arrival time of its first `raised` event."""
        first: dict[tuple[str, str], float] = {}
        for at, payload in list(self.received):
            event = json.loads(payload)
            if event.get("event") == "raised":
                first.setdefault((event["kind"], event["subject"]), at)
        return first

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, payload in list(self.received):
            event = json.loads(payload)
            key = f"{event.get('event')} {event.get('kind')}"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def close(self) -> None:
        self.client.close()


def ceiling_phase(services: Services, town: Town, messages: int,
                  step: Callable[[str], None]) -> dict[str, Any]:
    """The paho receive ceiling (bench/ceilings.py) on this town's lamp readings."""
    raw_id = f"bench-raw-{uuid.uuid4().hex[:8]}"
    create_session(services, raw_id, "streetwatch/#")
    now_ms = int(time.time() * 1000)
    by_gateway: dict[str, list[tuple[str, bytes]]] = {}
    for n in range(messages):
        site = town.sites[n % len(town.sites)]
        payload = encode({"ts": now_ms - messages + n, "on": True, "dim": 100, "power_w": 35.0,
                          "voltage_v": 230.0, "fault": None})
        by_gateway.setdefault(site.gateway, []).append(
            (reading_topic(site.gateway, "lamp", site.id), payload))
    step(f"  paho ceiling: published {messages:,} in {publish(services, by_gateway):.1f} s")
    wait_quiet(services.pids)
    figure = paho_receive_ceiling(services, raw_id, messages)
    drop_session(services, raw_id)
    step(f"  paho receive ceiling: {figure.rate:,.0f} msg/s")
    return {"rate": round(figure.rate, 1), "messages": messages,
            "seconds": round(figure.seconds, 2), "cpu_cores": figure.cpu_cores}


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def live_phase(options: LiveOptions, root: Path, stack: contextlib.ExitStack,
               step: Callable[[str], None]) -> dict[str, Any]:
    """Everything of item 5; returns the latency figures, rates, CPU and (if asked) the profile."""
    town = build_town(options.lamps, lamps_per_gateway=-(-options.lamps // options.gateways))
    markers = markers_for(town, options)
    services = start_services(root, town.gateways, stack)
    register(services, town, markers)
    step(f"  registry: {len(town.sites):,} lamps + {len(markers)} marker lamps, "
         f"{len(town.gateways)} gateways")
    ceiling = None
    if options.ceiling_messages:
        ceiling = ceiling_phase(services, town, options.ceiling_messages, step)
        wait_quiet(services.pids)

    command, label = runner_command(options.profile_path)
    runner = RunnerChild(command, runner_env(services, town, options.every_s),
                         root / "rules.log")
    stack.callback(runner.stop)
    try:
        runner.wait_event("rules.subscribed", 120)
    except ServiceError as exc:
        raise BenchError(str(exc)) from None
    subscriber = AlertSubscriber(services).start()
    stack.callback(subscriber.close)
    step(f"  runner up ({label}); publishing {options.rate:,.0f} readings/s for "
         f"{options.seconds:g} s")

    config_path = root / "publisher.json"
    config_path.touch(mode=0o600)
    config_path.write_text(json.dumps({
        "host": services.broker.host, "port": services.broker.port,
        "passwords": {gw: services.passwords[gw] for gw in town.gateways},
        "lamps": {gw: [s.id for s in town.sites if s.gateway == gw] for gw in town.gateways},
        "markers": [{"kind": kind, "every_s": every,
                     "lamps": [m.lamp for m in markers if m.kind == kind]}
                    for kind, every in (("lamp_fault", options.fault_every_s),
                                        ("lamp_out", options.dark_every_s))],
        "marker_gateway": {m.lamp: m.gateway for m in markers},
        "rate": options.rate, "seconds": options.seconds,
    }))
    result_path = root / "publisher-result.json"
    with open(root / "publisher.log", "ab") as publisher_log:
        publisher = subprocess.Popen(
            [sys.executable, str(BENCH / "rules_publisher.py"), str(config_path),
             str(result_path)], stdout=publisher_log, stderr=publisher_log)
    stack.callback(stop_child, publisher, 10)
    # The publisher reports its own CPU: it has exited (and is reaped) before the meter stops.
    meter = CpuMeter({"rules runner": runner.pid, **services.pids,
                      "bench (subscriber)": os.getpid()}).start()
    threads0 = runner.thread_cpu_s()
    t0 = time.monotonic()
    try:
        code = publisher.wait(options.seconds + 120)
    except subprocess.TimeoutExpired:
        raise BenchError("the publisher did not finish in time") from None
    load_wall = time.monotonic() - t0
    cpu = meter.stop()
    threads1 = runner.thread_cpu_s()
    if code != 0:
        raise BenchError(f"the publisher exited {code}:\n{log_tail((root / 'publisher.log',))}")
    if (reason := runner.exit_reason()) is not None:
        raise BenchError(f"{reason}:\n{log_tail((runner.log_path,))}")
    published = json.loads(result_path.read_text())
    cpu["publisher"] = published["cpu_cores"]
    step(f"  published {published['messages']:,} readings at {published['rate']:,.0f}/s; "
         "waiting for the last alerts")
    drain_s = drain(subscriber, published["markers"], runner)
    runner_threads = {name: round((threads1[name] - threads0[name]) / load_wall, 2)
                      for name in threads0}
    status = runner.stop()
    subscriber.close()
    result = summarize_live(options, published, subscriber, cpu, runner_threads, drain_s)
    result.update({"runner_command": label, "runner_exit": status, "ceiling": ceiling,
                   "alerts_seen": subscriber.kinds(), "lamps": len(town.sites),
                   "gateways": len(town.gateways)})
    if options.profile_path is not None and options.profile_path.exists():
        result["profile"] = summarize(options.profile_path)
    return result


def drain(subscriber: AlertSubscriber, markers: list[dict[str, Any]], runner: RunnerChild) -> float:
    """Wait until every marker's alert arrived, or none came for DRAIN_IDLE_S; seconds waited."""
    wanted = {(m["kind"], f"lamp:{m['lamp']}") for m in markers}
    t0 = last_progress = time.monotonic()
    seen = 0
    while time.monotonic() - t0 < DRAIN_MAX_S and runner.exit_reason() is None:
        found = len(wanted & subscriber.raised().keys())
        if found == len(wanted):
            break
        if found > seen:
            seen, last_progress = found, time.monotonic()
        if time.monotonic() - last_progress > DRAIN_IDLE_S:
            break
        time.sleep(0.2)
    return round(time.monotonic() - t0, 1)


def summarize_live(options: LiveOptions, published: dict[str, Any], subscriber: AlertSubscriber,
                   cpu: dict[str, float], runner_threads: dict[str, float],
                   drain_s: float) -> dict[str, Any]:
    raised = subscriber.raised()
    by_kind: dict[str, dict[str, Any]] = {}
    processed_rate = None
    for kind, hold in HOLD_S.items():
        sent = [m for m in published["markers"] if m["kind"] == kind]
        latencies = []
        samples = []
        for m in sent:
            arrived = raised.get((kind, f"lamp:{m['lamp']}"))
            if arrived is not None:
                latencies.append(arrived - m["published_at"] - hold)
            samples.append([round(m["published_at"] - published["started_at"], 3),
                            None if arrived is None else _round(latencies[-1])])
        tail = latencies[-max(1, len(latencies) // 10):]
        head = latencies[: max(1, len(latencies) // 10)]
        by_kind[kind] = {
            "hold_s": hold, "markers": len(sent), "alerts": len(latencies),
            "p50_s": _round(percentile(latencies, 50)), "p99_s": _round(percentile(latencies, 99)),
            "max_s": _round(max(latencies) if latencies else None),
            "first_tenth_mean_s": _round(sum(head) / len(head) if latencies else None),
            "last_tenth_mean_s": _round(sum(tail) / len(tail) if latencies else None),
            "samples": samples,  # [published at (s into the load), latency s or None]
        }
        if kind == "lamp_fault":
            answered = [m for m in sent if (kind, f"lamp:{m['lamp']}") in raised]
            if answered:
                last = answered[-1]
                handled_by = raised[(kind, f"lamp:{last['lamp']}")] - published["started_at"]
                processed_rate = round((last["sent_before"] + 1) / handled_by, 1)
    return {
        "target_rate": options.rate, "seconds": options.seconds,
        "published": published["messages"], "publish_rate": published["rate"],
        "processed_rate": processed_rate, "drain_s": drain_s, "kinds": by_kind,
        "cpu_cores": cpu, "runner_threads_cores": runner_threads,
        "profiled": options.profile_path is not None,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)

