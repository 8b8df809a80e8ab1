"""What a bench phase yields: a Figure, or a BenchError that says why it could not."""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class BenchError(RuntimeError):
    """A phase could not complete (timeout, dead process, wrong count); the message says which."""


@dataclass
class Figure:
    """One measured figure: `count` items in `seconds`, and the CPU each process used meanwhile."""

    key: str
    label: str
    unit: str
    count: int
    seconds: float
    cpu_cores: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def run_in_scratch(prefix: str, keep: bool, run: Callable[[Path, contextlib.ExitStack], T]
                   ) -> T | int:
    """`run(root, stack)` in a fresh temp dir, every process it registers on `stack` stopped
    whatever happens; the dir removed unless `keep`. An exit code instead of a result when the
    bench failed (2) or was interrupted (130), with the reason on stderr."""
    from streetwatch.errors import ServiceError

    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with contextlib.ExitStack() as stack:
            return run(root, stack)
    except (BenchError, ServiceError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: every process this bench started has been stopped", file=sys.stderr)
        return 130
    finally:
        if keep:
            print(f"logs kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
