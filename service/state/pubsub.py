"""Announcements every replica hears at once: Redis pub/sub, watched so a gap fails safe.

A process that changes something the others cache (an API token revoked from
the dashboard or the CLI) publishes it on a channel of the service's own
(``shapestoken:<topic>``); every server process keeps one subscription and hands
each message to its callback at once, so the change holds everywhere within
:data:`REACH` seconds.

Pub/sub delivers only to whoever is subscribed at that moment: a message sent
while a subscriber is cut off is lost. So the subscription is watched. It pings
Redis every :data:`PING_EVERY` seconds, and a connection that fails, or stays
silent for :data:`SILENCE` seconds (a Redis that hangs), counts as down:
``on_down`` is called (the caller bounds what it caches meanwhile), the outage
is logged once, and the subscription is made again until Redis answers; then
``on_up`` is called (the caller forgets what it cached during the gap).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.observability.logs import log
from service.state.monitor import describe

#: Seconds within which an announcement reaches every process, or the process
#: bounds its cache to (while its subscription is down).
REACH = 2.0
#: Seconds between pings on the subscription.
PING_EVERY = 0.5
#: Seconds without a word from Redis after which the subscription counts as down.
SILENCE = 1.0
#: Seconds between attempts to subscribe again.
RETRY = 0.5


class Subscription:
    """One channel's messages to ``on_message``, for as long as :meth:`run` runs."""

    def __init__(
        self,
        client: Redis,
        channel: str,
        *,
        on_message: Callable[[str], None],
        on_down: Callable[[], None],
        on_up: Callable[[], None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channel = channel
        self._client = client
        self._on_message = on_message
        self._on_down = on_down
        self._on_up = on_up
        self._monotonic = monotonic
        #: Whether the subscription is known to be live.
        self.up = False
        #: Whether an outage has been logged and its end is still to say.
        self._outage = False

    async def run(self) -> None:
        """Subscribe, hear, watch for silence and subscribe again; until cancelled."""
        self._on_down()  # nothing is heard before the first subscription
        while True:
            try:
                await self._listen()
            except (RedisError, OSError) as exc:  # TimeoutError is an OSError
                self._lost(exc)
            await asyncio.sleep(RETRY)

    async def _listen(self) -> None:
        pubsub = self._client.pubsub()
        try:
            async with asyncio.timeout(SILENCE):
                await pubsub.subscribe(self.channel)
                # Subscribed once Redis confirms it; messages come only after that.
                while True:
                    confirmed = await pubsub.get_message(timeout=SILENCE)
                    if confirmed is not None and confirmed["type"] == "subscribe":
                        break
            self._joined()
            heard = pinged = self._monotonic()
            while True:
                message = await pubsub.get_message(timeout=PING_EVERY)
                now = self._monotonic()
                if message is not None:
                    heard = now  # a message or the answer to a ping
                    if message["type"] == "message":
                        self._on_message(message["data"].decode())
                if now - heard > SILENCE:
                    raise TimeoutError(f"no answer to PING within {SILENCE:g} s")
                if now - pinged >= PING_EVERY:
                    await pubsub.ping()
                    pinged = now
        finally:
            with contextlib.suppress(RedisError, OSError):
                async with asyncio.timeout(SILENCE):
                    await pubsub.aclose()

    def _joined(self) -> None:
        self.up = True
        self._on_up()
        if self._outage:
            self._outage = False
            log.warning(
                "announcements are heard again", extra={"fields": {"channel": self.channel}}
            )

    def _lost(self, exc: BaseException) -> None:
        if self.up:
            self.up = False
            self._on_down()
        if not self._outage:
            self._outage = True
            log.error(
                f"announcements cannot be heard: what this process caches lasts at most "
                f"{REACH:g} s until they can",
                extra={"fields": {"channel": self.channel, "error": describe(exc)}},
            )
