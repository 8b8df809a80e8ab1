#!/usr/bin/env python
"""Item 5's gateways, as a child process of bench/rules.py (its own interpreter, so its publishing
never holds the GIL of the process that timestamps the alerts):

    .venv/bin/python bench/rules_publisher.py CONFIG_JSON RESULT_JSON

Publishes healthy lamp readings (`streetwatch/<gw>/lamp/<id>`, QoS 1, one reading per message,
`ts` = the wall clock at publish) at a fixed rate with the simulator's own gateway links
(`simulators.publisher`: one paho client per gateway, all driven from this thread), and, every so often, a marker reading from a lamp that reports nothing else: lit but
tilted (the rules raise `lamp_fault` at once) or dark (`lamp_out` after its 1 s hold). The wall
time just before each marker's publish is recorded; the result file holds the pace achieved and the
markers. CONFIG_JSON (0600: it holds the gateways' passwords) is written by bench/rules_live.py.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:] = [
    str(REPO),
    *(p for p in sys.path if Path(p or ".").resolve() not in (BENCH, REPO)),
    str(BENCH),
]

from simulators.publisher import PublishOptions, connect_gateways, encode
from streetwatch.topics import reading_topic

MARKER_READINGS = {
    "lamp_fault": {"on": True, "dim": 100, "power_w": 35.0, "voltage_v": 230.0, "fault": "tilt"},
    "lamp_out": {"on": False, "dim": 0, "power_w": 0.0, "voltage_v": 230.0,
                 "fault": "lamp_failure"},
}
# No markers in the load's last seconds: every marker is followed by readings (which move the
# rules' clock past a hold) for at least this long, as in a steady stream.
MARKER_TAIL_S = 2.0
HEALTHY = {"on": True, "dim": 100, "power_w": 35.0, "voltage_v": 230.0, "fault": None}


def interleaved(lamps: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(gateway, lamp) taking one lamp of each gateway in turn, as gateways publish side by side."""
    out = []
    longest = max(len(ids) for ids in lamps.values())
    for k in range(longest):
        for gateway, ids in lamps.items():
            if k < len(ids):
                out.append((gateway, ids[k]))
    return out


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    result_path = Path(argv[1])
    rate, seconds = float(config["rate"]), float(config["seconds"])
    healthy = interleaved(config["lamps"])
    schedule = [(float(m["every_s"]), m["kind"], list(m["lamps"])) for m in config["markers"]]
    stop = threading.Event()
    pool = connect_gateways(list(config["lamps"]), config["host"], int(config["port"]),
                            config["passwords"], 7, PublishOptions(), stop)
    markers = []
    sent = 0
    cpu0 = _cpu_s()
    started = time.time()
    next_marker = [started + every for every, _, _ in schedule]
    t0 = time.monotonic()
    deadline = t0 + seconds
    markers_until = started + seconds - MARKER_TAIL_S
    k = 0
    while (mono := time.monotonic()) < deadline:
        # Paced on an absolute schedule: message k is due at t0 + k / rate. A publisher that
        # fell behind (2 cores, shared) catches up instead of losing the time, so the offered
        # rate is the target whenever this process can reach it at all.
        ahead_s = t0 + sent / rate - mono
        if ahead_s > 0.001:
            pool.wait(ahead_s)  # services the sockets (acks) meanwhile
        now = time.time()
        for m, (every, kind, spare) in enumerate(schedule):
            if now >= next_marker[m] and spare and now < markers_until:
                lamp = spare.pop()
                gateway = config["marker_gateway"][lamp]
                payload = encode({"ts": int(now * 1000), **MARKER_READINGS[kind]})
                published_at = time.time()
                pool.publish(gateway, reading_topic(gateway, "lamp", lamp), payload)
                markers.append({"lamp": lamp, "kind": kind, "ts_ms": int(now * 1000),
                                "published_at": published_at, "sent_before": sent})
                sent += 1
                next_marker[m] += every
                break
        else:
            gateway, lamp = healthy[k % len(healthy)]
            k += 1
            payload = encode({"ts": int(now * 1000), **HEALTHY})
            pool.publish(gateway, reading_topic(gateway, "lamp", lamp), payload)
            sent += 1
    publishing_s = time.time() - started
    cores = (_cpu_s() - cpu0) / publishing_s
    pool.await_acks()
    acked_s = time.time() - started
    pool.close(graceful=False)  # no retained "offline": that would raise gateway_offline
    result_path.write_text(json.dumps({
        "messages": sent, "started_at": started, "publishing_s": round(publishing_s, 3),
        "acked_s": round(acked_s, 3), "rate": round(sent / publishing_s, 1),
        "cpu_cores": round(cores, 2),
        "markers": markers,
    }) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
