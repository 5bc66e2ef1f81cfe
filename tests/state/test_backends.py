"""The state contract: what every backend must do, run against memory and a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import pytest

from service.errors import CustomerBlocked, RateLimited, ReplayedProof
from service.state import Checks, State
from service.state.memory import ExpiringSet, MemoryState
from service.support.clock import LEEWAY
from tests.conftest import Clock, Run
from tests.helpers import MAX_TTL, RATES, redis_state

T = TypeVar("T")


@pytest.fixture(params=["memory", "redis"])
def state(request: pytest.FixtureRequest, clock: Clock, run: Run) -> Iterator[State]:
    if request.param == "memory":
        yield MemoryState(RATES, max_entries=100, max_token_ttl=MAX_TTL, now=clock, monotonic=clock)
        return
    backend = redis_state(request.getfixturevalue("redis_server").url, clock)
    yield backend
    run(backend.aclose())


def test_limits_are_counted_in_order_and_stop_at_the_first_refusal(state: State, run: Run) -> None:
    both = Checks(limits=(("per_ip", "1.2.3.4"), ("per_customer", "shop/1")))
    run(state.check(both))
    run(state.check(both))
    with pytest.raises(RateLimited) as refused:
        run(state.check(both))
    assert refused.value.retry_after == 30
    # per_ip counted the refused request (3 of 3), so the next is refused there.
    with pytest.raises(RateLimited):
        run(state.hit("per_ip", "1.2.3.4"))
    # A customer over its limit never consumed another address's budget.
    run(state.hit("per_ip", "5.6.7.8"))


def test_a_refused_limit_is_not_counted_further_down(state: State, clock: Clock, run: Run) -> None:
    run(state.check(Checks(limits=(("per_ip", "a"),) * 3)))
    for _ in range(10):
        with pytest.raises(RateLimited):
            run(state.check(Checks(limits=(("per_ip", "a"), ("per_customer", "shop/1")))))
    run(state.check(Checks(limits=(("per_customer", "shop/1"),) * 2)))


def test_a_blocked_customer_is_refused_and_others_are_not(state: State, run: Run) -> None:
    run(state.block("acme.myshopify.com", "42", "fraud"))
    with pytest.raises(CustomerBlocked):
        run(state.check(Checks(customer=("acme.myshopify.com", "42"))))
    run(state.check(Checks(customer=("acme.myshopify.com", "43"))))
    run(state.check(Checks(customer=("other.myshopify.com", "42"))))
    (block,) = run(state.blocks())
    assert (block.shop, block.customer_id, block.reason) == ("acme.myshopify.com", "42", "fraud")


def test_a_block_makes_earlier_tokens_inactive_even_after_unblock(
    state: State, clock: Clock, run: Run
) -> None:
    customer = ("acme.myshopify.com", "42")
    issued_at = int(clock())
    assert run(state.token_active("jti-1", issued_at=issued_at, customer=customer))
    clock.advance(10)
    run(state.block(*customer))
    assert not run(state.token_active("jti-1", issued_at=issued_at, customer=customer))
    assert run(state.unblock(*customer))
    assert not run(state.unblock(*customer))
    assert run(state.blocks()) == []
    # Tokens issued before the block stay dead until they would have expired anyway...
    assert not run(state.token_active("jti-1", issued_at=issued_at, customer=customer))
    # ...while new ones work at once.
    clock.advance(1)
    assert run(state.token_active("jti-2", issued_at=int(clock()), customer=customer))
    run(state.check(Checks(customer=customer)))
    # A token issued at the block expires within MAX_TTL, and verifiers still take it
    # LEEWAY seconds past its exp: the cut-off holds that long, then is forgotten.
    clock.advance(MAX_TTL + LEEWAY - 1.5)
    assert not run(state.token_active("jti-1", issued_at=issued_at, customer=customer))
    clock.advance(0.5)
    assert run(state.token_active("jti-1", issued_at=issued_at, customer=customer))


def test_revocations_hold_past_exp_by_the_leeway_then_are_forgotten(
    state: State, clock: Clock, run: Run
) -> None:
    exp = int(clock()) + 60
    run(state.revoke("jti-1", exp))
    assert not run(state.token_active("jti-1", issued_at=int(clock())))
    assert run(state.token_active("jti-2", issued_at=int(clock())))
    # A verifier takes the token until exp + LEEWAY: the revocation holds as long.
    clock.advance(60)
    assert not run(state.token_active("jti-1", issued_at=int(clock())))
    clock.advance(LEEWAY - 0.001)
    assert not run(state.token_active("jti-1", issued_at=int(clock())))
    clock.advance(0.001)
    assert run(state.token_active("jti-1", issued_at=int(clock())))


def test_a_token_revoked_within_the_leeway_is_still_refused(
    state: State, clock: Clock, run: Run
) -> None:
    exp = int(clock())
    clock.advance(LEEWAY - 1)  # past exp, still taken by a verifier
    run(state.revoke("jti-1", exp))
    assert not run(state.token_active("jti-1", issued_at=exp - 60))


def test_a_one_time_proof_is_accepted_once_while_it_is_remembered(
    state: State, clock: Clock, run: Run
) -> None:
    once = Checks(first_use=("app-proxy/abc", 180))
    run(state.check(once))
    with pytest.raises(ReplayedProof):
        run(state.check(once))
    run(state.check(Checks(first_use=("app-proxy/abd", 180))))
    clock.advance(180)
    run(state.check(once))


def test_a_proof_is_not_used_up_by_a_refused_request(state: State, run: Run) -> None:
    run(state.block("acme.myshopify.com", "42"))
    refused = Checks(customer=("acme.myshopify.com", "42"), first_use=("app-proxy/abc", 180))
    with pytest.raises(CustomerBlocked):
        run(state.check(refused))
    run(state.unblock("acme.myshopify.com", "42"))
    run(state.check(refused))


def test_a_proof_with_a_token_is_accepted_once_in_the_same_call(
    state: State, clock: Clock, run: Run
) -> None:
    # A DPoP proof at a resource: its jti is marked in the call that asks about the token.
    issued_at = int(clock())
    mark = ("dpop/jkt/jti-1", 420)
    customer = ("acme.myshopify.com", "42")
    assert run(state.token_active("t", issued_at=issued_at, customer=customer, first_use=mark))
    with pytest.raises(ReplayedProof):
        run(state.token_active("t", issued_at=issued_at, customer=customer, first_use=mark))
    # Without a customer too, and the mark is shared with one-time proofs of Checks.
    other = ("dpop/jkt/jti-2", 420)
    assert run(state.token_active("u", issued_at=issued_at, first_use=other))
    with pytest.raises(ReplayedProof):
        run(state.check(Checks(first_use=other)))
    clock.advance(420)
    assert run(state.token_active("u", issued_at=issued_at, first_use=other))


def test_an_inactive_token_does_not_use_up_its_proof(state: State, clock: Clock, run: Run) -> None:
    issued_at = int(clock())
    mark = ("dpop/jkt/jti-3", 420)
    run(state.revoke("revoked", issued_at + 600))
    assert not run(state.token_active("revoked", issued_at=issued_at, first_use=mark))
    run(state.block("acme.myshopify.com", "42"))
    blocked = ("acme.myshopify.com", "42")
    assert not run(state.token_active("t", issued_at=issued_at, customer=blocked, first_use=mark))
    assert run(state.token_active("t", issued_at=issued_at, first_use=mark))


def test_memory_tracks_keys_per_limiter(clock: Clock, run: Run) -> None:
    state = MemoryState(RATES, max_entries=100, max_token_ttl=MAX_TTL, now=clock, monotonic=clock)
    run(state.hit("per_ip", "a"))
    run(state.hit("per_ip", "b"))
    assert state.tracked_keys() == {"per_customer": 0, "per_ip": 2, "per_client": 0}


def test_expiring_set_purges_what_expired(clock: Clock) -> None:
    keys = ExpiringSet(clock)
    for n in range(1000):
        keys.add(n, clock() + 10)
    keys.add("late", clock() + 100)
    assert len(keys) == 1001 and 5 in keys
    clock.advance(10)
    assert 5 not in keys
    keys.add("new", clock() + 10)
    assert len(keys) == 2
    # A later expiry extends; an earlier one does not shorten.
    keys.add("late", clock() + 5)
    assert keys.get("late") == clock() + 90
