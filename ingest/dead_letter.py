"""Dead-letter file: every rejected payload, whole, one JSON object per line, fsync'd before ack.

Files rotate daily (`rejects-YYYY-MM-DD.jsonl`, UTC). A payload that is not UTF-8 is kept as
base64 so the file stays valid JSON and nothing about the original bytes is lost.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from streetwatch.validation import RejectRecord


class DeadLetterFile:
    """Appends reject records to the day's JSONL file under `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()  # the writer and (for overload_qos0) paho's thread append

    def path_for(self, received_ms: int) -> Path:
        day = time.strftime("%Y-%m-%d", time.gmtime(received_ms / 1000))
        return self.folder / f"rejects-{day}.jsonl"

    def append(self, records: Iterable[tuple[RejectRecord, int]]) -> int:
        """Write (record, received_ms) pairs durably; returns how many were written."""
        by_path: dict[Path, list[str]] = {}
        for record, received_ms in records:
            by_path.setdefault(self.path_for(received_ms), []).append(to_json_line(record, received_ms))
        if not by_path:
            return 0
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            for path, lines in by_path.items():
                with open(path, "a", encoding="utf-8") as file:
                    file.write("".join(lines))
                    file.flush()
                    os.fsync(file.fileno())
        return sum(len(lines) for lines in by_path.values())


def to_json_line(record: RejectRecord, received_ms: int) -> str:
    doc: dict[str, object] = {
        "received_ms": received_ms,
        "reason": record.reason,
        "detail": record.detail,
        "topic": record.topic,
        "gateway": record.gateway,
    }
    try:
        doc["payload"] = record.payload.decode("utf-8")
    except UnicodeDecodeError:
        doc["payload_b64"] = base64.b64encode(record.payload).decode("ascii")
    return json.dumps(doc, ensure_ascii=False) + "\n"


def read_dead_letters(folder: Path) -> list[dict[str, object]]:
    """All records in the folder, oldest file first (for tests and `inspect` tooling)."""
    records: list[dict[str, object]] = []
    for path in sorted(folder.glob("rejects-*.jsonl")):
        with open(path, encoding="utf-8") as file:
            records.extend(json.loads(line) for line in file if line.strip())
    return records
