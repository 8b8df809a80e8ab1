"""Structured logs: one JSON object per line, with an `event` name and the fields that matter.

Use `log_event(logger, "ingest.flush", points=..., zone=...)`; never pass secrets as fields.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None)))


class JsonLineFormatter(logging.Formatter):
    """Format a record as one JSON line: ts, level, logger, event and the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


# HTTP client libraries log every request's full URL at INFO: a webhook URL carries its token.
QUIET_URL_LOGGERS = ("httpx", "httpcore")


def quiet_url_loggers() -> None:
    """Keep request URLs (and the secrets in them) out of the log, whatever the root level."""
    for name in QUIET_URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(level: str = "INFO") -> None:
    """Send all logs to stderr as JSON lines (idempotent)."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    quiet_url_loggers()
    if not any(isinstance(h.formatter, JsonLineFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLineFormatter())
        root.handlers[:] = [handler]


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with structured fields (device, zone, counts ...)."""
    if logger.isEnabledFor(level):
        logger.log(level, event, extra=fields)
