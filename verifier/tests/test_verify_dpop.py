"""Verifier.verify on DPoP-bound tokens (RFC 9449 §7): the scheme, the proof, the binding,
nonces and one use per proof, in one process and across replicas sharing Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.datastructures import Headers

from conftest import VerifierFactory
from issuers import API_URL, START, Clock, FakeIssuer, ProofKey, RedisServer
from shapestoken_verifier import (
    InvalidDPoPProof,
    InvalidToken,
    TokenError,
    UseDPoPNonce,
    Verifier,
)

#: The class of each RFC 9449 §7.1 error code.
ERRORS: dict[str, type[TokenError]] = {
    "invalid_token": InvalidToken,
    "invalid_dpop_proof": InvalidDPoPProof,
    "use_dpop_nonce": UseDPoPNonce,
}

pytestmark = pytest.mark.anyio


@pytest.fixture
def client_key() -> ProofKey:
    return ProofKey()


@pytest.fixture
def bound(issuer: FakeIssuer, client_key: ProofKey) -> str:
    return issuer.mint(cnf={"jkt": client_key.jkt})


def dpop(token: str, proof: str | None) -> dict[str, str]:
    headers = {"Authorization": f"DPoP {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return headers


async def refused(
    verifier: Verifier, headers: Any, error: str, *, method: str = "GET", url: str = API_URL
) -> TokenError:
    with pytest.raises(TokenError) as caught:
        await verifier.verify(method, url, headers)
    refusal = caught.value
    assert (refusal.status, refusal.error) == (401, error)
    assert isinstance(refusal, ERRORS[error])
    # RFC 9449 §7.1: the DPoP scheme, the error, and the algorithms a proof may use.
    challenge = refusal.headers["WWW-Authenticate"]
    assert challenge.startswith(f'DPoP error="{error}"'), challenge
    assert 'algs="ES256"' in challenge
    return refusal


async def test_a_bound_token_with_its_proof(
    verifier: Verifier, bound: str, client_key: ProofKey
) -> None:
    proof = client_key.proof("GET", API_URL, token=bound)
    principal = await verifier.verify("GET", API_URL + "?page=2", dpop(bound, proof))
    assert principal.bound is True
    assert principal.claims["cnf"] == {"jkt": client_key.jkt}


async def test_a_bound_token_as_bearer_is_refused(
    verifier: Verifier, bound: str, client_key: ProofKey
) -> None:
    headers = {"Authorization": f"Bearer {bound}", "DPoP": client_key.proof(token=bound)}
    await refused(verifier, headers, "invalid_token")


async def test_a_bound_token_without_proof_is_refused(verifier: Verifier, bound: str) -> None:
    await refused(verifier, dpop(bound, None), "invalid_dpop_proof")


async def test_a_proof_of_another_key_is_refused(verifier: Verifier, bound: str) -> None:
    await refused(verifier, dpop(bound, ProofKey().proof(token=bound)), "invalid_token")


async def test_a_proof_for_another_token_is_refused(
    verifier: Verifier, bound: str, client_key: ProofKey
) -> None:
    await refused(verifier, dpop(bound, client_key.proof(token="other")), "invalid_dpop_proof")


async def test_a_replayed_proof_is_refused(
    verifier: Verifier, bound: str, client_key: ProofKey
) -> None:
    proof = client_key.proof(token=bound)
    await verifier.verify("GET", API_URL, dpop(bound, proof))
    error = await refused(verifier, dpop(bound, proof), "invalid_dpop_proof")
    assert "used before" in error.description


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", API_URL),
        ("GET", "https://api.acme.example/v1/other"),
        ("GET", "https://x.example/v1/profile"),
    ],
)
async def test_a_proof_for_another_request_is_refused(
    verifier: Verifier, bound: str, client_key: ProofKey, method: str, url: str
) -> None:
    proof = client_key.proof("GET", API_URL, token=bound)
    await refused(verifier, dpop(bound, proof), "invalid_dpop_proof", method=method, url=url)


async def test_a_private_jwk_in_the_proof_is_refused(
    verifier: Verifier, bound: str, client_key: ProofKey
) -> None:
    from jwt.algorithms import ECAlgorithm

    private = ECAlgorithm.to_jwk(client_key.key.private, as_dict=True)
    proof = client_key.proof(token=bound, header={"jwk": private})
    await refused(verifier, dpop(bound, proof), "invalid_dpop_proof")


async def test_a_jti_over_256_characters_is_refused(
    verifier: Verifier, bound: str, client_key: ProofKey
) -> None:
    proof = client_key.proof(token=bound, jti="j" * 257)
    await refused(verifier, dpop(bound, proof), "invalid_dpop_proof")


async def test_an_old_proof_gets_a_nonce_to_use(
    verifier: Verifier, bound: str, client_key: ProofKey
) -> None:
    # RFC 9449 §8: a client whose clock is off retries with the nonce it was given.
    old = client_key.proof(token=bound, now=START - 120)
    error = await refused(verifier, dpop(bound, old), "use_dpop_nonce")
    nonce = error.headers["DPoP-Nonce"]
    retry = client_key.proof(token=bound, now=START - 120, nonce=nonce)
    assert (await verifier.verify("GET", API_URL, dpop(bound, retry))).bound


async def test_leeway_is_never_applied_to_proofs(
    make_verifier: VerifierFactory, bound: str, client_key: ProofKey
) -> None:
    verifier = make_verifier(leeway=30)
    proof = client_key.proof(token=bound, now=START + 61)
    await refused(verifier, dpop(bound, proof), "use_dpop_nonce")


async def test_a_forged_nonce_gets_a_fresh_one(
    verifier: Verifier, bound: str, client_key: ProofKey
) -> None:
    proof = client_key.proof(token=bound, nonce="A" * 32)
    error = await refused(verifier, dpop(bound, proof), "use_dpop_nonce")
    assert verifier.nonces.valid(error.headers["DPoP-Nonce"])


async def test_a_nonce_expires_after_five_minutes(
    verifier: Verifier, bound: str, client_key: ProofKey, clock: Clock
) -> None:
    nonce = verifier.nonces.issue()
    clock.advance(301)
    proof = client_key.proof(token=bound, now=START, nonce=nonce)
    await refused(verifier, dpop(bound, proof), "use_dpop_nonce")


async def test_replicas_sharing_nonce_secret_accept_each_others_nonces(
    make_verifier: VerifierFactory, bound: str, client_key: ProofKey
) -> None:
    first, second = (make_verifier(nonce_secret=b"x" * 32) for _ in range(2))
    proof = client_key.proof(token=bound, now=START - 600, nonce=first.nonces.issue())
    await second.verify("GET", API_URL, dpop(bound, proof))


@pytest.mark.parametrize(
    "headers",
    [
        lambda token, a, b: Headers(
            raw=[
                (b"authorization", f"DPoP {token}".encode()),
                (b"dpop", a.encode()),
                (b"dpop", b.encode()),
            ]
        ),
        lambda token, a, b: httpx.Headers(
            [("Authorization", f"DPoP {token}"), ("DPoP", a), ("dpop", b)]
        ),
        lambda token, a, b: {"Authorization": f"DPoP {token}", "DPoP": a, "dpop": b},
    ],
)
async def test_two_dpop_headers_are_refused(
    verifier: Verifier, bound: str, client_key: ProofKey, headers: Any
) -> None:
    a, b = client_key.proof(token=bound), client_key.proof(token=bound)
    await refused(verifier, headers(bound, a, b), "invalid_dpop_proof")


async def test_an_unbound_token_with_the_dpop_scheme_is_refused(
    verifier: Verifier, issuer: FakeIssuer, client_key: ProofKey
) -> None:
    token = issuer.mint()
    await refused(verifier, dpop(token, client_key.proof(token=token)), "invalid_token")
    await refused(verifier, dpop(issuer.api_token(), None), "invalid_token")


async def test_an_unbound_token_with_a_stray_proof_stays_bearer(
    verifier: Verifier, issuer: FakeIssuer, client_key: ProofKey
) -> None:
    token = issuer.mint()
    headers = {"Authorization": f"Bearer {token}", "DPoP": client_key.proof(token=token)}
    assert (await verifier.verify("GET", API_URL, headers)).bound is False


async def test_bound_tokens_from_an_issuer_without_dpop_are_refused(
    verifier: Verifier, issuer: FakeIssuer, bound: str, client_key: ProofKey
) -> None:
    issuer.dpop_algs = None
    with pytest.raises(TokenError) as caught:
        await verifier.verify("GET", API_URL, dpop(bound, client_key.proof(token=bound)))
    assert caught.value.error == "invalid_token"
    assert "does not advertise DPoP" in caught.value.description


async def test_a_bound_token_has_the_dpop_scheme_in_insufficient_scope(
    verifier: Verifier, bound: str, client_key: ProofKey
) -> None:
    principal = await verifier.verify("GET", API_URL, dpop(bound, client_key.proof(token=bound)))
    with pytest.raises(TokenError) as caught:
        principal.require("orders:write")
    assert caught.value.headers["WWW-Authenticate"].startswith('DPoP error="insufficient_scope"')


# -- replay memory shared by replicas (a real Redis) ----------------------------------------------


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


async def test_replicas_sharing_redis_refuse_a_proof_used_on_another(
    make_verifier: VerifierFactory, redis_server: RedisServer, bound: str, client_key: ProofKey
) -> None:
    first, second = (make_verifier(replay_cache=redis_server.url) for _ in range(2))
    proof = client_key.proof(token=bound)
    await first.verify("GET", API_URL, dpop(bound, proof))
    await refused(second, dpop(bound, proof), "invalid_dpop_proof")
    await second.verify("GET", API_URL, dpop(bound, client_key.proof(token=bound)))


async def test_an_unreachable_redis_fails_closed(
    make_verifier: VerifierFactory, tmp_path: Path, bound: str, client_key: ProofKey
) -> None:
    stopped = RedisServer(tmp_path)  # never started: nothing listens on its port
    verifier = make_verifier(replay_cache=stopped.url)
    with pytest.raises(TokenError) as caught:
        await verifier.verify("GET", API_URL, dpop(bound, client_key.proof(token=bound)))
    assert (caught.value.status, caught.value.error) == (503, "temporarily_unavailable")
    assert caught.value.headers["Retry-After"]


async def test_the_memory_replay_cache_refuses_when_full(
    make_verifier: VerifierFactory, bound: str, client_key: ProofKey, clock: Clock
) -> None:
    from shapestoken_verifier.replay import MemoryReplayCache

    verifier = make_verifier(replay_cache=MemoryReplayCache(2, monotonic=clock))
    for _ in range(2):
        await verifier.verify("GET", API_URL, dpop(bound, client_key.proof(token=bound)))
    # Forgetting a live jti early would let it be replayed: refuse instead.
    with pytest.raises(TokenError) as caught:
        await verifier.verify("GET", API_URL, dpop(bound, client_key.proof(token=bound)))
    assert caught.value.status == 503
    clock.advance(360)  # window + nonce lifetime: the old ones may go
    await verifier.verify("GET", API_URL, dpop(bound, client_key.proof(token=bound, now=clock())))
