"""State in Redis, shared by every replica (``state = "redis://…"``).

Each :class:`~service.state.State` call is one atomic Lua script (``lua/``) in
one round trip, sent with EVALSHA; when Redis answers NOSCRIPT (it restarted,
or its script cache was flushed) the call is repeated once with EVAL, which
caches the script again. Every call runs under :data:`TIMEOUT`, connecting
included; a failure of any kind is :class:`~service.errors.StateUnavailable`
(see :mod:`service.state.monitor`), so nothing is ever allowed unchecked.

Keys, all under one prefix (``shapestoken:``)::

    rate:<limiter>:<key>   a GCRA TAT               TTL: until the TAT has passed
    proof:<sha256>         a one-time proof seen    TTL: its lifetime (180 s; 420 s for DPoP)
    revoked:<jti>          a revoked token          TTL: until its exp + LEEWAY
    unblocked:<shop>/<id>  "<block time> <until>"   TTL: longest token TTL + LEEWAY after the block
    blocks                 hash "<shop>/<id>" -> "<block time> <reason>"; no TTL (until unblock)

and one pub/sub channel per topic, ``<prefix><topic>`` (:mod:`service.state.pubsub`).

Each TTL has a second of margin (``lua/clock.lua``); readers compare the
instant stored in the value, so an entry counts only until its own instant.
:data:`~service.support.clock.LEEWAY` is the clock skew a verifier here allows
past a token's ``exp``: a revocation or a cut-off that ended at ``exp`` would
let the token back in for that long.

The clock. In production the scripts read Redis' ``TIME``: one clock for every
replica, so a replica whose clock drifts can neither stretch a limit nor cut a
revocation short, and a limit stays exact however the hosts' clocks disagree.
A caller may instead pass its own clock (``now=``); the scripts then use it for
every decision. Tests do that to move time by hand: the GCRA arithmetic is the
same code either way, only where ``now`` comes from differs, which is what lets
a property test hold the Redis limiter to :func:`service.state.gcra.step`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

from prometheus_client.registry import Collector
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from service.config import RedisURL
from service.config.limits import Rate
from service.errors import CustomerBlocked, RateLimited, ReplayedProof
from service.state.base import Block, Checks, Listener, State
from service.state.batch import ScriptBatcher
from service.state.monitor import BackendMonitor
from service.state.pubsub import REACH, Subscription
from service.support.clock import LEEWAY

#: Seconds any one call may take, from waiting for a pooled connection to the reply.
TIMEOUT = 0.25
#: Connections per process. A call holds one for well under a millisecond.
MAX_CONNECTIONS = 64
PREFIX = "shapestoken:"

ALLOWED, LIMITED, BLOCKED, REPLAYED = 0, 1, 2, 3
#: token_active.lua's answers: inactive, active, active but its proof was used before.
INACTIVE, ACTIVE, ACTIVE_REPLAYED = 0, 1, 2

Arg = str | int | float


class Script:
    """A Lua script from ``lua/``, run by its SHA-1 and sent whole only when Redis lacks it."""

    def __init__(self, name: str) -> None:
        lua = resources.files("service.state") / "lua"
        self.body = (lua / "clock.lua").read_text() + (lua / f"{name}.lua").read_text()
        self.sha = hashlib.sha1(self.body.encode()).hexdigest()

    async def __call__(self, client: Redis, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            # Redis restarted or its script cache was flushed: EVAL caches it again.
            return await client.eval(self.body, len(keys), *keys, *args)


class RedisState(State):
    CHECK = Script("check")
    TOKEN_ACTIVE = Script("token_active")
    REVOKE = Script("revoke")
    BLOCK = Script("block")
    UNBLOCK = Script("unblock")

    def __init__(
        self,
        client: Redis,
        rates: Mapping[str, Rate],
        *,
        max_token_ttl: int,
        now: Callable[[], float] | None = None,
        prefix: str = PREFIX,
        name: str = "redis",
        timeout: float = TIMEOUT,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(rates)
        self._client = client
        self._max_token_ttl = max_token_ttl
        self._now = now
        self._prefix = prefix
        self._blocks_key = f"{prefix}blocks"
        # Every mint's one call: batched with the calls of other requests.
        self._check = ScriptBatcher(client, self.CHECK.body, self.CHECK.sha, timeout=timeout)
        self.monitor = BackendMonitor(
            name, timeout=timeout, errors=(RedisError,), monotonic=monotonic
        )

    @property
    def client(self) -> Redis:
        """The pooled client, for a neighbour's own use of the same Redis (pub/sub)."""
        return self._client

    @classmethod
    def from_url(
        cls,
        url: RedisURL,
        rates: Mapping[str, Rate],
        *,
        timeout: float = TIMEOUT,
        **options: Any,
    ) -> RedisState:
        """A state on the Redis at ``url``, with a bounded pool and no retries.

        ``timeout`` bounds each call; a server keeps :data:`TIMEOUT`, a command
        run by hand may wait longer for a distant Redis.
        """
        tls: dict[str, Any] = {}
        if url.tls:
            # Verify the server as any TLS client must (the CA bundle of the
            # system, or $SSL_CERT_FILE), whatever redis-py's defaults are.
            tls = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
        pool = BlockingConnectionPool.from_url(
            url.reveal(),
            max_connections=MAX_CONNECTIONS,
            timeout=timeout,  # waiting for a free connection
            socket_connect_timeout=timeout,
            # Reads are bounded by each call's deadline (service.state.monitor), not
            # by a timer around every reply, which costs more than the reply.
            socket_timeout=None,
            # No retries: a failed call answers 503 at once and the client retries
            # (Retry-After: 1); the next call reconnects by itself.
            retry=Retry(NoBackoff(), 0),
            client_name="shapestoken",
            **tls,
        )
        return cls(Redis.from_pool(pool), rates, name=str(url), timeout=timeout, **options)

    reach = REACH

    async def announce(self, topic: str, message: str) -> None:
        channel = f"{self._prefix}{topic}"
        await self.monitor.run("publish", lambda: self._client.publish(channel, message))

    def listen(
        self,
        topic: str,
        *,
        on_message: Callable[[str], None],
        on_down: Callable[[], None],
        on_up: Callable[[], None],
    ) -> Listener:
        subscription = Subscription(
            self._client,
            f"{self._prefix}{topic}",
            on_message=on_message,
            on_down=on_down,
            on_up=on_up,
        )
        return subscription.run

    def _clock(self) -> str:
        return "" if self._now is None else repr(self._now())

    async def check(self, checks: Checks) -> None:
        keys = [f"{self._prefix}rate:{name}:{key}" for name, key in checks.limits]
        args: list[Arg] = [self._clock(), len(keys)]
        for name, _ in checks.limits:
            rate = self.rates[name]
            args += [rate.limit, rate.period]
        keys.append(self._blocks_key)
        args.append("" if checks.customer is None else _field(*checks.customer))
        if checks.first_use is None:
            args.append("")
        else:
            proof, seconds = checks.first_use
            keys.append(self._proof_key(proof))
            args.append(seconds)
        result = await self.monitor.run("check", lambda: self._check(keys, args))
        code = int(result[0])
        if code == LIMITED:
            raise RateLimited(retry_after=int(result[1]))
        if code == BLOCKED:
            raise CustomerBlocked()
        if code == REPLAYED:
            raise ReplayedProof()

    async def revoke(self, jti: str, expires_at: int) -> None:
        keys = [f"{self._prefix}revoked:{jti}"]
        args: list[Arg] = [self._clock(), expires_at + LEEWAY]
        await self.monitor.run("revoke", lambda: self.REVOKE(self._client, keys, args))

    async def token_active(
        self,
        jti: str,
        *,
        issued_at: int,
        customer: tuple[str, str] | None = None,
        first_use: tuple[str, int] | None = None,
    ) -> bool:
        keys = [f"{self._prefix}revoked:{jti}"]
        args: list[Arg] = [self._clock(), issued_at, "", ""]
        if customer is not None:
            field = _field(*customer)
            keys += [self._blocks_key, f"{self._prefix}unblocked:{field}"]
            args[2] = field
        if first_use is not None:
            keys.append(self._proof_key(first_use[0]))
            args[3] = first_use[1]
        result = await self.monitor.run(
            "token_active", lambda: self.TOKEN_ACTIVE(self._client, keys, args)
        )
        if int(result) == ACTIVE_REPLAYED:
            raise ReplayedProof()
        return int(result) == ACTIVE

    def _proof_key(self, proof: str) -> str:
        # Hashed: a key name shows in MONITOR and SCAN, and the proof is a signature.
        return f"{self._prefix}proof:{hashlib.sha256(proof.encode()).hexdigest()}"

    async def block(self, shop: str, customer_id: str, reason: str = "") -> Block:
        args = [self._clock(), _field(shop, customer_id), reason]
        since = await self.monitor.run(
            "block", lambda: self.BLOCK(self._client, [self._blocks_key], args)
        )
        return Block(shop, customer_id, reason, float(since))

    async def unblock(self, shop: str, customer_id: str) -> bool:
        field = _field(shop, customer_id)
        keys = [self._blocks_key, f"{self._prefix}unblocked:{field}"]
        args: list[Arg] = [self._clock(), field, self._max_token_ttl + LEEWAY]
        result = await self.monitor.run("unblock", lambda: self.UNBLOCK(self._client, keys, args))
        return int(result) == 1

    async def blocks(self) -> list[Block]:
        entries: dict[bytes, bytes] = await self.monitor.run(
            "blocks",
            lambda: self._client.hgetall(self._blocks_key),  # type: ignore[arg-type,return-value]
        )
        found = []
        for field, value in entries.items():
            shop, _, customer_id = field.decode().rpartition("/")
            since, _, reason = value.decode().partition(" ")
            found.append(Block(shop, customer_id, reason, float(since)))
        return sorted(found, key=lambda block: block.since)

    async def ping(self) -> None:
        await self.monitor.run("ping", self._client.ping)

    async def aclose(self) -> None:
        await self._client.aclose()

    def series(self) -> list[Collector]:
        return [self.monitor.errors, self.monitor.durations]

    def __repr__(self) -> str:
        return f"RedisState({self.monitor.backend})"


def _field(shop: str, customer_id: str) -> str:
    # Shop domains hold no "/", so the field splits back at the last one.
    return f"{shop}/{customer_id}"
