from __future__ import annotations

import base64
import json

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import InvalidToken
from service.signing import keys
from service.signing.tokens import (
    ACCESS_TOKEN_TYP,
    IssuedToken,
    TokenIssuer,
    TokenUse,
    TokenVerifier,
    new_jti,
)
from service.support.clock import LEEWAY
from tests import strategies
from tests.conftest import AUDIENCE, ISSUER, Clock

#: The characters of a compact JWS: base64url and the dots between its parts.
TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


def pair(keyring: keys.KeyRing, clock: Clock) -> tuple[TokenIssuer, TokenVerifier]:
    return TokenIssuer(keyring, ISSUER, now=clock), TokenVerifier(keyring, ISSUER, now=clock)


def fresh_ring(key: keys.SigningKey, clock: Clock) -> keys.KeyRing:
    return keys.KeyRing([key], window=3900, now=clock)


def mint(issuer: TokenIssuer, **overrides: object) -> IssuedToken:
    values: dict[str, object] = {
        "shop": "acme.myshopify.com",
        "customer_id": "42",
        "audience": AUDIENCE,
        "scope": "customer",
        "ttl": 600,
    }
    values.update(overrides)
    return issuer.mint_customer(**values)  # type: ignore[arg-type]


@given(
    shop=strategies.shops,
    customer_id=strategies.customer_ids,
    scope=strategies.scopes,
    ttl=strategies.ttls,
)
def test_minted_claims_round_trip(
    es256_key: keys.SigningKey, shop: str, customer_id: str, scope: str, ttl: int
) -> None:
    clock = Clock()
    issuer, verifier = pair(fresh_ring(es256_key, clock), clock)
    issued = mint(issuer, shop=shop, customer_id=customer_id, scope=scope, ttl=ttl)
    claims = verifier.verify_customer(issued.token, audience=AUDIENCE)
    assert claims == issued.claims
    assert claims["sub"] == customer_id and claims["shop"] == shop and claims["scope"] == scope
    assert claims["iss"] == ISSUER and claims["aud"] == AUDIENCE
    assert claims["iat"] == claims["nbf"] == int(clock())
    assert claims["exp"] == claims["iat"] + ttl


def test_header_is_an_rfc_9068_access_token(keyring: keys.KeyRing, clock: Clock) -> None:
    issuer, _ = pair(keyring, clock)
    header = jwt.get_unverified_header(mint(issuer).token)
    assert header == {"alg": "ES256", "typ": ACCESS_TOKEN_TYP, "kid": keyring.active.kid}


def test_exact_claim_set(keyring: keys.KeyRing, clock: Clock) -> None:
    issuer, _ = pair(keyring, clock)
    payload = jwt.decode(mint(issuer).token, options={"verify_signature": False})
    assert set(payload) == {
        "iss",
        "sub",
        "aud",
        "client_id",
        "token_use",
        "shop",
        "scope",
        "iat",
        "nbf",
        "exp",
        "jti",
    }
    # RFC 9068 §2.2: client_id names who asked: for a customer token, the shop.
    assert payload["client_id"] == payload["shop"] == "acme.myshopify.com"
    assert payload["token_use"] == "customer"


@given(st.data())
def test_any_changed_token_byte_is_refused(es256_key: keys.SigningKey, data: st.DataObject) -> None:
    clock = Clock()
    issuer, verifier = pair(fresh_ring(es256_key, clock), clock)
    token = mint(issuer).token
    # Every token is new (random jti, randomized ECDSA), so a draw must never depend
    # on its bytes: a filter on `token[index]` rejected a different number of draws
    # on each replay, which Hypothesis reports as FlakyStrategyDefinition. The index
    # and a non-zero shift through the alphabet are drawn blind and applied after.
    index = data.draw(st.integers(0, len(token) - 1))
    shift = data.draw(st.integers(1, len(TOKEN_ALPHABET) - 1))
    replacement = TOKEN_ALPHABET[(TOKEN_ALPHABET.index(token[index]) + shift) % len(TOKEN_ALPHABET)]
    tampered = token[:index] + replacement + token[index + 1 :]
    try:
        claims = verifier.verify_customer(tampered, audience=AUDIENCE)
    except InvalidToken:
        return
    # Base64url's last character can carry unused bits: a change there may decode
    # to the same bytes, and then the token is, byte for byte, the one we signed.
    assert claims == verifier.verify_customer(token, audience=AUDIENCE)
    segment = tampered.split(".")[token[:index].count(".")]
    assert base64.urlsafe_b64decode(segment + "==") == base64.urlsafe_b64decode(
        token.split(".")[token[:index].count(".")] + "=="
    )


@given(elapsed=st.integers(min_value=0, max_value=10_000), ttl=strategies.ttls)
def test_time_past_exp_is_refused(es256_key: keys.SigningKey, elapsed: int, ttl: int) -> None:
    clock = Clock()
    issuer, verifier = pair(fresh_ring(es256_key, clock), clock)
    issued = mint(issuer, ttl=ttl)
    clock.advance(elapsed)
    if elapsed >= ttl + LEEWAY:
        with pytest.raises(InvalidToken):
            verifier.verify_customer(issued.token, audience=AUDIENCE)
    else:
        verifier.verify_customer(issued.token, audience=AUDIENCE)


