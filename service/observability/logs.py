"""Logging set-up: one line per request, as text or JSON lines, nothing secret.

Request lines carry method, path (never the query string, which can hold
signatures), status, duration, shop and request id; they are written by
:mod:`service.observability.accesslog`, in the same shape and to the same stream as every
other line. No code path passes a token, signature or secret to a logger.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from service.observability.accesslog import access_log as request_lines
from service.observability.lines import LOGGER, JSONFormatter, TextFormatter, log

__all__ = ["LOGGER", "JSONFormatter", "TextFormatter", "configure", "log", "server_log_config"]


def configure(
    log_format: str = "text", level: int = logging.INFO, *, access_log: bool = True
) -> None:
    """Log to stderr as ``text`` or ``json``; request lines too, unless ``access_log`` is off.

    Request lines are written by :mod:`service.observability.accesslog`, to this handler's stream.
    """
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
