"""State in this process's memory: the embedded default, for one process.

Limits are GCRA in bounded caches; revocations and one-time proofs are kept
until they expire, then purged as new ones arrive. With several processes each
keeps its own, so limits multiply by the number of processes and a revocation
holds only where it was made: that is what a shared backend is for.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Hashable, Mapping

from service.config.limits import Rate
from service.errors import CustomerBlocked, ReplayedProof
from service.state.base import Block, Checks, State
from service.state.gcra import RateLimiter
from service.support.clock import LEEWAY


class ExpiringSet:
    """Keys that each expire at their own time; expired ones are purged on insert."""

    def __init__(self, timer: Callable[[], float]) -> None:
        self._timer = timer
        self._expiry: dict[Hashable, float] = {}
        self._heap: list[tuple[float, int, Hashable]] = []
        self._counter = 0  # ties in the heap never compare keys

    def add(self, key: Hashable, expires_at: float) -> None:
        self._purge()
        if expires_at > self._expiry.get(key, float("-inf")):
            self._expiry[key] = expires_at
            self._counter += 1
            heapq.heappush(self._heap, (expires_at, self._counter, key))

    def __contains__(self, key: Hashable) -> bool:
        expires_at = self._expiry.get(key)
        return expires_at is not None and expires_at > self._timer()

    def get(self, key: Hashable) -> float | None:
        """The key's expiry time, or None when absent or expired."""
        return self._expiry[key] if key in self else None

    def _purge(self) -> None:
        now = self._timer()
        while self._heap and self._heap[0][0] <= now:
            expires_at, _, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == expires_at:
                del self._expiry[key]

    def __len__(self) -> int:
        self._purge()
        return len(self._expiry)


class MemoryState(State):
    def __init__(
        self,
        rates: Mapping[str, Rate],
        *,
        max_entries: int,
        max_token_ttl: int,
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(rates)
        self._now = now
        self._max_token_ttl = max_token_ttl
        self._limiters = {
            name: RateLimiter(rate, max_entries=max_entries, timer=monotonic)
            for name, rate in rates.items()
        }
        self._revoked = ExpiringSet(now)
        self._proofs = ExpiringSet(monotonic)
        self._monotonic = monotonic
        self._blocks: dict[tuple[str, str], Block] = {}
        # After an unblock: tokens issued up to the block stay inactive until they expire.
        self._cutoffs: dict[tuple[str, str], tuple[float, float]] = {}

    async def check(self, checks: Checks) -> None:
        for name, key in checks.limits:
            self._limiters[name].hit(key)
        if checks.customer is not None and checks.customer in self._blocks:
            raise CustomerBlocked()
        if checks.first_use is not None:
            self._first_use(*checks.first_use)

    def _first_use(self, proof: str, seconds: int) -> None:
        if proof in self._proofs:
            raise ReplayedProof()
        self._proofs.add(proof, self._monotonic() + seconds)

    async def revoke(self, jti: str, expires_at: int) -> None:
        # Verifiers accept a token LEEWAY seconds past its exp: so long it stays refused.
        self._revoked.add(jti, expires_at + LEEWAY)

    async def token_active(
        self,
        jti: str,
        *,
        issued_at: int,
        customer: tuple[str, str] | None = None,
        first_use: tuple[str, int] | None = None,
    ) -> bool:
        active = self._active(jti, issued_at, customer)
        if active and first_use is not None:
            self._first_use(*first_use)
        return active

    def _active(self, jti: str, issued_at: int, customer: tuple[str, str] | None) -> bool:
        if jti in self._revoked:
            return False
        if customer is None:
            return True
        if customer in self._blocks:
            return False
        cutoff = self._cutoffs.get(customer)
        if cutoff is not None:
            since, until = cutoff
            if self._now() >= until:
                del self._cutoffs[customer]
            elif issued_at <= since:
                return False
        return True

    async def block(self, shop: str, customer_id: str, reason: str = "") -> Block:
        block = Block(shop, customer_id, reason, self._now())
        self._blocks[shop, customer_id] = block
        return block

    async def unblock(self, shop: str, customer_id: str) -> bool:
        block = self._blocks.pop((shop, customer_id), None)
        if block is None:
            return False
        # Every token issued before the block expires within the longest TTL, and
        # is refused by every verifier LEEWAY seconds later.
        until = block.since + self._max_token_ttl + LEEWAY
        self._cutoffs[shop, customer_id] = (block.since, until)
        return True

    async def blocks(self) -> list[Block]:
        return sorted(self._blocks.values(), key=lambda block: block.since)

    def tracked_keys(self) -> dict[str, int]:
        return {name: len(limiter) for name, limiter in self._limiters.items()}

    def __repr__(self) -> str:
        return f"MemoryState({', '.join(f'{n}={r}' for n, r in self.rates.items())})"
