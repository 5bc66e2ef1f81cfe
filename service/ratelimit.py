"""In-memory rate limiting with bounded memory.

Each limiter runs the generic cell rate algorithm (GCRA): per key it keeps one
float, the "theoretical arrival time" of the next allowed event. ``limit``
events may arrive at once; after that one more is allowed every
``period / limit`` seconds. Keys live in a cachetools ``TTLCache`` bounded by
``max_entries``: an entry is dropped once it no longer matters (after one
period) or, under pressure, least recently used first, so memory depends on the
configured size, never on how many customers or addresses turn up.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable

from cachetools import TTLCache

from service.config import Rate
from service.errors import RateLimited


class RateLimiter:
    def __init__(
        self,
        rate: Rate,
        *,
        max_entries: int,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self._interval = rate.period / rate.limit
        # A burst of `limit` events is allowed: the TAT may run this far ahead of now.
        self._tolerance = rate.period - self._interval
        self._timer = timer
        self._tats: TTLCache[Hashable, float] = TTLCache(
            maxsize=max_entries, ttl=rate.period, timer=timer
        )

    def hit(self, key: Hashable) -> None:
        """Count one event for ``key``; raise :class:`RateLimited` when over the rate."""
        now = self._timer()
        tat = max(self._tats.get(key, now), now)
        if tat - now > self._tolerance:
            raise RateLimited(retry_after=max(1, math.ceil(tat - self._tolerance - now)))
        self._tats[key] = tat + self._interval

    def __len__(self) -> int:
        return len(self._tats)

    def __repr__(self) -> str:
        return f"RateLimiter({self.rate}, tracking={len(self._tats)})"
