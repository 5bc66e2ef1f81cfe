"""RedisState on a real redis-server: agreement with memory, TTLs, one round trip, faults."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from service.config.limits import Rate
from service.errors import RateLimited, StateUnavailable
from service.observability.metrics import text as metrics_text
from service.state import Checks
from service.state.memory import MemoryState
from service.state.monitor import SETTLE
from service.state.redis import RedisState
from service.support.clock import LEEWAY
from tests.conftest import Clock, LogRecords, Run
from tests.examples import example
from tests.helpers import MAX_TTL, redis_state
from tests.redis_server import RedisServer

LIMITERS = ("per_customer", "per_ip", "per_client")


def keys_and_ttls(server: RedisServer, prefix: str) -> dict[str, int]:
    """Every key under ``prefix`` with its TTL in milliseconds (-1: none)."""
    with server.client() as client:
        return {key.decode(): int(client.pttl(key)) for key in client.scan_iter(match=f"{prefix}*")}


# -- the GCRA: the Redis script and the Python rule agree --------------------------------


rates = st.builds(Rate, st.integers(1, 40), st.sampled_from([1, 60, 3600, 86400]))
advances = st.one_of(
    st.just(0.0),
    st.floats(0, 5, allow_nan=False),
    st.floats(0, 4000, allow_nan=False),
    st.integers(0, 100_000).map(float),
)
request = st.lists(st.tuples(st.sampled_from(LIMITERS), st.sampled_from("ab")), max_size=3)
steps = st.lists(st.tuples(advances, request), min_size=1, max_size=40)


@given(limits=st.tuples(rates, rates, rates), steps=steps)
def test_redis_gcra_agrees_with_memory_on_any_hits_and_clock_steps(
    redis_server: RedisServer,
    limits: tuple[Rate, Rate, Rate],
    steps: list[tuple[float, list[tuple[str, str]]]],
) -> None:
    clock = Clock()
    rate_map = dict(zip(LIMITERS, limits, strict=True))
    memory = MemoryState(
        rate_map, max_entries=1000, max_token_ttl=MAX_TTL, now=clock, monotonic=clock
    )
    shared = redis_state(redis_server.url, clock)
    shared.rates = dict(rate_map)

    async def outcome(state: MemoryState | RedisState, checks: Checks) -> int:
        try:
            await state.check(checks)
        except RateLimited as limited:
            return limited.retry_after
        return 0

    async def play() -> None:
        try:
            for advance, limits_asked in steps:
                clock.advance(advance)
                checks = Checks(limits=tuple(limits_asked))
                assert await outcome(shared, checks) == await outcome(memory, checks)
        finally:
            await shared.aclose()

    asyncio.run(play())


# -- keys: one prefix, each with a TTL but the blocks hash --------------------------------


def test_every_key_has_a_ttl_but_the_blocks_hash(
    redis_server: RedisServer, clock: Clock, run: Run
) -> None:
    state = redis_state(redis_server.url, clock)
    prefix = state._prefix
    exp = int(clock()) + 600
    run(state.check(Checks(limits=(("per_ip", "10.0.0.1"), ("per_customer", "acme/42")))))
    # A public client's budget is per (client, address): one bounded key for each.
    run(state.hit("per_client", "storefront-web/2001:db8::7"))
    run(state.check(Checks(customer=("acme", "42"), first_use=("app-proxy/abc", 180))))
    run(state.revoke("jti-1", exp))
    run(state.revoke("jti-expired", int(clock()) - LEEWAY))  # refused anyway: nothing to keep
    run(state.block("acme", "7", "fraud"))
    run(state.block("acme", "8"))
    run(state.unblock("acme", "8"))
    run(state.aclose())

    ttls = keys_and_ttls(redis_server, prefix)
    proof = next(key for key in ttls if key.startswith(f"{prefix}proof:"))
    assert "abc" not in proof.removeprefix(prefix)  # the proof itself never becomes a key name
    assert set(ttls) == {
        f"{prefix}rate:per_ip:10.0.0.1",
        f"{prefix}rate:per_customer:acme/42",
        f"{prefix}rate:per_client:storefront-web/2001:db8::7",
        proof,
        f"{prefix}revoked:jti-1",
        f"{prefix}blocks",
        f"{prefix}unblocked:acme/8",
    }
    assert ttls.pop(f"{prefix}blocks") == -1  # a block lasts until unblock
    # Each TTL is its entry's lifetime plus at most a second of margin.
    expected = {
        f"{prefix}rate:per_ip:10.0.0.1": 60 / 3,  # one interval of 3/minute
        f"{prefix}rate:per_customer:acme/42": 60 / 2,
        f"{prefix}rate:per_client:storefront-web/2001:db8::7": 60 / 5,
        proof: 180,
        # Verifiers take a token LEEWAY seconds past its exp: revocations and
        # cut-offs last as long.
        f"{prefix}revoked:jti-1": 600 + LEEWAY,
        f"{prefix}unblocked:acme/8": MAX_TTL + LEEWAY,
    }
    for key, seconds in expected.items():
        assert seconds * 1000 - 100 < ttls[key] <= seconds * 1000 + 1000, key


def test_on_redis_time_a_revocation_outlives_exp_by_the_leeway(
    redis_server: RedisServer, run: Run
) -> None:
    # Redis' own clock, as in production: a token whose exp has just passed is
    # still taken by verifiers for LEEWAY seconds, so its revocation is kept.
    state = redis_state(redis_server.url, Clock(), now=None)
    prefix = state._prefix
    exp = int(time.time()) - 1
    run(state.revoke("jti-late", exp))
    assert not run(state.token_active("jti-late", issued_at=exp - 60))
    run(state.aclose())
    before = time.time()
    ttl = keys_and_ttls(redis_server, prefix)[f"{prefix}revoked:jti-late"]
    after = time.time()
    # Until exp + LEEWAY at least, plus at most the second of margin (and 1 ms of rounding).
    assert (exp + LEEWAY - after) * 1000 < ttl <= (exp + LEEWAY - before) * 1000 + 1001


def test_rate_keys_live_no_longer_than_their_period(
    redis_server: RedisServer, clock: Clock, run: Run
) -> None:
    state = redis_state(redis_server.url, clock)
    for _ in range(5):  # per_client is 5/minute: the whole burst
        run(state.hit("per_client", "crm"))
    with pytest.raises(RateLimited):
        run(state.hit("per_client", "crm"))
    run(state.aclose())
    (ttl,) = keys_and_ttls(redis_server, state._prefix).values()
    assert 59_000 < ttl <= 61_000


def test_bytes_per_tracked_key(redis_server: RedisServer, clock: Clock, run: Run) -> None:
    """The operations guide's sizing: MEMORY USAGE of each kind of key, as Redis counts it."""
    state = redis_state(redis_server.url, clock)
    run(state.hit("per_ip", "2001:db8::1234:5678"))
    run(state.hit("per_customer", "acme.myshopify.com/12345678901234567890"))
    run(state.revoke("A" * 22, int(clock()) + 900))
    run(state.aclose())
    with redis_server.client() as client:
        usage = {
            key.decode(): int(client.memory_usage(key) or 0)
            for key in client.scan_iter(match=f"{state._prefix}*")
        }
    assert len(usage) == 3
    # Key name, value, TTL and Redis' own overhead stay within 200 bytes (the docs say so).
    assert all(0 < size <= 200 for size in usage.values()), usage


