"""A small bounded mapping whose entries expire, on an injected monotonic clock."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    """At most ``maxsize`` entries, each kept for the ``ttl`` given when it was set.

    When full, expired entries go first, then the oldest ones (insertion order).
    """

    def __init__(self, maxsize: int, *, timer: Callable[[], float]) -> None:
        self.maxsize = maxsize
        self._timer = timer
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._timer() >= expires:
            del self._entries[key]
            return None
        return value

    def set(self, key: str, value: V, ttl: float) -> None:
        self._entries.pop(key, None)
        if len(self._entries) >= self.maxsize:
            self.expire()
        while len(self._entries) >= self.maxsize:
            self._entries.popitem(last=False)
        self._entries[key] = (self._timer() + ttl, value)

    def add(self, key: str, value: V, ttl: float) -> bool:
        """Set ``key`` unless it holds a live entry; whether it was set."""
        if self.get(key) is not None:
            return False
        self.set(key, value, ttl)
        return True

    def full(self) -> bool:
        """Whether the cache is full of live entries (expired ones are dropped first)."""
        if len(self._entries) >= self.maxsize:
            self.expire()
        return len(self._entries) >= self.maxsize

    def expire(self) -> None:
        now = self._timer()
        for key in [key for key, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]
