"""`--profile`: py-spy on the ingester child, and a summary of where its GIL-holding time goes."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from streetwatch.services.process import stop_child

FRAME_LINE = re.compile(r" \(([^():]+?)(?::\d+)?\)$")


def start_py_spy(
    pid: int, output: Path, stack: contextlib.ExitStack, subprocesses: bool = False
) -> subprocess.Popen[bytes] | None:
    """`py-spy record` on the ingester (GIL holder only, per thread, collapsed stacks), if found;
    with `subprocesses`, on `pid`'s child processes too (uvicorn's workers)."""
    binary = shutil.which(
        "py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    if binary is None:
        print(
            "warning: --profile given but py-spy is not installed (pip install py-spy)",
            file=sys.stderr,
        )
        return None
    args = ["record", "--rate", "250", "--gil", "--threads", "--nonblocking", "--format", "raw"]
    if subprocesses:
        args.append("--subprocesses")
    with open(output.with_suffix(".log"), "wb") as log:
        spy = subprocess.Popen(
            [binary, *args, "--pid", str(pid), "-o", str(output)],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    stack.callback(stop_child, spy)
    return spy


def frame_name(frame: str) -> str:
    """`lamp_line (streetwatch/lineproto.py:49)` -> `lamp_line (streetwatch/lineproto.py)`."""
    return FRAME_LINE.sub(lambda m: f" ({m.group(1)})", frame.strip())


def summarize_profile(path: Path, top: int = 14) -> dict[str, Any]:
    """Shares of GIL-holding samples: per thread, per function inclusive ("total") and self."""
    threads: dict[str, int] = {}
    total: dict[str, int] = {}
    own: dict[str, int] = {}
    samples_seen = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, *frames = stack.split(";")
        names = [frame_name(f) for f in frames] or ["(no python frame)"]
        samples_seen += count
        label = thread.split(": ", 1)[-1].split("-bench-")[0]
        threads[label] = threads.get(label, 0) + count
        own[names[-1]] = own.get(names[-1], 0) + count
        for name in set(names):
            total[name] = total.get(name, 0) + count

    def shares(counts: dict[str, int], n: int) -> list[tuple[str, float]]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:n]
        return [(name, round(c / max(samples_seen, 1), 3)) for name, c in ranked]

    return {
        "samples": samples_seen,
        "threads": shares(threads, 10),
        "total": shares(total, top * 3),
        "self": shares(own, top),
    }


def print_profile(key: str, summary: dict[str, Any]) -> None:
    print(f"py-spy, {key}: {summary['samples']} GIL-holding samples")
    for title in ("threads", "self", "total"):
        print(f"  {title}:")
        for name, share in summary[title]:
            if title != "total" or not name.startswith(("Thread.", "Client._thread_main")):
                print(f"    {share:6.1%}  {name}")


def stop_py_spy(spy: subprocess.Popen[bytes]) -> None:
    """SIGINT, on which py-spy writes its output, and wait for it to finish."""
    spy.send_signal(signal.SIGINT)
    spy.wait(60)