def test_the_docs_sizing_commands_work_as_pasted(
    redis_server: RedisServer, clock: Clock, run: Run
) -> None:
    script = example("redis-sizing")
    with redis_server.client() as client:
        client.select(2)
        client.flushdb()
    state = redis_state(f"redis://127.0.0.1:{redis_server.port}/2", clock, prefix="shapestoken:")
    for n in range(5):
        run(state.hit("per_customer", f"acme.myshopify.com/{n + 1}"))
    run(state.aclose())
    # The operator's redis-cli talks to their Redis; here it talks to the test's.
    shim = f'redis-cli() {{ command redis-cli -p {redis_server.port} -n 2 "$@"; }}\n'
    result = subprocess.run(
        ["bash", "-c", shim + script], capture_output=True, text=True, timeout=60, check=True
    )
    first, *rest = result.stdout.splitlines()
    keys, per_key = re.fullmatch(r"(\d+) keys, (\d+) bytes per key", first).groups()  # type: ignore[union-attr]
    assert int(keys) == 5 and 0 < int(per_key) <= 200
    assert "db2:keys=5,expires=5" in "\n".join(rest)


def test_the_docs_acl_user_can_do_everything_the_service_does(
    redis_server: RedisServer, clock: Clock, run: Run
) -> None:
    shim = f'redis-cli() {{ command redis-cli -p {redis_server.port} "$@"; }}\n'
    script = example("redis-acl")
    subprocess.run(["bash", "-c", shim + script], capture_output=True, timeout=60, check=True)
    url = f"redis://shapestoken:a-long-random-password@127.0.0.1:{redis_server.port}/3"
    state = redis_state(url, clock, prefix="shapestoken:", now=None)
    run(state.ping())
    run(state.check(Checks(limits=(("per_ip", "a"),), customer=("s", "1"), first_use=("p", 9))))
    run(state.revoke("jti", int(clock()) + 60))
    assert not run(state.token_active("jti", issued_at=0, customer=("s", "1")))
    run(state.block("s", "2", "why"))
    assert [block.customer_id for block in run(state.blocks())] == ["2"]
    assert run(state.unblock("s", "2"))
    # Announcements: published and heard on its own channels.
    heard: list[str] = []
    listener = state.listen(
        "topic", on_message=heard.append, on_down=lambda: None, on_up=lambda: None
    )
    assert listener is not None

    async def announce_and_hear() -> None:
        task = asyncio.ensure_future(listener())
        try:
            while not heard:
                await state.announce("topic", "news")
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    run(asyncio.wait_for(announce_and_hear(), 10))
    assert heard[0] == "news"
    run(state.aclose())
    # Nothing outside its prefix.
    other = redis_state(url, clock, prefix="other:", now=None)
    with pytest.raises(StateUnavailable) as refused:
        run(other.hit("per_ip", "a"))
    assert "NoPermission" in type(refused.value.__cause__).__name__
    run(other.aclose())


