"""The generic cell rate algorithm (GCRA), and an in-process limiter with bounded memory.

Per key GCRA keeps one number, the "theoretical arrival time" (TAT) of the next
allowed event. ``limit`` events may arrive at once; after that one more is
allowed every ``period / limit`` seconds. :func:`step` is the whole rule; the
in-process :class:`RateLimiter` and the shared-store script both follow it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from typing import NamedTuple

from cachetools import TTLCache

from service.config.limits import Rate
from service.errors import RateLimited


class Outcome(NamedTuple):
    allowed: bool
    #: The key's TAT after this event (unchanged when refused).
    tat: float
    #: Whole seconds to wait before the next event can be allowed (0 when allowed).
    retry_after: int


def step(rate: Rate, tat: float | None, now: float) -> Outcome:
    """One event for a key whose TAT is ``tat`` (``None``: never seen, or forgotten)."""
    interval = rate.interval
    # A burst of `limit` events is allowed: the TAT may run this far ahead of now.
    tolerance = rate.period - interval
    tat = now if tat is None or tat < now else tat
    if tat - now > tolerance:
        return Outcome(False, tat, max(1, math.ceil(tat - tolerance - now)))
    return Outcome(True, tat + interval, 0)


class RateLimiter:
    """GCRA over a cachetools ``TTLCache`` bounded by ``max_entries``.

    An entry is dropped once it no longer matters (one period after its last
    event) or, under pressure, least recently used first, so memory depends on
    the configured size, never on how many customers or addresses turn up.
    """

    def __init__(
        self,
        rate: Rate,
        *,
        max_entries: int,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self._timer = timer
        self._tats: TTLCache[Hashable, float] = TTLCache(
            maxsize=max_entries, ttl=rate.period, timer=timer
        )

    def allow(self, key: Hashable) -> Outcome:
        """Count one event for ``key`` if the rate allows it."""
        outcome = step(self.rate, self._tats.get(key), self._timer())
        if outcome.allowed:
            self._tats[key] = outcome.tat
        return outcome

    def hit(self, key: Hashable) -> None:
        """Count one event for ``key``; raise :class:`RateLimited` when over the rate."""
        outcome = self.allow(key)
        if not outcome.allowed:
            raise RateLimited(retry_after=outcome.retry_after)

    def __len__(self) -> int:
        return len(self._tats)

    def __repr__(self) -> str:
        return f"RateLimiter({self.rate}, tracking={len(self._tats)})"