def test_token_from_the_future_is_refused(keyring: keys.KeyRing, clock: Clock) -> None:
    issuer, verifier = pair(keyring, clock)
    issued = mint(issuer)
    clock.advance(-60)
    with pytest.raises(InvalidToken, match="not valid yet"):
        verifier.verify_customer(issued.token, audience=AUDIENCE)


def test_wrong_audience_is_refused(keyring: keys.KeyRing, clock: Clock) -> None:
    issuer, verifier = pair(keyring, clock)
    with pytest.raises(InvalidToken):
        verifier.verify_customer(mint(issuer).token, audience="https://other.example")


def test_wrong_issuer_is_refused(keyring: keys.KeyRing, clock: Clock) -> None:
    issuer = TokenIssuer(keyring, "https://evil.example", now=clock)
    _, verifier = pair(keyring, clock)
    with pytest.raises(InvalidToken):
        verifier.verify_customer(mint(issuer).token, audience=AUDIENCE)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_every_algorithm_mints_and_verifies(alg: str, clock: Clock) -> None:
    ring = keys.KeyRing([keys.generate(alg)], window=3900, now=clock)
    issuer, verifier = pair(ring, clock)
    issued = mint(issuer)
    assert jwt.get_unverified_header(issued.token)["alg"] == alg
    assert verifier.verify_customer(issued.token, audience=AUDIENCE)["sub"] == "42"


def test_jti_is_128_bits_of_base64url() -> None:
    values = {new_jti() for _ in range(1000)}
    assert len(values) == 1000
    for value in values:
        assert len(base64.urlsafe_b64decode(value + "==")) == 16
        assert "=" not in value


def test_expiry_is_iso_8601_utc(keyring: keys.KeyRing, clock: Clock) -> None:
    issuer, _ = pair(keyring, clock)
    issued = mint(issuer, ttl=600)
    assert issued.expiry == "2027-01-15T08:10:00Z"
    assert "eyJ" not in repr(issued)


def test_token_payload_is_json(keyring: keys.KeyRing, clock: Clock) -> None:
    issuer, _ = pair(keyring, clock)
    payload_segment = mint(issuer).token.split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(payload_segment + "=="))
    assert isinstance(payload["jti"], str)


@pytest.mark.parametrize("token_use", ["client_credentials", "implicit"])
def test_client_tokens_round_trip_and_never_pass_as_customer_tokens(
    keyring: keys.KeyRing, clock: Clock, token_use: str
) -> None:
    issuer, verifier = pair(keyring, clock)
    issued = issuer.mint_client(
        client_id="crm-sync",
        token_use=token_use,  # type: ignore[arg-type]
        audience=AUDIENCE,
        scope="profiles:read",
        ttl=3600,
    )
    claims = verifier.verify(issued.token, audience=AUDIENCE)
    assert claims == issued.claims
    assert claims["sub"] == claims["client_id"] == "crm-sync"
    assert claims["token_use"] == token_use and "shop" not in claims
    with pytest.raises(InvalidToken, match="not a customer token"):
        verifier.verify_customer(issued.token, audience=AUDIENCE)


def test_customer_tokens_carry_their_kind(keyring: keys.KeyRing, clock: Clock) -> None:
    issuer, verifier = pair(keyring, clock)
    claims = verifier.verify(mint(issuer).token, audience=AUDIENCE)
    assert claims["token_use"] == "customer"


def test_any_audience_is_only_for_introspection(keyring: keys.KeyRing, clock: Clock) -> None:
    issuer, verifier = pair(keyring, clock)
    issued = mint(issuer, audience="https://elsewhere.example")
    assert verifier.verify(issued.token, audience=None)["aud"] == "https://elsewhere.example"
    with pytest.raises(InvalidToken):
        verifier.verify(issued.token, audience=AUDIENCE)


def test_minting_a_client_token_of_the_customer_kind_is_a_bug(
    keyring: keys.KeyRing, clock: Clock
) -> None:
    issuer, _ = pair(keyring, clock)
    with pytest.raises(ValueError):
        issuer.mint_client(
            client_id="x",
            token_use="customer",
            audience=AUDIENCE,
            scope="",
            ttl=60,
        )


@given(
    minted=strategies.kinds,
    shop=strategies.shops,
    customer_id=strategies.customer_ids,
    client_id=strategies.client_ids,
    scope=strategies.scopes,
)
def test_a_token_of_one_kind_never_verifies_as_another(
    es256_key: keys.SigningKey,
    minted: TokenUse,
    shop: str,
    customer_id: str,
    client_id: str,
    scope: str,
) -> None:
    clock = Clock()
    issuer, verifier = pair(fresh_ring(es256_key, clock), clock)
    if minted == "customer":
        issued = mint(issuer, shop=shop, customer_id=customer_id, scope=scope)
    else:
        issued = issuer.mint_client(
            client_id=client_id, token_use=minted, audience=AUDIENCE, scope=scope, ttl=600
        )
    # RFC 8725 §3.12: the kind is read positively, and only the customer kind passes
    # as a customer token.
    assert verifier.verify(issued.token, audience=AUDIENCE)["token_use"] == minted
    if minted == "customer":
        assert verifier.verify_customer(issued.token, audience=AUDIENCE) == issued.claims
    else:
        with pytest.raises(InvalidToken):
            verifier.verify_customer(issued.token, audience=AUDIENCE)
