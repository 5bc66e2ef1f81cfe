"""Minting and verifying JWT access tokens (RFC 9068 profile, RFC 8725 rules).

Nothing here knows about Shopify or HTTP: an issuer takes a keyring and a clock,
and turns claims into signed tokens; a verifier takes the same keyring and
refuses anything that is not exactly a token this service minted for the
expected audience and kind.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from jwt.utils import base64url_encode, der_to_raw_signature

from service.errors import InvalidToken
from service.keys import KeyRing, SigningKey
from service.signatures import CUSTOMER_ID

#: RFC 9068 §2.1: the media type of JWT access tokens.
ACCESS_TOKEN_TYP = "at+jwt"
#: Seconds of clock skew tolerated on ``exp``/``nbf``/``iat`` when verifying.
LEEWAY = 5

_REQUIRED = ["iss", "sub", "aud", "iat", "nbf", "exp", "jti"]


class CustomerClaims(TypedDict):
    iss: str
    sub: str
    aud: str
    shop: str
    scope: str
    iat: int
    nbf: int
    exp: int
    jti: str


@dataclass(frozen=True, repr=False)
class IssuedToken:
    token: str
    claims: CustomerClaims

    @property
    def expiry(self) -> str:
        """``exp`` as ISO 8601 UTC, e.g. ``2026-11-24T10:15:00Z``."""
        return _iso8601(self.claims["exp"])

    def __repr__(self) -> str:
        return f"IssuedToken(sub={self.claims['sub']!r}, exp={self.claims['exp']})"


def new_jti() -> str:
    """128 random bits, base64url without padding (RFC 7519 §4.1.7)."""
    return base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii")


# Tokens minted within the same second share `exp`: format each value once.
@functools.lru_cache(maxsize=64)
def _iso8601(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: PyJWT's payload serialization (``json.dumps(payload, separators=(",", ":"))``),
#: built once instead of per token.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


class CompactSigner:
    """JWS Compact Serialization (RFC 7515 §7.1) with one key, prepared once.

    ``jwt.encode`` serializes the header, looks the algorithm up and checks the
    key on every call; here that happens once per key. A token then costs its
    payload's JSON, two base64url encodings and the signature. The result is
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
        self._header = base64url_encode(header.encode("utf-8")) + b"."

    def sign(self, payload: Mapping[str, Any]) -> str:
        body = _COMPACT_JSON.encode(payload).encode("utf-8")
        signing_input = self._header + base64url_encode(body)
        signature = base64url_encode(self._signature(signing_input))
        return (signing_input + b"." + signature).decode("ascii")

    def __repr__(self) -> str:
        return f"CompactSigner({self.key!r})"


class _ECDSASigner:
    """``ECAlgorithm.sign`` with its ``ECDSA(hash)`` parameter built once, not per token.

    cryptography signs measurably faster with a reused parameter object. The DER
    signature becomes JWS's fixed-size R || S (RFC 7518 §3.4) with PyJWT's own
    converter, exactly as ``ECAlgorithm.sign`` does.
    """

    __slots__ = ("_key", "_ecdsa")

    def __init__(self, key: ec.EllipticCurvePrivateKey, algorithm: ECAlgorithm) -> None:
        self._key = key
        self._ecdsa = ec.ECDSA(algorithm.hash_alg())

    def __call__(self, message: bytes) -> bytes:
        return der_to_raw_signature(self._key.sign(message, self._ecdsa), self._key.curve)


class _KeyringClient:
    def __init__(
        self, keyring: KeyRing, issuer: str, *, now: Callable[[], float] = time.time
    ) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._now = now


class TokenIssuer(_KeyringClient):
    """Signs access tokens with the keyring's active key."""

    _signer: CompactSigner | None = None

    def mint_customer(
        self, *, shop: str, customer_id: str, audience: str, scope: str, ttl: int
    ) -> IssuedToken:
        iat = int(self._now())
        claims: CustomerClaims = {
            "iss": self._issuer,
            "sub": customer_id,
            "aud": audience,
            "shop": shop,
            "scope": scope,
            "iat": iat,
            "nbf": iat,
            "exp": iat + ttl,
            "jti": new_jti(),
        }
        return IssuedToken(self._sign(claims), claims)

    def _sign(self, payload: Mapping[str, Any]) -> str:
        key = self._keyring.active
        signer = self._signer
        if signer is None or signer.key is not key:
            # Prepared once per active key: header, algorithm, parsed key.
            signer = CompactSigner(key, {"typ": ACCESS_TOKEN_TYP, "kid": key.kid})
            self._signer = signer
        return signer.sign(payload)


class TokenVerifier(_KeyringClient):
    """Verifies tokens offline, exactly as a downstream API should."""

    def verify_customer(self, token: str, *, audience: str) -> CustomerClaims:
        """Return the claims of a valid customer token, else raise :class:`InvalidToken`."""
        claims = self._verify(token, audience=audience)
        # RFC 8725 §3.12: a token of another kind must not pass as a customer token.
        sub, shop = claims.get("sub"), claims.get("shop")
        if not (isinstance(sub, str) and CUSTOMER_ID.fullmatch(sub) and isinstance(shop, str)):
            raise InvalidToken("The token is not a customer token.")
        if "client_id" in claims or not isinstance(claims.get("scope"), str):
            raise InvalidToken("The token is not a customer token.")
        return claims  # type: ignore[return-value]

    def _verify(self, token: str, *, audience: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise InvalidToken("The token is malformed.") from exc
        # RFC 8725 §3.11 / RFC 9068 §4: check the explicit type.
        if str(header.get("typ", "")).lower() not in (ACCESS_TOKEN_TYP, "application/at+jwt"):
            raise InvalidToken("The token is not a JWT access token.")
        kid = header.get("kid")
        key = self._keyring.find(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("The token was not signed by a current key.")
        try:
            # RFC 8725 §3.1: the algorithm is pinned to the key, never taken from the token.
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public_key,
                algorithms=[key.alg],
                audience=audience,
                issuer=self._issuer,
                options={
                    "require": _REQUIRED,
                    # Time is checked below against the injected clock.
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise InvalidToken() from exc
        now = self._now()
        exp, nbf, iat = claims["exp"], claims["nbf"], claims["iat"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (exp, nbf, iat)):
            raise InvalidToken("The token's times are not integers.")
        if now >= exp + LEEWAY:
            raise InvalidToken("The token has expired.")
        if now + LEEWAY < nbf or now + LEEWAY < iat:
            raise InvalidToken("The token is not valid yet.")
        return claims
