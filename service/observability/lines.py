"""How every log line is written: its time stamp, its JSON or its ``key=value`` fields.

The service's own lines (:mod:`~service.observability.logs`) and the request
lines (:mod:`~service.observability.accesslog`) share these, so both have one
shape and parse alike.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from service.support import jsonio

LOGGER = "shapestoken"
log = logging.getLogger(LOGGER)


class Stamps:
    """Times as log lines write them; each second's part is formatted once.

    A busy process writes a line per request: ``strftime`` once per second
    instead of once per line. Text lines use local time, JSON lines UTC.
    """

    __slots__ = ("_second", "_text", "_iso")

    def __init__(self) -> None:
        self._second = -1
        self._text = self._iso = ""

    def _advance(self, second: int) -> None:
        self._second = second
        self._text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        self._iso = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")

    def text(self, created: float) -> str:
        """``2026-11-24 10:15:00,123`` (local time, as ``logging`` writes it)."""
        second = int(created)
        if second != self._second:
            self._advance(second)
        return f"{self._text},{int((created - second) * 1000):03d}"

    def iso(self, created: float) -> str:
        """``2026-11-24T09:15:00.123+00:00`` (UTC, milliseconds)."""
        second = int(created)
        if second != self._second:
            self._advance(second)
        return f"{self._iso}.{int((created - second) * 1000):03d}+00:00"


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <message> key=value ...`` on one line."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps = Stamps()

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return self.stamps.text(record.created)

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.getMessage()}"
        if fields:
            line += " " + " ".join([f"{key}={plain(value)}" for key, value in fields.items()])
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JSONFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self.stamps = Stamps()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.stamps.iso(record.created),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json_line(entry)


def json_line(entry: dict[str, Any]) -> str:
    """``entry`` as compact JSON, non-ASCII escaped, as ``json.dumps`` writes it."""
    return jsonio.dumps(entry, ascii_only=True).decode("ascii")


def plain(value: object) -> str:
    """``value`` for a ``key=value`` text field: as is when plain, else quoted."""
    text = str(value)
    # Request paths are caller-chosen: quote anything that could forge a log line
    # (the same test as [\x21-\x7e]*, without a regular expression).
    if text.isascii() and text.isprintable() and " " not in text:
        return text
    return json.dumps(text)