# -- one round trip, and the script cache ------------------------------------------------


def test_a_check_is_one_evalsha(redis_server: RedisServer, clock: Clock, run: Run) -> None:
    state = redis_state(redis_server.url, clock)
    checks = Checks(
        limits=(("per_ip", "1.2.3.4"), ("per_customer", "acme/42")),
        customer=("acme", "42"),
        first_use=("app-proxy/x", 180),
    )
    run(state.ping())  # connect (and name the connection) first
    with redis_server.client() as client:
        client.config_resetstat()
        run(state.check(checks))
        stats = client.info("commandstats")
    run(state.aclose())
    called = {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}
    called.pop("config|resetstat")  # this test's own
    # One EVALSHA; the rest ran inside it: two limits and the proof read and
    # written, the block looked up.
    assert called == {"evalsha": 1, "get": 3, "set": 3, "hexists": 1}


def test_a_flushed_script_cache_is_refilled(
    redis_server: RedisServer, clock: Clock, run: Run
) -> None:
    state = redis_state(redis_server.url, clock)
    run(state.hit("per_ip", "a"))
    with redis_server.client() as client:
        client.script_flush()
        run(state.hit("per_ip", "a"))  # NOSCRIPT, then EVAL
        assert client.script_exists(RedisState.CHECK.sha) == [True]
    run(state.hit("per_ip", "a"))
    with pytest.raises(RateLimited):
        run(state.hit("per_ip", "a"))
    run(state.aclose())


# -- several replicas: two states on one Redis --------------------------------------------


def test_a_revocation_or_block_on_one_replica_holds_on_the_other(
    redis_server: RedisServer, clock: Clock, run: Run
) -> None:
    one = redis_state(redis_server.url, clock)
    other = redis_state(redis_server.url, clock, prefix=one._prefix)
    issued_at = int(clock())
    run(one.revoke("jti-1", issued_at + 600))
    assert not run(other.token_active("jti-1", issued_at=issued_at))
    assert run(other.token_active("jti-2", issued_at=issued_at))
    clock.advance(5)
    run(other.block("acme", "42", "fraud"))
    assert not run(one.token_active("jti-2", issued_at=issued_at, customer=("acme", "42")))
    assert [b.customer_id for b in run(one.blocks())] == ["42"]
    run(one.hit("per_customer", "acme/42"))
    run(other.hit("per_customer", "acme/42"))
    with pytest.raises(RateLimited):  # 2/minute across both
        run(one.hit("per_customer", "acme/42"))
    run(one.aclose())
    run(other.aclose())


