"""Minting and verifying JWT access tokens (RFC 9068 profile, RFC 8725 rules).

Nothing here knows about Shopify or HTTP: an issuer takes a keyring and a clock,
and turns claims into signed tokens; a verifier takes the same keyring and
refuses anything that is not exactly a token this service minted for the
expected audience and kind.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict, cast

import jwt

from service.config.clients import GRANT_TYPES
from service.config.values import CUSTOMER_ID
from service.errors import InvalidToken
from service.signing.jws import CompactSigner, base64url
from service.signing.keys import KeyRing
from service.support.clock import LEEWAY, iso8601

#: RFC 9068 §2.1: the media type of JWT access tokens.
ACCESS_TOKEN_TYP = "at+jwt"

_REQUIRED = ["iss", "sub", "aud", "iat", "nbf", "exp", "jti", "client_id", "token_use", "scope"]

#: The kinds of token, in the ``token_use`` claim (and the token response's ``identifier``).
TokenUse = Literal["customer", "client_credentials", "implicit"]
CLIENT_KINDS: frozenset[str] = frozenset(GRANT_TYPES)


#: RFC 7638 SHA-256 thumbprint, base64url without padding: 43 characters.
JKT = re.compile(r"[A-Za-z0-9_-]{43}", re.ASCII)


class Confirmation(TypedDict):
    """RFC 9449 §6.1: the key a DPoP-bound token is bound to."""

    jkt: str


class Claims(TypedDict):
    """What every token carries (RFC 9068 §2.2 plus ``token_use``); ``cnf`` when bound."""

    iss: str
    sub: str
    aud: str
    client_id: str
    token_use: TokenUse
    scope: str
    iat: int
    nbf: int
    exp: int
    jti: str
    cnf: NotRequired[Confirmation]


class CustomerClaims(Claims):
    """A Shopify customer's token: ``sub`` is the customer id, ``client_id`` the shop."""

    shop: str


@dataclass(frozen=True, repr=False)
class IssuedToken:
    token: str
    claims: Claims

    @property
    def expiry(self) -> str:
        """``exp`` as ISO 8601 UTC, e.g. ``2026-11-24T10:15:00Z``."""
        return iso8601(self.claims["exp"])

    def __repr__(self) -> str:
        return f"IssuedToken(sub={self.claims['sub']!r}, exp={self.claims['exp']})"


def new_jti() -> str:
    """128 random bits, base64url without padding (RFC 7519 §4.1.7)."""
    return base64url(os.urandom(16)).decode("ascii")


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
        self,
        *,
        shop: str,
        customer_id: str,
        audience: str,
        scope: str,
        ttl: int,
        jkt: str | None = None,
    ) -> IssuedToken:
        """A customer's token; with ``jkt``, bound to that DPoP key (RFC 9449 §6.1)."""
        iat = int(self._now())
        claims: CustomerClaims = {
            "iss": self._issuer,
            "sub": customer_id,
            "aud": audience,
            "client_id": shop,
            "token_use": "customer",
            "shop": shop,
            "scope": scope,
            "iat": iat,
            "nbf": iat,
            "exp": iat + ttl,
            "jti": new_jti(),
        }
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        return IssuedToken(self._sign(claims), claims)

    def mint_client(
        self,
        *,
        client_id: str,
        token_use: TokenUse,
        audience: str,
        scope: str,
        ttl: int,
        jkt: str | None = None,
    ) -> IssuedToken:
        """A token for an OAuth client itself: ``sub`` is ``client_id``, no ``shop``;
        with ``jkt``, bound to that DPoP key."""
        if token_use not in CLIENT_KINDS:
            raise ValueError(f"not a client token kind: {token_use!r}")
        iat = int(self._now())
        claims: Claims = {
            "iss": self._issuer,
            "sub": client_id,
            "aud": audience,
            "client_id": client_id,
            "token_use": token_use,
            "scope": scope,
            "iat": iat,
            "nbf": iat,
            "exp": iat + ttl,
            "jti": new_jti(),
        }
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
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

    def verify(self, token: str, *, audience: str | None) -> Claims:
        """The claims of a valid token of any kind; ``audience=None`` accepts any audience.

        Only this service's own introspection passes ``None``: it answers for
        every token it issued, whoever the token is for.
        """
        claims = self._verify(token, audience=audience)
        _check_kind(claims)
        return cast(Claims, claims)

    def verify_customer(self, token: str, *, audience: str) -> CustomerClaims:
        """The claims of a valid customer token, else :class:`InvalidToken`."""
        claims = self.verify(token, audience=audience)
        # RFC 8725 §3.12: the kind is checked positively, never by a missing claim.
        if claims["token_use"] != "customer":
            raise InvalidToken("The token is not a customer token.")
        return cast(CustomerClaims, claims)

    def _verify(self, token: str, *, audience: str | None) -> dict[str, Any]:
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
                    "verify_aud": audience is not None,
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
        if not isinstance(claims["aud"], str):
            # We only ever mint one audience; a list is not ours.
            raise InvalidToken("The token's audience is not a single string.")
        return claims


def _check_kind(claims: Mapping[str, Any]) -> None:
    """Each kind's claims are exactly consistent with it, or the token is refused."""
    kind, sub, client_id = claims["token_use"], claims["sub"], claims["client_id"]
    if not isinstance(claims["scope"], str) or not isinstance(client_id, str):
        raise InvalidToken("The token's claims are malformed.")
    if kind == "customer":
        shop = claims.get("shop")
        if not (isinstance(sub, str) and CUSTOMER_ID.fullmatch(sub) and client_id == shop):
            raise InvalidToken("The token's claims do not match its kind.")
    elif kind in CLIENT_KINDS:
        if sub != client_id or "shop" in claims:
            raise InvalidToken("The token's claims do not match its kind.")
    else:
        raise InvalidToken("The token is of an unknown kind.")
    # RFC 9449 §6.1: a bound token names exactly its key's thumbprint.
    if "cnf" in claims:
        cnf = claims["cnf"]
        if not (isinstance(cnf, dict) and cnf.keys() == {"jkt"} and _is_jkt(cnf["jkt"])):
            raise InvalidToken("The token's cnf claim is malformed.")


def _is_jkt(value: object) -> bool:
    return isinstance(value, str) and JKT.fullmatch(value) is not None


def bound_key(claims: Claims) -> str | None:
    """The thumbprint a DPoP-bound token is bound to, else ``None`` (a bearer token)."""
    cnf = claims.get("cnf")
    return None if cnf is None else cnf["jkt"]
