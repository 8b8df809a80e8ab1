"""Issue 16 item 10: the HTTP API under 16 concurrent clients, beside InfluxDB's own query time.

The bench's own Mosquitto and influxd (bench/local_services.py) and a SQLite registry with
`--devices` lamps (default 100,000) in zones of 1,000; a month of 10-minute readings for
`--with-readings` of them (default 1,000: 4.3 M points); a week of per-minute `lighting_rate`
points for every zone; `--alerts` alerts (a tenth open). Then `python -m streetwatch api` as a
child process (the production composition root: uvicorn, one process) and, for each endpoint,
`--clients` threads (default 16) that each send one request after another for `--seconds`:

  latest-reading      GET /api/v1/devices/{id}/readings/latest   (a random lamp with readings)
  lighting-rate-now   GET /api/v1/lighting-rate
  alert-list          GET /api/v1/alerts?limit=100               (every other one filtered by zone)
  device-list         GET /api/v1/devices?limit=100&zone=Z...    (every other one unfiltered)

p50 and p99 of the answer time are printed against the goal (p99 <= 50 ms), with the API's CPU
per request (its processes' CPU seconds over the requests answered, from /proc: far steadier than
latencies on a shared machine) and the cores the API, influxd and everything else used, and beside
them the same InfluxQL the two InfluxDB-backed endpoints send, sent straight to influxd by as many
clients (the floor the API stands on). The clients run in this process; the machine's cores are
shared by them, the API and influxd, as they would be on a one-box install.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

import httpx
from sqlalchemy import insert

from api.keys import ApiKeyStore
from api.readings import latest_query
from streetwatch.influx import InfluxClient, influxql_ident
from streetwatch.lighting_samples import FIELDS as RATE_FIELDS
from streetwatch.registry.migrate import upgrade
from streetwatch.registry.models import Alert
from streetwatch.registry.store import make_engine, upsert_devices
from streetwatch.registry.timestamps import datetime_from_ms
from streetwatch.services.process import free_port, stop_child, wait_until

from cpu_meter import user_processes_cpu, wait_quiet
from figures import BenchError, run_in_scratch
from local_services import Services, start_services
from profile_summary import print_profile, start_py_spy, stop_py_spy, summarize_profile

MIN_MS, DAY_MS = 60_000, 86_400_000
PER_ZONE = 1000
GOAL_P99_MS = 50.0
BENCH_DB = "bench_api"


def main(argv: list[str] | None = None) -> int:
    args = _options(argv)
    result = run_in_scratch("streetwatch-bench-api-", args.keep, lambda root, stack:
                            _run(root, stack, args))
    return result if isinstance(result, int) else 0


def _options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--with-readings", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--every-min", type=int, default=10)
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2,
                        help="API processes (settings api_workers; one per core)")
    parser.add_argument("--seconds", type=float, default=8.0, help="per endpoint")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and logs")
    parser.add_argument("--endpoints", type=lambda text: text.split(","),
                        help="only these (comma-separated): latest-reading, lighting-rate-now, "
                             "alert-list, device-list")
    parser.add_argument("--profile", type=Path,
                        help="py-spy the API's processes during each endpoint's run, into DIR")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 10,000 devices, 100 with 3 days of readings, 2 s each")
    args = parser.parse_args(argv)
    if args.quick:
        args.devices, args.with_readings, args.days, args.alerts, args.seconds = (
            10_000, 100, 3, 2_000, 2.0)
    return args


def _run(root: Path, stack: contextlib.ExitStack, args: argparse.Namespace) -> int:
    services = start_services(root, [], stack)
    influx = stack.enter_context(InfluxClient(services.influxd.url, BENCH_DB, timeout_s=60))
    influx.create_database()
    now_ms = time.time_ns() // 1_000_000
    lamps = _register(services.sql_url, args.devices)
    loaded = _load_influx(influx, lamps[:args.with_readings], args, now_ms)
    _insert_alerts(services.sql_url, args.alerts, args.devices, now_ms)
    key = _viewer_key(services.sql_url)
    base, api_pid = _start_api(root, stack, services, args.workers)
    pids = {**_process_tree("api", api_pid), "influxd": services.pids["influxd"]}
    results = []
    for name, paths, floor in _workloads(lamps[:args.with_readings], args.devices):
        if args.endpoints and name not in args.endpoints:
            continue
        wait_quiet(pids)
        with _profiled(args.profile, name, api_pid):
            figure = _hammer(base, key, paths, args.clients, args.seconds, pids)
        figure["influx"] = (None if floor is None else
                            _hammer_influx(services.influxd.url, floor, args.clients,
                                           args.seconds))
        results.append({"endpoint": name, **figure})
        _print_row(name, figure)
    summary = {"devices": args.devices, "with_readings": args.with_readings, "days": args.days,
               "points": loaded, "alerts": args.alerts, "clients": args.clients,
               "results": results}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    missed = [r["endpoint"] for r in results if r["p99_ms"] > GOAL_P99_MS]
    print("goal p99 <= 50 ms: " + ("met by every endpoint" if not missed
                                   else f"missed by {', '.join(missed)}"))
    return 0


@contextlib.contextmanager
def _profiled(folder: Path | None, name: str, api_pid: int) -> Iterator[None]:
    """py-spy on the API's processes (GIL holders) while the block runs, then its summary."""
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / f"{name}.txt"
    with contextlib.ExitStack() as stack:
        spy = start_py_spy(api_pid, output, stack, subprocesses=True)
        yield
        if spy is not None:
            stop_py_spy(spy)
            print_profile(name, summarize_profile(output))


