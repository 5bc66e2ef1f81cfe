"""Calls to a networked state backend: bounded, timed, counted, and failing closed.

Every call runs under one deadline. Whatever goes wrong (refused connection,
timeout, an error reply) becomes :class:`~service.errors.StateUnavailable`, so
an endpoint answers 503 ``temporarily_unavailable`` with ``Retry-After: 1`` and
never mints a token that skipped a check. The log says so once when an outage
starts and once when it ends, however many requests fail in between, and
``/metrics`` counts the errors and the time each operation spends. An outage
ends only after :data:`SETTLE` seconds without a failure, so a backend that
fails now and then (a timeout under load) makes one pair of lines, not one
per failed request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import Counter, Histogram

from service.errors import StateUnavailable
from service.observability.logs import log
from service.support.deadline import Deadline

T = TypeVar("T")

#: Upper bounds (seconds) of the backend latency histogram: a healthy call takes
#: well under a millisecond, the deadline is a quarter of a second.
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
#: Seconds without a failure before an outage counts as over.
SETTLE = 5.0


class BackendMonitor:
    """Runs backend calls under ``timeout`` and keeps their health, errors and timings."""

    def __init__(
        self,
        backend: str,
        *,
        timeout: float,
        errors: tuple[type[BaseException], ...],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.timeout = timeout
        self._errors: tuple[type[BaseException], ...] = (TimeoutError, OSError, *errors)
        self._monotonic = monotonic
        #: When the current outage started (monotonic), or None while the backend answers.
        self.down_since: float | None = None
        self._last_failure = 0.0
        #: The first answer after the last failure (monotonic): when the outage ended,
        #: if no failure follows within SETTLE.
        self._answered_since: float | None = None
        self._failures = 0
        # Not registered here: the service's Metrics reports them (a test may build
        # many monitors in one process).
        self.errors = Counter(
            "shapestoken_state_errors",
            "Calls to the state backend that failed (answered 503).",
            ["operation"],
            registry=None,
        )
        self.durations = Histogram(
            "shapestoken_state_duration_seconds",
            "Time spent in calls to the state backend.",
            ["operation"],
            buckets=BUCKETS,
            registry=None,
        )
        # One histogram child per operation, looked up without label handling.
        self._timings: dict[str, Histogram] = {}

    async def run(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        """``await call()`` within the deadline; any backend failure is StateUnavailable."""
        start = time.perf_counter()
        try:
            with Deadline(self.timeout):
                result = await call()
        except self._errors as exc:
            self._timed(operation, time.perf_counter() - start)
            self.errors.labels(operation).inc()
            self._failed(exc)
            raise StateUnavailable() from exc
        self._timed(operation, time.perf_counter() - start)
        if self.down_since is not None:
            self._recovered()
        return result

    def _timed(self, operation: str, seconds: float) -> None:
        timing = self._timings.get(operation)
        if timing is None:
            timing = self._timings[operation] = self.durations.labels(operation)
        timing.observe(seconds)

    def _failed(self, exc: BaseException) -> None:
        self._last_failure = self._monotonic()
        self._answered_since = None
        self._failures += 1
        if self.down_since is not None:
            return  # already said; one line per outage, not per request
        self.down_since = self._last_failure
        self._failures = 1
        log.error(
            "state backend unavailable: answering 503 until it returns",
            extra={"fields": {"backend": self.backend, "error": describe(exc)}},
        )

    def _recovered(self) -> None:
        assert self.down_since is not None
        now = self._monotonic()
        if self._answered_since is None:
            self._answered_since = now
        if now - self._last_failure < SETTLE:
            return  # it answers again, but failed moments ago: the outage may go on
        fields = {
            "backend": self.backend,
            # From the first failed call to the first answer after the last one: the
            # outage as callers saw it, however few calls were made while it lasted.
            "outage_seconds": round(self._answered_since - self.down_since, 1),
            "failed_calls": self._failures,
        }
        self.down_since = self._answered_since = None
        log.warning("state backend is back", extra={"fields": fields})


def describe(exc: BaseException) -> str:
    """What went wrong, in one short line that never holds a credential."""
    # The class says what happened (refused, timed out, an error reply); redis-py's
    # messages name host and port, never credentials.
    if isinstance(exc, TimeoutError) and not str(exc):
        return "TimeoutError: no answer within the deadline"
    return f"{type(exc).__name__}: {exc}"[:200]
