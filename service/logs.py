"""Logging set-up: one line per request, as text or JSON lines, nothing secret.

Request lines carry method, path (never the query string, which can hold
signatures), status, duration, shop and request id. No code path passes a
token, signature or secret to a logger.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

LOGGER = "shapestoken"
_PLAIN = re.compile(r"[\x21-\x7e]*")
log = logging.getLogger(LOGGER)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        extra = " ".join(f"{key}={_plain(value)}" for key, value in fields.items())
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.getMessage()}"
        return f"{line} {extra}" if extra else line


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
    # Request paths are caller-chosen: quote anything that could forge a log line.
    return text if _PLAIN.fullmatch(text) else json.dumps(text)
