"""What a bench phase yields: a Figure, or a BenchError that says why it could not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
