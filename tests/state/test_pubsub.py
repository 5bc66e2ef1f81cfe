"""Announcements on a real Redis (service/state/pubsub.py): heard at once, and a gap fails safe.

A process hears what another announces on its topic; while its subscription is
down (Redis stopped, or hung and silent) it is told so (``on_down``), the outage
is logged once, and it is told again when it hears once more (``on_up``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from service.state.base import Listener
from service.state.memory import MemoryState
from service.state.pubsub import SILENCE
from tests.conftest import Clock, LogRecords
from tests.helpers import MAX_TTL, RATES, redis_state
from tests.redis_server import RedisServer

pytestmark = pytest.mark.anyio


class Heard:
    """What a listener was told, in order: messages, and "down" / "up"."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_message": lambda message: self.events.append(f"message {message}"),
            "on_down": lambda: self.events.append("down"),
            "on_up": lambda: self.events.append("up"),
        }

    async def until(self, event: str, within: float) -> float:
        """Seconds until ``event`` is the last thing heard; fails after ``within`` seconds."""
        started = time.monotonic()
        while not self.events or self.events[-1] != event:
            assert time.monotonic() - started < within, (event, self.events)
            await asyncio.sleep(0.02)
        return time.monotonic() - started


@contextlib.asynccontextmanager
async def running(listener: Listener | None) -> AsyncIterator[None]:
    assert listener is not None
    task = asyncio.ensure_future(listener())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_an_announcement_reaches_every_listener_at_once(
    redis_server: RedisServer, clock: Clock
) -> None:
    speaker = redis_state(redis_server.url, clock)
    # Another process: its own client, the same prefix.
    hearer = redis_state(redis_server.url, clock, prefix=speaker._prefix)
    heard = Heard()
    try:
        async with running(hearer.listen("api-tokens:revoked", **heard.callbacks())):
            await heard.until("up", within=5)
            assert heard.events == ["down", "up"]  # nothing is heard before it subscribed
            await speaker.announce("api-tokens:revoked", "8u5sn4ghjmz5")
            await speaker.announce("another-topic", "not for it")
            assert await heard.until("message 8u5sn4ghjmz5", within=1) < 1
    finally:
        await speaker.aclose()
        await hearer.aclose()


async def test_without_a_shared_state_nothing_is_announced() -> None:
    memory = MemoryState(RATES, max_entries=10, max_token_ttl=MAX_TTL)
    assert memory.reach is None
    assert memory.listen("t", on_message=print, on_down=print, on_up=print) is None
    await memory.announce("t", "x")  # nobody else to tell


async def test_a_stopped_or_hung_redis_is_a_gap_and_its_end_is_heard(
    tmp_path: Path, clock: Clock, log_records: LogRecords
) -> None:
    server = RedisServer(tmp_path).start()
    state = redis_state(server.url, clock)
    heard = Heard()
    try:
        async with running(state.listen("topic", **heard.callbacks())):
            await heard.until("up", within=5)
            server.stop()
            # A closed connection is noticed at once, a silent one within SILENCE.
            assert await heard.until("down", within=SILENCE + 1) < SILENCE + 1
            await asyncio.sleep(SILENCE)  # more failed attempts: still one outage
            server.start()
            await heard.until("up", within=5)
            assert heard.events[-2:] == ["down", "up"]
            server.pause(int((SILENCE + 2) * 1000))  # hung: connected, and silent
            assert await heard.until("down", within=SILENCE + 1.5) < SILENCE + 1.5
            await heard.until("up", within=SILENCE + 5)
    finally:
        await state.aclose()
        server.stop()
    messages = log_records.messages
    assert sum(m.startswith("announcements cannot be heard") for m in messages) == 2
    assert sum(m.startswith("announcements are heard again") for m in messages) == 2
