"""Minting and verifying JWT access tokens (RFC 9068 profile, RFC 8725 rules).

Nothing here knows about Shopify or HTTP: an issuer takes a keyring and a clock,
and turns claims into signed tokens; a verifier takes the same keyring and
refuses anything that is not exactly a token this service minted for the
expected audience and kind.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

import jwt

from service.errors import InvalidToken
from service.keys import KeyRing
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
        return datetime.fromtimestamp(self.claims["exp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def __repr__(self) -> str:
        return f"IssuedToken(sub={self.claims['sub']!r}, exp={self.claims['exp']})"


def new_jti() -> str:
    """128 random bits, base64url without padding (RFC 7519 §4.1.7)."""
    return base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii")


class TokenIssuer:
    """Signs access tokens with the keyring's active key."""

    def __init__(
        self, keyring: KeyRing, issuer: str, *, now: Callable[[], float] = time.time
    ) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._now = now

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
        return IssuedToken(self._sign(dict(claims)), claims)

    def _sign(self, payload: dict[str, Any]) -> str:
        key = self._keyring.active
        return jwt.encode(
            payload,
            key.private_key,
            algorithm=key.alg,
            headers={"typ": ACCESS_TOKEN_TYP, "kid": key.kid},
        )


class TokenVerifier:
    """Verifies tokens offline, exactly as a downstream API should."""

    def __init__(
        self, keyring: KeyRing, issuer: str, *, now: Callable[[], float] = time.time
    ) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._now = now

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