# Data ------------------------------------------------------------------------------------------
def _register(sql_url: str, count: int) -> list[str]:
    """`count` lamps in zones of PER_ZONE on roads of 50, one gateway per zone."""
    upgrade(sql_url)
    engine = make_engine(sql_url)
    rows = [{"id": f"L{i:06d}", "gateway": f"G{i // PER_ZONE:03d}", "zone": f"Z{i // PER_ZONE:03d}",
             "road": f"R{i // 50:05d}", "position_on_road": i % 50, "cabinet": f"C{i // 100:04d}",
             "lat": 31.2 + (i % 1000) * 1e-4, "lon": 121.4 + (i // 1000) * 1e-4}
            for i in range(count)]
    started = time.perf_counter()
    upsert_devices(engine, rows, [], [])
    engine.dispose()
    _log(f"registered {count:,} lamps in {time.perf_counter() - started:.1f} s")
    return [row["id"] for row in rows]


def _load_influx(influx: InfluxClient, lamps: list[str], args: argparse.Namespace,
                 now_ms: int) -> int:
    """A month of lamp readings for `lamps`, and a week of per-minute rates for every zone."""
    every = args.every_min * MIN_MS
    first = (now_ms - args.days * DAY_MS) // every * every
    batch: list[str] = []
    written = 0
    started = time.perf_counter()
    for ts in range(first, now_ms, every):
        for i, lamp in enumerate(lamps):
            batch.append(f"lamp,gateway=G{i // PER_ZONE:03d},lamp={lamp},road=R{i // 50:05d},"
                         f"zone=Z{i // PER_ZONE:03d} dim=100i,fault=\"\",on=true,power_w=60.5,"
                         f"voltage_v=230.1 {ts}")
            if len(batch) >= 5000:
                written += _flush(influx, batch)
    zones = [f"Z{z:03d}" for z in range(-(-args.devices // PER_ZONE))] + ["_city"]
    for ts in range((now_ms - 7 * DAY_MS) // MIN_MS * MIN_MS, now_ms, MIN_MS):
        for zone in zones:
            batch.append(f"lighting_rate,zone={zone} rate=0.995,lit=995i,expected=1000i,"
                         f"stale=0i,target=0.99 {ts}")
            if len(batch) >= 5000:
                written += _flush(influx, batch)
    written += _flush(influx, batch)
    _log(f"wrote {written:,} points in {time.perf_counter() - started:.1f} s")
    return written


def _flush(influx: InfluxClient, batch: list[str]) -> int:
    if batch:
        influx.write_lines(batch)
    count = len(batch)
    batch.clear()
    return count


def _insert_alerts(sql_url: str, count: int, devices: int, now_ms: int) -> None:
    """`count` lamp_out alerts over the last month, every tenth still open."""
    rng = random.Random(1)
    rows = []
    for n in range(count):
        lamp = rng.randrange(devices)
        raised = now_ms - rng.randrange(30 * DAY_MS)
        resolved = None if n % 10 == 0 else datetime_from_ms(raised + rng.randrange(DAY_MS))
        rows.append({"kind": "lamp_out", "subject": f"lamp:L{lamp:06d}:{n}",
                     "zone": f"Z{lamp // PER_ZONE:03d}", "severity": "yellow",
                     "state": "raised" if resolved is None else "resolved",
                     "devices": f'["L{lamp:06d}"]', "message": "dark",
                     "raised_at": datetime_from_ms(raised), "last_seen_at": datetime_from_ms(raised),
                     "seen_count": 1, "deadline": datetime_from_ms(raised + 3 * DAY_MS),
                     "overdue": False, "resolved_at": resolved})
    engine = make_engine(sql_url)
    with engine.begin() as conn:
        conn.execute(insert(Alert.__table__), rows)
    engine.dispose()


def _viewer_key(sql_url: str) -> str:
    engine = make_engine(sql_url)
    key = ApiKeyStore(engine).create("bench", "viewer", None, time.time_ns() // 1_000_000)[1]
    engine.dispose()
    return key


# The API process -------------------------------------------------------------------------------
def _start_api(root: Path, stack: contextlib.ExitStack, services: Services,
               workers: int) -> tuple[str, int]:
    port = free_port()
    env = {**os.environ, "STREETWATCH_DATABASE_URL": services.sql_url,
           "STREETWATCH_INFLUX_URL": services.influxd.url, "STREETWATCH_INFLUX_DB": BENCH_DB,
           "STREETWATCH_MQTT_URL": f"mqtt://bench:unused@127.0.0.1:{services.broker.port}",
           "STREETWATCH_STATE_DIR": str(root / "api"), "STREETWATCH_TOWN_TIMEZONE": "UTC"}
    log = stack.enter_context((root / "api.log").open("w"))
    child = subprocess.Popen([sys.executable, "-m", "streetwatch", "api", "--port", str(port),
                              "--workers", str(workers)],
                             env=env, stdout=log, stderr=subprocess.STDOUT)
    stack.callback(stop_child, child)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(f"{base}/healthz"), 60, "the API to answer /healthz",
               logs=[root / "api.log"],
               abort=lambda: None if child.poll() is None else "the API process exited")
    return base, child.pid


def _process_tree(name: str, pid: int) -> dict[str, int]:
    """`pid` and its descendants (uvicorn's worker processes), named `name`, `name`.1, ..."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            if entry.name.isdigit():
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(stat[1])
    tree, grew = [pid], True
    while grew:
        more = [child for child, parent in parents.items() if parent in tree and child not in tree]
        tree.extend(more)
        grew = bool(more)
    return {name if n == 0 else f"{name}.{n}": each for n, each in enumerate(tree)}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# Load ------------------------------------------------------------------------------------------
Workload = tuple[str, Callable[[random.Random], str], Callable[[random.Random], str] | None]


def _workloads(with_readings: list[str], devices: int) -> list[Workload]:
    """(name, request path for a random pick, the InfluxQL it sends or None)."""
    zones = [f"Z{z:03d}" for z in range(-(-devices // PER_ZONE))]
    # What the endpoint sends to influxd at most every 5 s (api/lighting.py LastPoints; the week
    # is read once a tick): the last two ticks, latest point per zone.
    rate_now = (f"SELECT {', '.join(influxql_ident(f) for f in RATE_FIELDS)} FROM lighting_rate "
                f"WHERE time >= now() - 3m GROUP BY zone ORDER BY time DESC LIMIT 1")
    return [
        ("latest-reading",
         lambda r: f"/api/v1/devices/{r.choice(with_readings)}/readings/latest",
         lambda r: latest_query("lamp", r.choice(with_readings))),
        ("lighting-rate-now", lambda r: "/api/v1/lighting-rate", lambda r: rate_now),
        ("alert-list", lambda r: "/api/v1/alerts?limit=100" + (
            f"&zone={r.choice(zones)}" if r.random() < 0.5 else ""), None),
        ("device-list", lambda r: "/api/v1/devices?limit=100" + (
            f"&zone={r.choice(zones)}" if r.random() < 0.5 else ""), None),
    ]


class _Client:
    """One keep-alive HTTP/1.1 connection (stdlib http.client: a third of httpx's CPU per
    request, which matters when the clients share the cores with what they measure)."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.headers = headers

    def get(self, path: str) -> tuple[int, bytes]:
        self.connection.request("GET", path, headers=self.headers)
        answer = self.connection.getresponse()
        return answer.status, answer.read()

    def __enter__(self) -> _Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.close()


def _hammer(base: str, key: str, path: Callable[[random.Random], str], clients: int,
            seconds: float, pids: dict[str, int]) -> dict:
    """`clients` threads sending one request after another for `seconds`: latencies, rate, and
    the API's CPU per request (its processes' CPU seconds over the requests answered)."""
    headers = {"Authorization": f"Bearer {key}"}

    def one(client: _Client, rng: random.Random) -> None:
        sent = path(rng)
        status, body = client.get(sent)
        if status != 200:
            raise BenchError(f"{sent}: {status} {body[:200]!r}")

    # A short warm-up by every client: each API process pays the key's scrypt check once (and
    # opens its connections) outside the figures.
    _closed_loop(lambda: _Client(base, headers), one, clients, 0.5)
    before, started = user_processes_cpu(), time.monotonic()
    port = urlsplit(base).port
    api_pids = _api_pids(pids)
    split: list[int] = []
    figure = _closed_loop(lambda: _Client(base, headers), one, clients, seconds,
                          midway=lambda: split.extend(_connections_per_process(api_pids, port)))
    figure["connections"] = sorted((n for n in split if n), reverse=True)
    used = _cpu_used(before, user_processes_cpu(), pids)
    wall = time.monotonic() - started
    figure["api_cpu_ms"] = round(used["api"] * 1000 / figure["requests"], 2)
    figure["cores"] = {name: round(cpu / wall, 2) for name, cpu in used.items()}
    return figure


def _cpu_used(before: dict[int, float], after: dict[int, float],
              pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds between two `user_processes_cpu` readings: the API's processes together,
    influxd, and every other process (the bench's clients among them)."""
    delta = {pid: cpu - before.get(pid, 0.0) for pid, cpu in after.items()}
    api = sum(delta.pop(pid, 0.0) for pid in _api_pids(pids))
    influxd = delta.pop(pids["influxd"], 0.0)
    return {"api": api, "influxd": influxd, "others": sum(delta.values())}


def _api_pids(pids: dict[str, int]) -> list[int]:
    """The API's processes among `pids` (named `api`, `api.1`, ...: `_process_tree`)."""
    return [pid for name, pid in pids.items() if name.split(".")[0] == "api"]


def _hammer_influx(url: str, query: Callable[[random.Random], str], clients: int,
                   seconds: float) -> dict:
    def one(client: _Client, rng: random.Random) -> None:
        params = urlencode({"db": BENCH_DB, "q": query(rng), "epoch": "ms"})
        status, body = client.get(f"/query?{params}")
        if status != 200:
            raise BenchError(f"influxd: {status} {body[:200]!r}")

    return _closed_loop(lambda: _Client(url, {}), one, clients, seconds)


def _connections_per_process(pids: list[int], port: int | None) -> list[int]:
    """How many established connections to `port` each of `pids` holds (from /proc): uvicorn's
    workers share one listening socket and the kernel hands each new connection to whichever
    accepts first, so 16 keep-alive clients may split 10/6 rather than 8/8, and the busier
    worker's clients wait longer. Printed beside the figures, it explains much of the p99's
    spread between runs."""
    established: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    established.add(fields[9])  # the socket's inode
    counts = []
    for pid in pids:
        inodes = set()
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
        counts.append(len(inodes & established))
    return counts


def _closed_loop(make_client: Callable[[], _Client],
                 one: Callable[[_Client, random.Random], None], clients: int,
                 seconds: float, midway: Callable[[], None] | None = None) -> dict:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(n: int) -> None:
        rng = random.Random(n)
        with make_client() as client:
            start.wait()
            try:
                while time.perf_counter() < stop_at[0]:
                    t = time.perf_counter()
                    one(client, rng)
                    latencies[n].append(time.perf_counter() - t)
            except BaseException as exc:  # noqa: BLE001 -- reported below, the bench fails
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    start.wait()
    if midway is not None:
        threading.Event().wait(seconds / 2)
        midway()
    for thread in threads:
        thread.join()
    if errors:
        raise BenchError(str(errors[0]))
    every = sorted(ms * 1000 for per in latencies for ms in per)
    return {"requests": len(every), "per_s": round(len(every) / seconds, 1),
            "p50_ms": round(statistics.median(every), 2),
            "p99_ms": round(every[min(len(every) - 1, int(len(every) * 0.99))], 2)}


def _print_row(name: str, figure: dict) -> None:
    floor = figure.get("influx")
    beside = ("" if floor is None else
              f"   influxd alone: p50 {floor['p50_ms']:6.2f} ms  p99 {floor['p99_ms']:6.2f} ms")
    verdict = "met" if figure["p99_ms"] <= GOAL_P99_MS else "MISSED"
    print(f"{name:18s} p50 {figure['p50_ms']:6.2f} ms  p99 {figure['p99_ms']:6.2f} ms "
          f"(goal <= {GOAL_P99_MS:.0f}: {verdict})  {figure['per_s']:7.1f}/s  "
          f"API CPU {figure['api_cpu_ms']:.2f} ms/request{beside}", flush=True)
    cores = figure["cores"]
    _log(f"cores used: API {cores['api']:.2f}, influxd {cores['influxd']:.2f}, "
         f"everything else (bench clients included) {cores['others']:.2f}; clients' "
         f"connections per API process: {'/'.join(map(str, figure['connections'])) or '?'}")


def _log(text: str) -> None:
    print(f"    {text}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
