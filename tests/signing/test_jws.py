"""The mint's JWS signer: what PyJWT writes, byte for byte, with its work done once per key."""

from __future__ import annotations

import json

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.signing import keys
from service.signing.jws import CompactSigner, _ECDSASigner, base64url, compact_json
from service.signing.tokens import ACCESS_TOKEN_TYP

CLAIM_VALUES = st.one_of(
    st.text(), st.integers(), st.booleans(), st.none(), st.lists(st.text(), max_size=3)
)


@given(st.dictionaries(st.text(), CLAIM_VALUES, max_size=12))
def test_payload_json_is_pyjwts_byte_for_byte(payload: dict[str, object]) -> None:
    # Control characters, non-ASCII, lone surrogates, integers past 64 bits: whatever
    # writes it, the bytes are those of PyJWT's json.dumps(separators=(",", ":")).
    expected = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    assert compact_json(payload) == expected


@given(st.binary(max_size=200))
def test_base64url_is_pyjwts(data: bytes) -> None:
    assert base64url(data) == jwt.utils.base64url_encode(data)


@settings(max_examples=50)
@given(message=st.binary(max_size=300))
def test_es256_signatures_are_pyjwts_r_and_s(es256_key: keys.SigningKey, message: bytes) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    algorithm = ECAlgorithm(ECAlgorithm.SHA256)
    private_key = es256_key.private_key
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    raw = _ECDSASigner(private_key, algorithm)(message)
    # RFC 7518 §3.4: 64 bytes, R then S, each left-padded; what PyJWT itself verifies.
    assert len(raw) == 64
    assert algorithm.verify(message, private_key.public_key(), raw)


def test_an_eddsa_token_is_pyjwts_byte_for_byte() -> None:
    # Ed25519 signatures are deterministic, so the whole token compares equal.
    key = keys.generate("EdDSA")
    headers = {"typ": ACCESS_TOKEN_TYP, "kid": key.kid}
    payload = {"sub": "42", "aud": "https://api.example", "exp": 1_800_000_000, "é": "ü"}
    expected = jwt.encode(payload, key.private_key, algorithm="EdDSA", headers=headers)
    assert CompactSigner(key, headers).sign(payload) == expected


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_a_randomized_signature_verifies_as_pyjwts_would(alg: str) -> None:
    key = keys.generate(alg)
    headers = {"typ": ACCESS_TOKEN_TYP, "kid": key.kid}
    token = CompactSigner(key, headers).sign({"sub": "42"})
    reference = jwt.encode({"sub": "42"}, key.private_key, algorithm=alg, headers=headers)
    # Header and payload are PyJWT's; the signature verifies with PyJWT.
    assert token.rsplit(".", 1)[0] == reference.rsplit(".", 1)[0]
    assert jwt.decode(token, key.public_key, algorithms=[alg]) == {"sub": "42"}
