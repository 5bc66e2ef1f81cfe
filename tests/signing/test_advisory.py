"""One test per security rule (RFC 8725 and known JWT library advisories)."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from service.errors import InvalidToken
from service.signing import keys
from service.signing.tokens import TokenIssuer, TokenVerifier
from tests.conftest import AUDIENCE, ISSUER, Clock


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(clock: Clock, **overrides: Any) -> dict[str, Any]:
    now = int(clock())
    values: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "42",
        "aud": AUDIENCE,
        "client_id": "acme.myshopify.com",
        "token_use": "customer",
        "shop": "acme.myshopify.com",
        "scope": "customer",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "x" * 22,
    }
    values.update(overrides)
    return values


def verifier(keyring: keys.KeyRing, clock: Clock) -> TokenVerifier:
    return TokenVerifier(keyring, ISSUER, now=clock)


def forge(key: keys.SigningKey, payload: dict[str, Any], **header: Any) -> str:
    headers = {"typ": "at+jwt", "kid": key.kid}
    headers.update(header)
    return jwt.encode(payload, key.private_key, algorithm=key.alg, headers=headers)


def test_the_forged_baseline_is_a_valid_customer_token(keyring: keys.KeyRing, clock: Clock) -> None:
    # Control: every test below changes exactly one thing of this token.
    token = forge(keyring.active, claims(clock))
    assert verifier(keyring, clock).verify_customer(token, audience=AUDIENCE)["sub"] == "42"


def test_alg_none_is_refused(keyring: keys.KeyRing, clock: Clock) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": keyring.active.kid}
    token = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims(clock)).encode())}."
    with pytest.raises(InvalidToken):
        verifier(keyring, clock).verify_customer(token, audience=AUDIENCE)


def test_hs256_with_the_public_key_as_secret_is_refused(
    keyring: keys.KeyRing, clock: Clock
) -> None:
    # The classic algorithm-confusion attack (CVE-2022-29217 and relatives).
    pem = keyring.active.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": keyring.active.kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims(clock)).encode())}"
    import hashlib
    import hmac

    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(signature)}"
    with pytest.raises(InvalidToken):
        verifier(keyring, clock).verify_customer(token, audience=AUDIENCE)


def test_a_key_claiming_a_published_kid_is_refused(keyring: keys.KeyRing, clock: Clock) -> None:
    impostor = keys.generate("ES256")
    token = forge(impostor, claims(clock), kid=keyring.active.kid)
    with pytest.raises(InvalidToken):
        verifier(keyring, clock).verify_customer(token, audience=AUDIENCE)


def test_an_unknown_kid_is_refused(keyring: keys.KeyRing, clock: Clock) -> None:
    token = forge(keyring.active, claims(clock), kid="not-a-key")
    with pytest.raises(InvalidToken, match="current key"):
        verifier(keyring, clock).verify_customer(token, audience=AUDIENCE)


def test_a_missing_kid_is_refused(keyring: keys.KeyRing, clock: Clock) -> None:
    token = jwt.encode(claims(clock), keyring.active.private_key, "ES256", {"typ": "at+jwt"})
    with pytest.raises(InvalidToken):
        verifier(keyring, clock).verify_customer(token, audience=AUDIENCE)


@pytest.mark.parametrize("typ", [None, "JWT", "id+jwt", "logout+jwt"])
def test_an_explicit_at_jwt_type_is_required(
    keyring: keys.KeyRing, clock: Clock, typ: str | None
) -> None:
    # RFC 8725 §3.11 and RFC 9068 §4: an ID token or plain JWT is not an access token.
    header: dict[str, Any] = {"kid": keyring.active.kid}
    if typ is not None:
        header["typ"] = typ
    token = jwt.encode(claims(clock), keyring.active.private_key, "ES256", header)
    with pytest.raises(InvalidToken):
        verifier(keyring, clock).verify_customer(token, audience=AUDIENCE)


CLIENT_TOKEN = {"sub": "backend", "client_id": "backend", "shop": None}


@pytest.mark.parametrize(
    "overrides",
    [
        {**CLIENT_TOKEN, "token_use": "client_credentials"},
        {**CLIENT_TOKEN, "token_use": "implicit"},
        {"token_use": "client_credentials"},
        {"token_use": "refresh"},
        {"token_use": "Customer"},
        {"token_use": None},
        {"client_id": "backend"},
        {"shop": None},
        {"shop": "other.myshopify.com"},
        {"sub": "client:backend"},
        {"scope": None},
        {"scope": ["customer"]},
    ],
    ids=[
        "client-credentials",
        "implicit",
        "customer-claims-labelled-client",
        "unknown-kind",
        "kind-case",
        "no-kind",
        "client-id-not-the-shop",
        "no-shop",
        "shop-not-the-client-id",
        "non-customer-sub",
        "no-scope",
        "scope-list",
    ],
)
def test_tokens_of_another_kind_do_not_pass_as_customer_tokens(
    keyring: keys.KeyRing, clock: Clock, overrides: dict[str, Any]
) -> None:
    # RFC 8725 §3.12: the kind is named by `token_use` and checked positively.
    payload = {k: v for k, v in claims(clock, **overrides).items() if v is not None}
    with pytest.raises(InvalidToken):
        verifier(keyring, clock).verify_customer(forge(keyring.active, payload), audience=AUDIENCE)


@pytest.mark.parametrize(
    "overrides",
    [
        {"token_use": "client_credentials"},
        {"token_use": "implicit"},
        {**CLIENT_TOKEN, "token_use": "customer"},
        {**CLIENT_TOKEN, "token_use": "client_credentials", "shop": "acme.myshopify.com"},
        {**CLIENT_TOKEN, "token_use": "client_credentials", "sub": "other"},
    ],
    ids=[
        "customer-labelled-cc",
        "customer-labelled-implicit",
        "client-labelled-customer",
        "client-with-shop",
        "sub-not-client-id",
    ],
)
def test_tokens_of_another_kind_do_not_pass_as_client_tokens(
    keyring: keys.KeyRing, clock: Clock, overrides: dict[str, Any]
) -> None:
    payload = {k: v for k, v in claims(clock, **overrides).items() if v is not None}
    with pytest.raises(InvalidToken):
        verifier(keyring, clock).verify(forge(keyring.active, payload), audience=AUDIENCE)


def test_a_list_audience_is_refused(keyring: keys.KeyRing, clock: Clock) -> None:
    # We mint one audience; a list naming ours as well is not a token we made.
    token = forge(keyring.active, claims(clock, aud=[AUDIENCE, "https://other.example"]))
    with pytest.raises(InvalidToken):
        verifier(keyring, clock).verify(token, audience=None)


@pytest.mark.parametrize(
    "missing", ["iss", "aud", "exp", "nbf", "iat", "jti", "sub", "client_id", "token_use"]
)
def test_required_claims(keyring: keys.KeyRing, clock: Clock, missing: str) -> None:
    payload = claims(clock)
    del payload[missing]
    with pytest.raises(InvalidToken):
        verifier(keyring, clock).verify_customer(forge(keyring.active, payload), audience=AUDIENCE)


def test_a_key_retired_past_its_window_no_longer_verifies(clock: Clock) -> None:
    old = keys.generate("ES256", created=clock() - 10)
    token = TokenIssuer(keys.KeyRing([old], window=100, now=clock), ISSUER, now=clock)
    issued = token.mint_customer(
        shop="acme.myshopify.com", customer_id="1", audience=AUDIENCE, scope="c", ttl=60
    )
    new = keys.generate("ES256", created=clock())
    ring = keys.KeyRing([new, old], window=100, now=clock)
    assert verifier(ring, clock).verify_customer(issued.token, audience=AUDIENCE)["sub"] == "1"
    clock.advance(101)
    assert [key.kid for key in ring.published()] == [new.kid]
    with pytest.raises(InvalidToken):
        verifier(ring, clock).verify_customer(issued.token, audience=AUDIENCE)


def test_jwks_never_holds_private_members(keyring: keys.KeyRing) -> None:
    for alg in ("ES256", "EdDSA", "RS256"):
        ring = keys.KeyRing([keys.generate(alg)], window=100)
        for jwk in ring.jwks()["keys"]:
            assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(jwk)


def test_weak_rsa_keys_are_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from service.errors import ConfigError

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigError, match="2048"):
        keys.SigningKey.from_private_key(weak)


def test_other_ec_curves_are_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from service.errors import ConfigError

    with pytest.raises(ConfigError, match="P-256"):
        keys.SigningKey.from_private_key(ec.generate_private_key(ec.SECP384R1()))
