"""The pure DPoP checks (shapestoken_verifier.dpop): RFC 9449 §4.3, §8 and RFC 7638."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm

from issuers import API_URL, START, Clock, Key, ProofKey, encode_segments, hs256
from shapestoken_verifier.dpop import (
    NonceSource,
    Proof,
    ProofError,
    access_token_hash,
    check_proof,
    normalize_htu,
    thumbprint,
)

TOKEN = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"
NONCE_SECRET = b"n" * 32


def check(proof: str, **options: Any) -> Proof:
    values: dict[str, Any] = {
        "method": "GET",
        "url": API_URL,
        "algorithms": ["ES256"],
        "now": START,
        "access_token": TOKEN,
    }
    values.update(options)
    return check_proof(proof, **values)


def refused(proof: str, error: str = "invalid_dpop_proof", **options: Any) -> ProofError:
    with pytest.raises(ProofError) as caught:
        check(proof, **options)
    assert caught.value.error == error
    return caught.value


# -- RFC 7638 thumbprints -------------------------------------------------------------------


def test_thumbprint_of_the_rfc_7638_example() -> None:
    # RFC 7638 §3.1's RSA key and its SHA-256 thumbprint.
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
        "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGj"
        "QR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTW"
        "hAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_equals_the_token_services_kid() -> None:
    # The service names its keys by the same thumbprint; the two must never drift apart.
    from service.signing import keys

    key = keys.generate("ES256")
    assert thumbprint(key.jwk()) == key.kid


@pytest.mark.parametrize("jwk", [{"kty": "EC", "crv": "P-256", "x": "AA"}, {"kty": "XYZ"}, {}])
def test_thumbprint_refuses_incomplete_or_unknown_keys(jwk: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        thumbprint(jwk)


# -- RFC 3986 §6.2.2-6.2.3 normalisation -----------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("https://api.acme.example/v1/profile", "https://api.acme.example/v1/profile"),
        ("HTTPS://API.Acme.Example/v1/profile", "https://api.acme.example/v1/profile"),
        ("https://api.acme.example:443/v1/profile", "https://api.acme.example/v1/profile"),
        ("http://api.acme.example:80/x", "http://api.acme.example/x"),
        ("https://api.acme.example:8443/x", "https://api.acme.example:8443/x"),
        ("https://api.acme.example", "https://api.acme.example/"),
        ("https://api.acme.example/v1/profile?id=1#top", "https://api.acme.example/v1/profile"),
        ("https://api.acme.example/V1/%7Efoo", "https://api.acme.example/V1/%7Efoo"),
        ("http://[::1]:8000/x", "http://[::1]:8000/x"),
    ],
)
def test_normalize_htu(url: str, normal: str) -> None:
    assert normalize_htu(url) == normal


@pytest.mark.parametrize(
    "url",
    [
        "ftp://api.acme.example/x",
        "/v1/profile",
        "https://user:pw@api.acme.example/x",
        "https://:1/x",
    ],
)
def test_normalize_htu_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(ValueError):
        normalize_htu(url)


# -- check_proof ------------------------------------------------------------------------------


def test_a_good_proof() -> None:
    key = ProofKey()
    proof = check(key.proof(token=TOKEN, jti="one"))
    assert proof == Proof(jkt=key.jkt, jti="one", iat=START, nonce=None, htm="GET", htu=API_URL)


def test_the_url_compares_after_normalisation_and_without_query() -> None:
    proof = ProofKey().proof(url="https://API.acme.example:443/v1/profile", token=TOKEN)
    check(proof, url="https://api.acme.example/v1/profile?page=2")


def test_without_an_access_token_ath_is_not_needed() -> None:
    check(ProofKey().proof(), access_token=None)


@pytest.mark.parametrize(
    ("header", "claims", "description"),
    [
        ({"typ": "JWT"}, {}, "typ"),
        ({"typ": "at+jwt"}, {}, "typ"),
        ({}, {"jti": ""}, "jti"),
        ({}, {"jti": "j" * 257}, "jti"),
        ({}, {"jti": 7}, "jti"),
        ({}, {"htm": "POST"}, "method"),
        ({}, {"htm": "get"}, "method"),
        ({}, {"htu": "https://api.acme.example/v1/other"}, "another URL"),
        ({}, {"htu": "https://evil.example/v1/profile"}, "another URL"),
        ({}, {"htu": API_URL + "?id=1"}, "query"),
        ({}, {"htu": API_URL + "#top"}, "query or fragment"),
        ({}, {"htu": "/v1/profile"}, "htu"),
        ({}, {"iat": "now"}, "iat"),
        ({}, {"ath": access_token_hash("another token")}, "ath"),
    ],
)
def test_bad_proofs(header: dict[str, Any], claims: dict[str, Any], description: str) -> None:
    error = refused(ProofKey().proof(token=TOKEN, header=header, **claims))
    assert description in error.description


def test_a_proof_without_ath_is_refused_when_a_token_is_presented() -> None:
    refused(ProofKey().proof())


def test_jti_of_256_characters_is_the_longest() -> None:
    check(ProofKey().proof(token=TOKEN, jti="j" * 256))


def test_a_private_jwk_is_refused() -> None:
    key = Key()
    private: dict[str, str] = ECAlgorithm.to_jwk(key.private, as_dict=True)
    proof = ProofKey(key).proof(token=TOKEN, header={"jwk": private})
    assert "private" in refused(proof).description


def test_a_proof_signed_by_another_key_than_its_jwk_is_refused() -> None:
    proof = ProofKey().proof(token=TOKEN, header={"jwk": Key().public_jwk})
    assert "signature" in refused(proof).description


def test_a_key_on_another_curve_is_refused() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    jwk: dict[str, str] = ECAlgorithm.to_jwk(p384.public_key(), as_dict=True)
    claims = {"jti": "x", "htm": "GET", "htu": API_URL, "iat": int(START)}
    proof = jwt.encode(claims, p384, algorithm="ES384", headers={"typ": "dpop+jwt", "jwk": jwk})
    check(proof, access_token=None, algorithms=["ES256", "ES384"])
    # The same key claiming ES256, which is defined on P-256 only.
    relabelled = _header(alg="ES256", jwk=jwk) + proof[proof.index(".") :]
    assert "does not fit" in refused(relabelled, access_token=None).description


def _header(**header: Any) -> str:
    return encode_segments({"typ": "dpop+jwt", **header}, {}).split(".")[0]


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_alg_none_and_hmac_are_refused_even_when_listed(alg: str) -> None:
    key = Key()
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.public_jwk}
    claims = {"jti": "x", "htm": "GET", "htu": API_URL, "iat": int(START)}
    proof = encode_segments(header, claims) + "." if alg == "none" else hs256(header, claims, b"k")
    refused(proof, access_token=None, algorithms=["ES256", alg])


def test_an_algorithm_the_caller_does_not_list_is_refused() -> None:
    refused(ProofKey().proof(token=TOKEN), algorithms=["EdDSA"])


@pytest.mark.parametrize("proof", ["", "abc", "a.b", "a.b.c.d", "a.b.c", "é.b.c", "x" * 9000])
def test_what_is_not_a_compact_jws_is_refused(proof: str) -> None:
    refused(proof)


# -- freshness: the window and nonces (RFC 9449 §8) ----------------------------------------------


@pytest.mark.parametrize("offset", [-60, 60, 0])
def test_iat_within_the_window(offset: int) -> None:
    check(ProofKey().proof(token=TOKEN, now=START + offset))


@pytest.mark.parametrize("offset", [-61, 61, -3600])
def test_iat_outside_the_window_asks_for_a_nonce(offset: int) -> None:
    proof = ProofKey().proof(token=TOKEN, now=START + offset)
    refused(proof, "use_dpop_nonce", nonce_valid=NonceSource(NONCE_SECRET).valid)


def test_a_nonce_of_ours_makes_an_old_iat_fresh() -> None:
    clock = Clock()
    nonces = NonceSource(NONCE_SECRET, now=clock)
    nonce = nonces.issue()
    proof = ProofKey().proof(token=TOKEN, now=START - 3600, nonce=nonce)
    assert check(proof, nonce_valid=nonces.valid).nonce == nonce


@pytest.mark.parametrize("nonce", ["made-up", "", "A" * 32])
def test_a_nonce_not_ours_asks_for_a_nonce_again(nonce: str) -> None:
    proof = ProofKey().proof(token=TOKEN, nonce=nonce)
    refused(proof, "use_dpop_nonce", nonce_valid=NonceSource(NONCE_SECRET).valid)


def test_a_nonce_without_a_nonce_source_is_refused() -> None:
    refused(ProofKey().proof(token=TOKEN, nonce="x"), "use_dpop_nonce")


def test_nonces_live_for_their_lifetime() -> None:
    clock = Clock()
    nonces = NonceSource(NONCE_SECRET, lifetime=300, now=clock)
    nonce = nonces.issue()
    clock.advance(300)
    assert nonces.valid(nonce)
    clock.advance(1)
    assert not nonces.valid(nonce)


def test_nonces_are_shared_by_holders_of_the_secret_only() -> None:
    clock = Clock()
    nonce = NonceSource(NONCE_SECRET, now=clock).issue()
    assert NonceSource(NONCE_SECRET, now=clock).valid(nonce)
    assert not NonceSource(b"m" * 32, now=clock).valid(nonce)


def test_a_short_nonce_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        NonceSource(b"short")
    assert "secret" not in repr(NonceSource(NONCE_SECRET)).replace("secret=*", "")


# -- properties ----------------------------------------------------------------------------------

paths = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~%/", max_size=30)
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"])
jtis = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=256
)


@given(method=methods, path=paths, jti=jtis, skew=st.integers(-60, 60))
def test_a_valid_proof_always_verifies(method: str, path: str, jti: str, skew: int) -> None:
    url = f"https://api.acme.example/{path}"
    proof = ProofKey().proof(method, url, now=START + skew, token=TOKEN, jti=jti)
    assert check(proof, method=method, url=url).jti == jti


SIGNED = ProofKey().proof(token=TOKEN)


@given(data=st.data())
def test_any_changed_character_is_refused(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(SIGNED) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="
    char = data.draw(st.sampled_from(alphabet).filter(lambda c: c != SIGNED[index]))
    changed = SIGNED[:index] + char + SIGNED[index + 1 :]
    with pytest.raises(ProofError):
        check(changed)


def test_the_changed_character_property_holds_for_the_unchanged_proof() -> None:
    assert check(SIGNED).htu == API_URL
    assert json.loads(jwt.utils.base64url_decode(SIGNED.split(".")[1]))["htm"] == "GET"
