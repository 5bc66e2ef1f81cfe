"""Remembering DPoP proofs' ``jti`` so each proof is used once (RFC 9449 §11.1).

In one process a bounded in-memory cache does; API replicas share Redis
(``SET key NX EX``), so a proof used on one replica is refused on every other.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any, Protocol

from shapestoken_verifier.errors import unavailable
from shapestoken_verifier.ttlcache import TTLCache

#: Proofs remembered in one process; past it new proofs are refused rather than an
#: old one forgotten early (forgetting would let it be replayed).
MEMORY_ENTRIES = 1_000_000
REDIS_PREFIX = "shapestoken-verifier:dpop:"
#: A replay check may not hold a request up for long.
REDIS_TIMEOUT = 0.5


class ReplayCache(Protocol):
    async def first_use(self, key: str, ttl: int) -> bool:
        """Remember ``key`` for ``ttl`` seconds; whether it was new."""
        ...

    async def aclose(self) -> None: ...


class MemoryReplayCache:
    def __init__(
        self, maxsize: int = MEMORY_ENTRIES, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._seen: TTLCache[bool] = TTLCache(maxsize, timer=monotonic)

    async def first_use(self, key: str, ttl: int) -> bool:
        if self._seen.get(key) is not None:
            return False
        if self._seen.full():
            raise unavailable("too many DPoP proofs to remember; try again shortly")
        self._seen.set(key, True, ttl)
        return True

    async def aclose(self) -> None:
        return None


class RedisReplayCache:
    """The same memory in Redis (the ``redis`` extra), shared by every replica."""

    def __init__(self, url: str) -> None:
        try:
            import redis.asyncio
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "replay_cache='redis://...' needs the redis extra: "
                "pip install 'shapestoken-verifier[redis]'"
            ) from exc
        self._client: Any = redis.asyncio.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)

    async def first_use(self, key: str, ttl: int) -> bool:
        # Hashed, so a key has a fixed length whatever the jti.
        name = REDIS_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()
        try:
            created = await self._client.set(name, b"1", nx=True, ex=ttl)
        except self._errors as exc:
            # Fail closed: without the shared memory a replayed proof cannot be told apart.
            raise unavailable("the DPoP replay cache cannot be reached") from exc
        return bool(created)

    async def aclose(self) -> None:
        await self._client.aclose()


def open_replay_cache(spec: str | ReplayCache | None) -> ReplayCache:
    """The replay memory for ``Verifier(replay_cache=...)``."""
    if spec is None:
        return MemoryReplayCache()
    if isinstance(spec, str):
        if spec.startswith(("redis://", "rediss://", "unix://")):
            return RedisReplayCache(spec)
        raise ValueError("replay_cache must be None, a redis:// URL or a ReplayCache")
    return spec
