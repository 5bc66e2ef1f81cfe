"""Logging set-up: one line per request, as text or JSON lines, nothing secret.

Request lines carry method, path (never the query string, which can hold
signatures), status, duration, shop and request id; they are written by
:mod:`service.observability.accesslog`, in the same shape and to the same stream as every
other line. No code path passes a token, signature or secret to a logger.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

import orjson

LOGGER = "shapestoken"
log = logging.getLogger(LOGGER)

#: The standard library's compact JSON, for what orjson leaves non-ASCII.
_ASCII_JSON = json.JSONEncoder(separators=(",", ":"))


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


def configure(
    log_format: str = "text", level: int = logging.INFO, *, access_log: bool = True
) -> None:
    """Log to stderr as ``text`` or ``json``; request lines too, unless ``access_log`` is off.

    Request lines are written by :mod:`service.observability.accesslog`, to this handler's stream.
    """
    from service.observability.accesslog import access_log as request_lines

    handler = logging.StreamHandler(sys.stderr)
    formatter = JSONFormatter() if log_format == "json" else TextFormatter()
    handler.setFormatter(formatter)
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    request_lines.enabled = access_log
    request_lines.write_to(handler, formatter.stamps, json=log_format == "json")


def server_log_config(log_format: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` putting the server's own lines in ``log_format``.

    ``shapestoken serve`` hands it to uvicorn, so its start, stop and error lines
    are written to stderr in the same shape as the service's (with JSON, one JSON
    object per line throughout). ``_granian`` is Granian's logger, for a
    ``GRANIAN_LOG_CONFIG`` written the same way.
    """
    formatter = JSONFormatter if log_format == "json" else TextFormatter
    server = {"handlers": ["stderr"], "level": "INFO", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"service": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "service",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {"uvicorn": server, "_granian": server},
    }


def json_line(entry: dict[str, Any]) -> str:
    """``entry`` as compact JSON, non-ASCII escaped, as ``json.dumps`` writes it."""
    try:
        # orjson writes the same compact JSON several times faster; it refuses what
        # the standard library accepts (lone surrogates, integers over 64 bits).
        line = orjson.dumps(entry)
        if line.isascii():
            return line.decode("ascii")
    except TypeError:
        pass
    return _ASCII_JSON.encode(entry)


def plain(value: object) -> str:
    """``value`` for a ``key=value`` text field: as is when plain, else quoted."""
    text = str(value)
    # Request paths are caller-chosen: quote anything that could forge a log line
    # (the same test as [\x21-\x7e]*, without a regular expression).
    if text.isascii() and text.isprintable() and " " not in text:
        return text
    return json.dumps(text)
