"""DPoP (RFC 9449) for the tests: a client's key pair that signs proofs, made with PyJWT."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from shapestoken_verifier.dpop import access_token_hash, thumbprint

from tests.conftest import ISSUER, SHOP

TOKEN_URL = f"{ISSUER}/v1/shops/{SHOP}/customer-token"
OAUTH_URL = f"{ISSUER}/oauth/token"
ME_URL = f"{ISSUER}/v1/me"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode_segments(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """The signing input of a JWS: base64url(header) . base64url(claims)."""
    parts = [json.dumps(part, separators=(",", ":")).encode() for part in (header, claims)]
    return ".".join(b64url(part) for part in parts)


@dataclass
class ProofKey:
    """A client's ES256 DPoP key: it signs proofs (RFC 9449 §4.2)."""

    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()), repr=False
    )

    @property
    def public_jwk(self) -> dict[str, str]:
        jwk: dict[str, str] = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {name: jwk[name] for name in ("kty", "crv", "x", "y")}

    @property
    def private_jwk(self) -> dict[str, str]:
        jwk: dict[str, str] = ECAlgorithm.to_jwk(self.private, as_dict=True)
        return jwk

    @property
    def jkt(self) -> str:
        return thumbprint(self.public_jwk)

    def claims(
        self, method: str, url: str, *, now: float, token: str | None, **claims: Any
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": int(now),
        }
        if token is not None:
            values["ath"] = access_token_hash(token)
        values.update(claims)
        # A claim given as None is left out.
        return {name: value for name, value in values.items() if value is not None}

    def proof(
        self,
        method: str = "POST",
        url: str = TOKEN_URL,
        *,
        now: float,
        token: str | None = None,
        header: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A proof for ``method`` and ``url`` at ``now``; ``token`` adds its ``ath``."""
        values = self.claims(method, url, now=now, token=token, **claims)
        headers = {"typ": "dpop+jwt", "jwk": self.public_jwk, **(header or {})}
        return jwt.encode(values, self.private, algorithm="ES256", headers=headers)

    def unsigned(self, method: str = "POST", url: str = TOKEN_URL, *, now: float) -> str:
        """``alg: none`` (RFC 9449 §4.2 forbids it)."""
        header = {"typ": "dpop+jwt", "alg": "none", "jwk": self.public_jwk}
        return encode_segments(header, self.claims(method, url, now=now, token=None)) + "."

    def hs256(self, method: str = "POST", url: str = TOKEN_URL, *, now: float) -> str:
        """A MAC instead of a signature (RFC 9449 §4.2 forbids it)."""
        header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": self.public_jwk}
        signing_input = encode_segments(header, self.claims(method, url, now=now, token=None))
        mac = hmac.new(b"k" * 32, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(mac)}"
