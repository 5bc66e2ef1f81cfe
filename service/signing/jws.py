"""JWS Compact Serialization (RFC 7515 §7.1) with one key prepared once: the mint's signer.

``jwt.encode`` serializes the header, looks the algorithm up and checks the key
on every call; :class:`CompactSigner` does that once per key, so a token costs
its payload's JSON, two base64url encodings and the signature. bench/fastpaths.py
measures what that saves; tests/test_tokens.py holds it equal to PyJWT.
"""

from __future__ import annotations

import binascii
import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import ECAlgorithm

from service.signing.keys import SigningKey
from service.support import jsonio

_URLSAFE = bytes.maketrans(b"+/", b"-_")


def base64url(data: bytes) -> bytes:
    """base64url without padding (RFC 7515 §2), as PyJWT's ``base64url_encode``, in one C call."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def compact_json(payload: Mapping[str, Any]) -> bytes:
    """``payload`` exactly as PyJWT serializes it (``json.dumps`` compact, ASCII-escaped)."""
    return jsonio.dumps(payload, ascii_only=True)


class CompactSigner:
    """Signs payloads with one key, its header and algorithm prepared once.

    The result is
    byte for byte what ``jwt.encode(payload, key.private_key, algorithm=key.alg,
    headers=headers)`` returns (ECDSA signatures are randomized, so compare by
    verifying; Ed25519 ones are deterministic and compare equal).
    """

    __slots__ = ("key", "_header", "_signature")

    def __init__(self, key: SigningKey, headers: Mapping[str, str]) -> None:
        self.key = key
        algorithm = jwt.get_algorithm_by_name(key.alg)
        private_key = algorithm.prepare_key(key.private_key)
        if message := algorithm.check_key_length(private_key):
            raise ValueError(message)
        self._signature: Callable[[bytes], bytes] = functools.partial(
            algorithm.sign, key=private_key
        )
        if isinstance(algorithm, ECAlgorithm) and isinstance(
            private_key, ec.EllipticCurvePrivateKey
        ):
            self._signature = _ECDSASigner(private_key, algorithm)
        # As PyJWS.encode writes the header: compact JSON, keys sorted.
        header = json.dumps({"alg": key.alg, **headers}, separators=(",", ":"), sort_keys=True)
        self._header = base64url(header.encode("utf-8")) + b"."

    def sign(self, payload: Mapping[str, Any]) -> str:
        body = compact_json(payload)
        signing_input = self._header + base64url(body)
        signature = base64url(self._signature(signing_input))
        return (signing_input + b"." + signature).decode("ascii")

    def __repr__(self) -> str:
        return f"CompactSigner({self.key!r})"


class _ECDSASigner:
    """``ECAlgorithm.sign`` with its ``ECDSA(hash)`` parameter built once, not per token.

    cryptography signs measurably faster with a reused parameter object. The DER
    signature becomes JWS's fixed-size R || S (RFC 7518 §3.4), as PyJWT's
    ``der_to_raw_signature`` makes it, with the integers written directly.
    """

    __slots__ = ("_key", "_ecdsa", "_size")

    def __init__(self, key: ec.EllipticCurvePrivateKey, algorithm: ECAlgorithm) -> None:
        self._key = key
        self._ecdsa = ec.ECDSA(algorithm.hash_alg())
        self._size = (key.curve.key_size + 7) // 8

    def __call__(self, message: bytes) -> bytes:
        r, s = decode_dss_signature(self._key.sign(message, self._ecdsa))
        return r.to_bytes(self._size, "big") + s.to_bytes(self._size, "big")
