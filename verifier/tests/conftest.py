from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from issuers import AUDIENCE, GATEWAY, GATEWAY_SECRET, Clock, FakeIssuer
from shapestoken_verifier import Verifier

settings.register_profile(
    "default", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", max_examples=300, deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")

VerifierFactory = Callable[..., Verifier]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer(clock: Clock) -> FakeIssuer:
    return FakeIssuer(clock)


@pytest.fixture
async def make_verifier(issuer: FakeIssuer, clock: Clock) -> AsyncIterator[VerifierFactory]:
    """Builds verifiers of ``issuer`` on ``clock``; closes them after the test."""
    made: list[Verifier] = []

    def factory(**options: Any) -> Verifier:
        values: dict[str, Any] = {
            "introspection": (GATEWAY, GATEWAY_SECRET),
            "transport": issuer.transport(),
            "now": clock,
            "monotonic": clock,
            **options,
        }
        verifier = Verifier(issuer.url, AUDIENCE, **values)
        made.append(verifier)
        return verifier

    yield factory
    for verifier in made:
        await verifier.aclose()


@pytest.fixture
def verifier(make_verifier: VerifierFactory) -> Verifier:
    return make_verifier()
