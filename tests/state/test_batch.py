"""Checks of concurrent requests share one pipeline, and each gets its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
import redis

from service.errors import RateLimited, StateUnavailable
from service.state import Checks
from service.state.batch import Call, ScriptBatcher
from service.state.redis import RedisState
from tests.conftest import Clock, Run
from tests.helpers import redis_state
from tests.redis_server import RedisServer


def record_batches(state: RedisState, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every pipeline the state's check batcher sends."""
    batcher: ScriptBatcher = state._check
    sizes: list[int] = []
    send = batcher._pipeline

    async def counted(calls: Sequence[Call], *, by_sha: bool) -> list[Any]:
        sizes.append(len(calls))
        return await send(calls, by_sha=by_sha)

    monkeypatch.setattr(batcher, "_pipeline", counted)
    return sizes


async def outcome(state: RedisState, checks: Checks) -> str:
    try:
        await state.check(checks)
    except RateLimited:
        return "limited"
    return "allowed"


def test_concurrent_checks_go_in_one_pipeline_and_each_gets_its_answer(
    redis_server: RedisServer, clock: Clock, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = redis_state(redis_server.url, clock)  # per_customer: 2 a minute
    run(state.hit("per_ip", "warm"))  # the script is in Redis' cache
    sizes = record_batches(state, monkeypatch)
    customers = [str(n % 10) for n in range(30)]  # each customer three times

    async def all_at_once() -> list[str]:
        calls = [outcome(state, Checks(limits=(("per_customer", c),))) for c in customers]
        return list(await asyncio.gather(*calls))

    answers = run(all_at_once())
    run(state.aclose())
    assert sizes == [30]
    # In the order sent: each customer's third check in the batch is over its rate.
    assert answers == ["allowed"] * 20 + ["limited"] * 10


def test_checks_made_while_a_batch_is_in_flight_go_in_the_next(
    redis_server: RedisServer, clock: Clock, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = redis_state(redis_server.url, clock)
    run(state.hit("per_ip", "warm"))
    sizes = record_batches(state, monkeypatch)

    async def waves() -> list[str]:
        first = [asyncio.create_task(outcome(state, Checks(limits=(("per_ip", "a"),))))]
        await asyncio.sleep(0)  # the first batch leaves...
        await asyncio.sleep(0)
        later = [
            asyncio.create_task(outcome(state, Checks(limits=(("per_ip", ip),)))) for ip in "bcd"
        ]
        return list(await asyncio.gather(*first, *later))

    assert run(waves()) == ["allowed"] * 4
    run(state.aclose())
    assert sizes == [1, 3]


def test_a_flushed_script_cache_is_refilled_for_a_whole_batch(
    redis_server: RedisServer, clock: Clock, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = redis_state(redis_server.url, clock)
    run(state.hit("per_ip", "warm"))
    sizes = record_batches(state, monkeypatch)
    with redis_server.client() as client:
        client.script_flush()

    async def five() -> list[str]:
        checks = [Checks(limits=(("per_ip", str(n)),)) for n in range(5)]
        return list(await asyncio.gather(*(outcome(state, c) for c in checks)))

    assert run(five()) == ["allowed"] * 5
    run(state.aclose())
    assert sizes == [5, 5]  # EVALSHA for all, NOSCRIPT, then EVAL for all


def test_one_callers_error_reply_is_its_own(redis_server: RedisServer, run: Run) -> None:
    client = redis.asyncio.Redis.from_url(redis_server.url)
    batcher = ScriptBatcher(client, "return tonumber(ARGV[1]) + 1", "0" * 40, timeout=1)

    async def three() -> list[Any]:
        calls = [batcher([], ["1"]), batcher([], ["not a number"]), batcher([], ["41"])]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    first, second, third = run(three())
    run(client.aclose())
    assert (first, third) == (2, 42)
    assert isinstance(second, redis.ResponseError)


def test_a_dead_redis_fails_every_waiting_check(clock: Clock, run: Run, tmp_path: Any) -> None:
    own = RedisServer(tmp_path / "redis").start()
    state = redis_state(own.url, clock)
    run(state.hit("per_ip", "a"))
    own.stop()

    async def three() -> list[BaseException | None]:
        calls = [state.hit("per_ip", ip) for ip in "abc"]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    failures = run(three())
    run(state.aclose())
    assert all(isinstance(failure, StateUnavailable) for failure in failures)


def test_a_caller_that_gives_up_leaves_the_others_their_answers(
    redis_server: RedisServer, run: Run
) -> None:
    client = redis.asyncio.Redis.from_url(redis_server.url)
    batcher = ScriptBatcher(client, "return ARGV[1]", "0" * 40, timeout=1)

    async def one_cancelled() -> list[Any]:
        calls = [asyncio.create_task(batcher([], [str(n)])) for n in range(3)]
        await asyncio.sleep(0)
        calls[1].cancel()
        return list(await asyncio.gather(*calls, return_exceptions=True))

    first, second, third = run(one_cancelled())
    run(client.aclose())
    assert (first, third) == (b"0", b"2")
    assert isinstance(second, asyncio.CancelledError)
