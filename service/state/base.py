"""The one async interface every state backend implements, and what a request asks of it.

Endpoints hold a :class:`State` and never know where it keeps things: in this
process (:class:`~service.state.memory.MemoryState`, the embedded default) or in
a store that every replica shares. Each request makes at most one call, so a
networked backend answers it in one round trip. A backend that cannot answer
raises :class:`~service.errors.StateUnavailable` (503): no check is ever skipped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.registry import Collector

from service.config.limits import Rate

#: What a process runs, until cancelled, to hear announcements (see :meth:`State.listen`).
Listener = Callable[[], Coroutine[Any, Any, None]]


@dataclass(frozen=True, slots=True)
class Checks:
    """What one request must pass, in this order, in one call.

    ``limits`` are counted in order and stop at the first over its rate
    (:class:`~service.errors.RateLimited`; later ones are not counted). Then a
    blocked ``customer`` is refused (:class:`~service.errors.CustomerBlocked`).
    Last, ``first_use`` records a one-time proof for ``seconds`` and refuses
    one seen before (:class:`~service.errors.ReplayedProof`); it is recorded
    only when everything else passed, so a refused request can be retried.
    """

    limits: tuple[tuple[str, str], ...] = ()
    customer: tuple[str, str] | None = None
    first_use: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Block:
    shop: str
    customer_id: str
    reason: str
    #: Unix time of the block; the customer's tokens issued up to then are inactive.
    since: float


class State(ABC):
    """Limits, revocations and blocks; see :class:`Checks` for what a request asks."""

    def __init__(self, rates: Mapping[str, Rate]) -> None:
        self.rates = dict(rates)

    @abstractmethod
    async def check(self, checks: Checks) -> None:
        """Count and check ``checks``; raise the first refusal."""

    async def hit(self, limiter: str, key: str) -> None:
        """Count one event on one limiter."""
        await self.check(Checks(limits=((limiter, key),)))

    @abstractmethod
    async def revoke(self, jti: str, expires_at: int) -> None:
        """Refuse the token ``jti`` until ``expires_at`` (its ``exp``), then forget it.

        "Until" includes :data:`~service.support.clock.LEEWAY` past ``exp``: a
        verifier here still accepts the token that long.
        """

    @abstractmethod
    async def token_active(
        self,
        jti: str,
        *,
        issued_at: int,
        customer: tuple[str, str] | None = None,
        first_use: tuple[str, int] | None = None,
    ) -> bool:
        """False if ``jti`` is revoked, or ``customer`` was blocked after ``issued_at``.

        For an active token, ``first_use`` records a one-time proof that came with it
        (a DPoP proof, RFC 9449 §11.1) for ``seconds``, as :class:`Checks` does, and
        raises :class:`~service.errors.ReplayedProof` for one seen before: a request
        with a bound token still makes one call.
        """

    @abstractmethod
    async def block(self, shop: str, customer_id: str, reason: str = "") -> Block:
        """Refuse the customer's mints and every token issued to them so far."""

    @abstractmethod
    async def unblock(self, shop: str, customer_id: str) -> bool:
        """Lift a block; False if there was none.

        Tokens issued up to the block stay inactive until each has expired: for
        the longest token TTL after the block, plus the verifiers' leeway.
        """

    @abstractmethod
    async def blocks(self) -> list[Block]:
        """Every current block."""

    async def announce(self, topic: str, message: str) -> None:  # noqa: B027
        """Tell every process listening to ``topic``; in memory there is no other process."""

    def listen(
        self,
        topic: str,
        *,
        on_message: Callable[[str], None],
        on_down: Callable[[], None],
        on_up: Callable[[], None],
    ) -> Listener | None:
        """What to run (until cancelled) to hear ``topic``'s announcements; None if there are none.

        ``on_down`` is called while announcements may be missed, ``on_up`` once
        they are heard again.
        """
        return None

    #: Seconds within which an announcement reaches every process; None: it reaches none.
    reach: float | None = None

    async def ping(self) -> None:  # noqa: B027 (nothing to do in memory)
        """Raise :class:`~service.errors.StateUnavailable` unless the backend answers."""

    async def aclose(self) -> None:  # noqa: B027
        """Release connections."""

    def tracked_keys(self) -> dict[str, int]:
        """Keys each limiter holds in this process (for ``/metrics``); empty if not local."""
        return {}

    def series(self) -> list[Collector]:
        """The backend's own metrics (errors, time spent), rendered by ``/metrics``."""
        return []
