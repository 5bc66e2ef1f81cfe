"""The access log: one line per request, text or JSON, in about 3 µs.

Through :mod:`logging` a request line costs 12 µs in a tight loop and 25 µs in
a busy server (a ``LogRecord``, the caller's frame, the handler's lock, a
formatter, a flush). structlog's documented fast path (a filtering bound
logger, a ``BytesLogger``, orjson) costs 7 µs for a JSON line with its time
and level, and 13 µs for a text one. A request line's fields are known in
advance, so this writes it with one f-string (or one orjson call) to the stream
of the handler :func:`service.observability.logs.configure` installed: the same stream and
the same shape as every other line, so lines stay in order and parse alike.

Operators keep control:

* ``log_format`` (``text`` | ``json``) shapes these lines as every other;
* ``access_log = false`` in the config turns them off;
* the standard logger ``shapestoken.access`` is honoured on every request: a
  level above ``INFO`` turns the lines off, and a handler or filter of its own
  (or any change to the ``shapestoken`` logger's handlers) sends them through
  :mod:`logging` instead, with the same fields, at the usual cost.

Before :func:`service.observability.logs.configure` runs (an app embedded in another
program), lines go through :mod:`logging` as any library's would.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from service.observability.lines import LOGGER, Stamps, json_line, log, plain

#: The logger whose level and handlers decide where request lines go.
ACCESS = logging.getLogger(f"{LOGGER}.access")
_INFO = logging.INFO


class AccessLog:
    """Writes request lines; :func:`~service.observability.logs.configure` sets its handler."""

    __slots__ = ("enabled", "_handler", "_stamps", "_json", "_now")

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        #: ``access_log`` of the config: False writes no request line at all.
        self.enabled = True
        self._handler: logging.StreamHandler[Any] | None = None
        self._stamps = Stamps()
        self._json = False
        self._now = now

    def write_to(self, handler: logging.StreamHandler[Any], stamps: Stamps, *, json: bool) -> None:
        """Write lines straight to ``handler``'s stream while it alone handles them."""
        self._handler = handler
        self._stamps = stamps
        self._json = json

    def request(
        self,
        method: str,
        path: str,
        status: int,
        duration_ms: float,
        shop: str,
        request_id: str,
        error: str | None = None,
        origin: str | None = None,
    ) -> None:
        """One line for one request; ``error`` and ``origin`` for a refusal only."""
        if not self.enabled or not ACCESS.isEnabledFor(_INFO):
            return
        handler = self._handler
        if handler is None or not _alone(handler):
            fields: dict[str, object] = {
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "shop": shop,
                "request_id": request_id,
            }
            if error is not None:
                fields["error"] = error
                fields["origin"] = origin
            ACCESS.info("request", extra={"fields": fields})
            return
        stamps = self._stamps
        now = self._now()
        if self._json:
            entry: dict[str, object] = {
                "time": stamps.iso(now),
                "level": "info",
                "message": "request",
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "shop": shop,
                "request_id": request_id,
            }
            if error is not None:
                entry["error"] = error
                entry["origin"] = origin
            line = json_line(entry) + "\n"
        else:
            # request_id is plain by construction (middleware), status and duration
            # are numbers; everything else is caller-chosen and goes through plain().
            line = (
                f"{stamps.text(now)} INFO    request method={plain(method)} "
                f"path={plain(path)} status={status} duration_ms={duration_ms} "
                f"shop={plain(shop)} request_id={request_id}"
            )
            if error is not None:
                line += f" error={plain(error)} origin={plain(origin)}\n"
            else:
                line += "\n"
        # As StreamHandler.emit: under the handler's lock, flushed at once.
        handler.acquire()
        try:
            stream = handler.stream
            stream.write(line)
            stream.flush()
        finally:
            handler.release()


def _alone(handler: logging.Handler) -> bool:
    """True while ``logging`` would send a request line to ``handler`` only, unfiltered."""
    handlers = log.handlers
    return (
        not ACCESS.handlers
        and not ACCESS.filters
        and ACCESS.propagate
        and len(handlers) == 1
        and handlers[0] is handler
        and not log.filters
        and not handler.filters
        and not log.propagate
        and handler.level <= _INFO
    )


#: The process's access log (one per process, as the logger it stands for).
access_log = AccessLog()
