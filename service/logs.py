"""Logging set-up: one line per request, as text or JSON lines, nothing secret.

Request lines carry method, path (never the query string, which can hold
signatures), status, duration, shop and request id. No code path passes a
token, signature or secret to a logger.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

LOGGER = "shapestoken"
log = logging.getLogger(LOGGER)


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <message> key=value ...`` on one line."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        # One request line per request: format the date once per second, not per line.
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(second))
        return f"{self._stamp},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.getMessage()}"
        if fields:
            line += " " + " ".join([f"{key}={_plain(value)}" for key, value in fields.items()])
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"))


def configure(log_format: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def _plain(value: object) -> str:
    text = str(value)
    # Request paths are caller-chosen: quote anything that could forge a log line
    # (the same test as [\x21-\x7e]*, without a regular expression).
    if text.isascii() and text.isprintable() and " " not in text:
        return text
    return json.dumps(text)