def test_the_redis_clock_is_used_when_none_is_given(redis_server: RedisServer, run: Run) -> None:
    state = redis_state(redis_server.url, Clock(), now=None)
    block = run(state.block("acme", "42"))
    with redis_server.client() as client:
        seconds, micros = client.time()
    assert seconds + micros / 1e6 - 5 < block.since <= seconds + micros / 1e6
    issued_before = int(block.since) - 1
    assert not run(state.token_active("j", issued_at=issued_before, customer=("acme", "42")))
    run(state.unblock("acme", "42"))
    assert not run(state.token_active("j", issued_at=issued_before, customer=("acme", "42")))
    assert run(state.token_active("j", issued_at=int(block.since) + 1, customer=("acme", "42")))
    run(state.aclose())


# -- faults: fail closed, say it once, recover by itself --------------------------------


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server this test may stop, restart and pause."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def test_a_dead_redis_fails_closed_logs_once_and_recovery_needs_no_restart(
    own_redis: RedisServer, clock: Clock, run: Run, log_records: LogRecords
) -> None:
    state = redis_state(own_redis.url, clock, monotonic=clock)
    checks = Checks(limits=(("per_customer", "acme/42"),), customer=("acme", "42"))
    run(state.check(checks))
    own_redis.stop()
    for _ in range(20):
        with pytest.raises(StateUnavailable) as refused:
            run(state.check(checks))
        assert refused.value.status_code == 503
        assert refused.value.error == "temporarily_unavailable"
        assert refused.value.headers == {"Retry-After": "1"}
    with pytest.raises(StateUnavailable):
        run(state.ping())
    with pytest.raises(StateUnavailable):
        run(state.token_active("jti", issued_at=0, customer=("acme", "42")))

    (down,) = log_records.records
    assert down.levelno == logging.ERROR
    assert down.getMessage() == "state backend unavailable: answering 503 until it returns"
    fields = log_records.fields(0)
    assert fields["backend"] == own_redis.url
    assert fields["error"].startswith("ConnectionError: ")

    own_redis.restart()  # same port, empty: no data, no scripts
    run(state.check(checks))  # the same object, reconnected
    assert len(log_records.records) == 1  # answering again, but only just
    clock.advance(SETTLE)
    run(state.ping())
    (_, up) = log_records.records
    assert up.levelno == logging.WARNING and up.getMessage() == "state backend is back"
    assert log_records.fields(1)["failed_calls"] == 22

    text = metrics_text(state.monitor.errors, state.monitor.durations)
    assert 'shapestoken_state_errors_total{operation="check"} 20' in text
    assert 'shapestoken_state_errors_total{operation="ping"} 1' in text
    assert 'shapestoken_state_duration_seconds_count{operation="check"} 22' in text
    run(state.aclose())


def test_a_slow_redis_is_cut_off_by_the_deadline(
    own_redis: RedisServer, clock: Clock, run: Run, log_records: LogRecords
) -> None:
    state = redis_state(own_redis.url, clock, monotonic=clock)
    run(state.hit("per_ip", "a"))
    own_redis.pause(1500)
    # Were the call not bounded it would wait out the pause and succeed.
    with pytest.raises(StateUnavailable) as refused:
        run(state.hit("per_ip", "a"))
    assert isinstance(refused.value.__cause__, (TimeoutError, redis.TimeoutError))
    assert "TimeoutError" in log_records.fields(0)["error"]
    deadline = time.monotonic() + 10
    while True:  # the pause ends by itself
        try:
            run(state.hit("per_ip", "b"))
            break
        except StateUnavailable:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    clock.advance(SETTLE)
    run(state.hit("per_ip", "c"))
    assert log_records.messages[-1] == "state backend is back"
    run(state.aclose())


def test_hiredis_parses_the_replies() -> None:
    from redis.utils import HIREDIS_AVAILABLE

    assert HIREDIS_AVAILABLE
