"""`--profile` for the rule bench: cProfile's top functions by cumulative and by own time.

The raw `.prof` files stay in the profile folder (`python -m pstats FILE`, snakeviz, ...); the
bench prints the top entries of each. Frames of the bench's own harness (files under bench/), the
profiler's bookkeeping and the command line's plumbing (runpy, typer/click) are left out of the
tables: they are not what is being measured.
"""

from __future__ import annotations

import pstats
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TOP = 15
_SKIP_FUNCTIONS = {"<method 'disable' of '_lsprof.Profiler' objects>", "<module>",
                   "<built-in method builtins.exec>"}
# The command line's plumbing above the code under test (`python -m cProfile -m streetwatch ...`).
_SKIP_PATHS = ("<frozen runpy>", "typer/", "click/")


def short_path(filename: str) -> str:
    """`/work/main/rules/lamps.py` -> `rules/lamps.py`; `.../site-packages/paho/mqtt/client.py`
    -> `paho/mqtt/client.py`."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1]
    try:
        return str(Path(filename).resolve().relative_to(REPO))
    except ValueError:
        return filename


def _label(key: tuple[str, int, str]) -> str:
    filename, line, function = key
    if filename == "~":
        return function  # a built-in: "<built-in method builtins.sorted>"
    return f"{function} ({short_path(filename)}:{line})"


def _harness(key: tuple[str, int, str]) -> bool:
    filename, _, function = key
    if function in _SKIP_FUNCTIONS or short_path(filename).startswith(_SKIP_PATHS):
        return True
    try:
        return Path(filename).resolve().is_relative_to(BENCH)
    except (OSError, ValueError):
        return False


def summarize(path: Path, top: int = TOP) -> dict[str, Any]:
    """Top `top` functions by cumulative and by own ("tottime") seconds in the profile at `path`."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    rows = []
    total_tt = 0.0
    for key, (_primitive, calls, tottime, cumtime, _callers) in stats.items():
        total_tt += tottime
        if _harness(key):
            continue
        rows.append({"function": _label(key), "calls": calls, "tottime_s": round(tottime, 3),
                     "cumtime_s": round(cumtime, 3),
                     "us_per_call": round(1e6 * tottime / calls, 2) if calls else 0.0})
    return {
        "file": str(path),
        "total_s": round(total_tt, 3),
        "cumulative": sorted(rows, key=lambda r: -r["cumtime_s"])[:top],
        "tottime": sorted(rows, key=lambda r: -r["tottime_s"])[:top],
    }


def print_summary(title: str, summary: dict[str, Any]) -> None:
    print(f"cProfile, {title}: {summary['total_s']:.2f} s profiled ({summary['file']})")
    for order in ("cumulative", "tottime"):
        print(f"  top {len(summary[order])} by {order}:")
        print(f"    {'cumtime s':>9} {'tottime s':>9} {'calls':>10} {'us/call':>8}  function")
        for row in summary[order]:
            print(f"    {row['cumtime_s']:>9.3f} {row['tottime_s']:>9.3f} {row['calls']:>10,}"
                  f" {row['us_per_call']:>8.2f}  {row['function']}")
    print()
