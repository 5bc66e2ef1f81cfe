"""Redis pub/sub: a change to the runtime clients reaches the other replicas at once.

The replica that changes a client publishes one message on :data:`CHANNEL`;
every replica listening reloads its runtime clients when it arrives, instead
of at its next poll of the database's change counter. The message is only a
hint (it carries nothing but the fact of a change, so a forged one costs a
reload): the counter remains the rule, and it alone brings every replica up
to date within 2 s when Redis is down or a message is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.observability.logs import log

CHANNEL = "shapestoken:clients:changed"
#: Seconds between two tries to subscribe again after Redis failed.
RETRY_EVERY = 1.0
#: Publishing waits at most this long: the change is made, the hint is optional.
PUBLISH_TIMEOUT = 0.25


class ChangeSignal:
    def __init__(self, client: Redis, *, channel: str = CHANNEL) -> None:
        self.client = client
        self.channel = channel
        self._down = False

    async def publish(self) -> None:
        """Tell the other replicas; a failure is logged, never raised (the counter holds)."""
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                await self.client.publish(self.channel, b"1")
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning(
                "cannot publish a runtime-client change; other replicas poll for it",
                extra={"fields": {"cause": type(exc).__name__}},
            )

    async def listen(self, changed: Callable[[], Awaitable[object]]) -> None:
        """Call ``changed`` for every message, forever; resubscribe after a failure."""
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    if self._down:
                        self._down = False
                        log.warning("subscribed again to runtime-client changes")
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=RETRY_EVERY
                        )
                        if message is not None:
                            await changed()
            except (RedisError, OSError) as exc:
                if not self._down:
                    self._down = True
                    log.warning(
                        "cannot listen for runtime-client changes; polling the database only",
                        extra={"fields": {"cause": type(exc).__name__}},
                    )
                await asyncio.sleep(RETRY_EVERY)
