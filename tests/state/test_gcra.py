from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.config import Rate
from service.errors import RateLimited
from service.state.gcra import RateLimiter
from tests.conftest import Clock


def test_a_burst_of_limit_then_one_per_interval() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(3, 60), max_entries=100, timer=clock)
    for _ in range(3):
        limiter.hit("k")
    with pytest.raises(RateLimited) as info:
        limiter.hit("k")
    assert info.value.retry_after == 20
    assert info.value.headers == {"Retry-After": "20"}
    clock.advance(19)
    with pytest.raises(RateLimited):
        limiter.hit("k")
    clock.advance(1)
    limiter.hit("k")


def test_refused_hits_are_not_counted() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(1, 10), max_entries=100, timer=clock)
    limiter.hit("k")
    for _ in range(50):
        with pytest.raises(RateLimited):
            limiter.hit("k")
    clock.advance(10)
    limiter.hit("k")


def test_keys_are_independent() -> None:
    limiter = RateLimiter(Rate(1, 60), max_entries=100, timer=Clock())
    limiter.hit(("shop", "1"))
    limiter.hit(("shop", "2"))
    with pytest.raises(RateLimited):
        limiter.hit(("shop", "1"))


def test_memory_is_bounded_by_max_entries() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(5, 60), max_entries=1000, timer=clock)
    for n in range(50_000):
        limiter.hit(n)
    assert len(limiter) == 1000


def test_a_limited_key_outlives_quieter_ones_under_pressure() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(1, 60), max_entries=3, timer=clock)
    for key in ("abuser", "a", "b"):
        limiter.hit(key)
    with pytest.raises(RateLimited):
        limiter.hit("abuser")  # refused, and now the most recently seen key
    limiter.hit("c")  # one key too many: "a", seen least recently, is forgotten
    assert len(limiter) == 3
    with pytest.raises(RateLimited):
        limiter.hit("abuser")
    limiter.hit("a")


def test_entries_expire_after_one_period() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(5, 60), max_entries=1000, timer=clock)
    for n in range(100):
        limiter.hit(n)
    clock.advance(61)
    limiter.hit("new")
    assert len(limiter) == 1


@given(
    limit=st.integers(1, 50),
    period=st.sampled_from([1, 60, 3600]),
    gaps=st.lists(st.floats(0, 5, allow_nan=False), max_size=200),
)
def test_conforms_to_a_token_bucket(limit: int, period: int, gaps: list[float]) -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(limit, period), max_entries=10, timer=clock)
    allowed: list[float] = []
    for gap in gaps:
        clock.advance(gap)
        try:
            limiter.hit("k")
        except RateLimited as exc:
            assert exc.retry_after >= 1
        else:
            allowed.append(clock())
    # A bucket of `limit` tokens refilled at limit/period: between any two admitted
    # events, at most `limit` plus what refilled in between were admitted.
    interval = period / limit
    for i, start in enumerate(allowed):
        for j in range(i, len(allowed)):
            assert j - i + 1 <= limit + (allowed[j] - start) / interval + 1e-6
