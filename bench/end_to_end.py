"""Phases 3 and 4: the ingester end to end, from its `ingest.connected` log event until InfluxDB
holds every reading of its preloaded session."""

from __future__ import annotations

import contextlib
import os
import time

from streetwatch.influx import InfluxClient

from cpu_meter import CpuMeter
from figures import BenchError, Figure
from ingester_child import IngesterChild, IngestOptions, ingester_env, log_time
from local_services import Services, lamp_count
from profile_summary import start_py_spy, stop_py_spy, summarize_profile

POLL_S = 0.05  # InfluxDB count poll while the ingester runs: part of the method, so its own loop


def ingest_phase(
    services: Services, options: IngestOptions, database: str, expected: int, key: str, label: str
) -> Figure:
    """Start the ingester on its preloaded session; time `ingest.connected` -> N points stored."""
    log_path = services.root / f"{key}.log"
    profile = options.profile_dir / f"{key}.txt" if options.profile_dir is not None else None
    with contextlib.ExitStack() as phase:
        child = IngesterChild(
            ingester_env(services, options, database), log_path, options.launcher
        ).start(phase)
        connected = child.wait_event("ingest.connected", 120)
        if not connected.get("session_present"):
            raise BenchError("the ingester got no session: the preloaded messages are gone")
        meter = CpuMeter({"ingester": child.pid, **services.pids, "bench": os.getpid()}).start()
        spy = start_py_spy(child.pid, profile, phase) if profile is not None else None
        with InfluxClient(services.influxd.url, database) as influx:
            finished_at, polls = wait_stored(influx, expected, child)
        cpu = meter.stop()
        if spy is not None:
            stop_py_spy(spy)
        status = child.stop()
        if status != 0:
            raise BenchError(f"the ingester exited {status} on SIGTERM:\n{child.log_tail()}")
    seconds = finished_at - log_time(connected)
    figure = Figure(key, label, "readings/s", expected, seconds, cpu, polls)
    if spy is not None and profile is not None:
        figure.extra["profile"] = summarize_profile(profile)
    return figure


def wait_stored(influx: InfluxClient, expected: int, child: IngesterChild) -> tuple[float, dict]:
    """Poll the lamp count every ~50 ms until it reaches `expected`; the wall time it did."""
    deadline = time.monotonic() + 120 + expected / 500
    polls, query_s, stored = 0, 0.0, 0
    while True:
        t0 = time.perf_counter()
        stored = lamp_count(influx)
        query_s += time.perf_counter() - t0
        polls += 1
        if stored >= expected:
            return time.time(), {"polls": polls, "mean_poll_ms": round(1000 * query_s / polls, 1)}
        if (reason := child.exit_reason()) is not None:
            raise BenchError(f"{stored} of {expected} stored when {reason}:\n{child.log_tail()}")
        if time.monotonic() > deadline:
            raise BenchError(
                f"only {stored} of {expected} readings stored before the deadline:\n"
                f"{child.log_tail()}"
            )
        time.sleep(POLL_S)
