"""Token introspection (RFC 7662): is this token active, and what does it carry?

Any token this service issued is answered for: customer, client-credentials and
implicit JWTs, verified offline and then checked against the shared state
(revocations, customer blocks), and tokens of other sources recognised by a
prefix (admin-made ``stk_`` API tokens, looked up in a database when one is
configured). Everything else is exactly ``{"active": false}`` (RFC 7662 §2.2):
expired, revoked, another issuer's, tampered, unknown, garbage. The answer
never says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol

from service.errors import InvalidToken
from service.signing.tokens import CLIENT_KINDS, Claims, TokenVerifier
from service.state import State
from service.store.stk import PREFIX

#: Admin-made API tokens start with this (docs/guides/backends.md, "API tokens").
API_TOKEN_PREFIX = PREFIX


class TokenLookup(Protocol):
    """Another source of tokens, answering for the tokens that start with its prefix."""

    async def introspect(self, token: str) -> Mapping[str, object] | None:
        """RFC 7662 §2.2 members of an active token (without ``active``), else ``None``."""
        ...


def inactive() -> dict[str, object]:
    """RFC 7662 §2.2: an inactive token's answer carries nothing else."""
    return {"active": False}


class Introspector:
    """Answers RFC 7662 for every kind of token; see the module docstring."""

    def __init__(
        self,
        verifier: TokenVerifier,
        state: State,
        lookups: Mapping[str, TokenLookup | None],
        *,
        now: Callable[[], float] = time.time,
        client_allowed: Callable[[str, int], bool] | None = None,
    ) -> None:
        #: Whether a client token's client still stands (not disabled or deleted since).
        self._client_allowed = client_allowed
        # A prefix with no lookup (no database) is known but off: its tokens are inactive.
        self._lookups = dict(lookups)
        self._verifier = verifier
        self._state = state
        self._now = now

    async def introspect(self, token: str) -> dict[str, object]:
        for prefix, lookup in self._lookups.items():
            if token.startswith(prefix):
                found = None if lookup is None else await lookup.introspect(token)
                return inactive() if found is None else {**found, "active": True}
        claims = self.verify(token)
        if claims is None or not await self.active(claims):
            return inactive()
        return describe(claims)

    def verify(self, token: str, *, leeway: bool = False) -> Claims | None:
        """The claims of a token this service issued that is valid now, else ``None``.

        ``leeway=True``: valid as the service's own resource (``/v1/me``) takes
        it, which allows downstream clock skew past ``exp``.
        """
        try:
            claims = self._verifier.verify(token, audience=None)
        except InvalidToken:
            return None
        # The issuer itself knows the exact time, so at introspection an expired
        # token is inactive at once.
        return claims if leeway or self._now() < claims["exp"] else None

    async def active(self, claims: Claims) -> bool:
        """Not revoked, not a blocked customer's, not a disabled client's (one state call)."""
        if (
            self._client_allowed is not None
            and claims["token_use"] in CLIENT_KINDS
            and not self._client_allowed(claims["client_id"], claims["iat"])
        ):
            return False
        customer = None
        if claims["token_use"] == "customer":
            customer = (claims["client_id"], claims["sub"])
        return await self._state.token_active(
            claims["jti"], issued_at=claims["iat"], customer=customer
        )


def describe(claims: Claims) -> dict[str, object]:
    """RFC 7662 §2.2 members of an active JWT: its claims plus ``token_type``."""
    answer: dict[str, object] = {
        "active": True,
        "scope": claims["scope"],
        "client_id": claims["client_id"],
        "sub": claims["sub"],
        "aud": claims["aud"],
        "iss": claims["iss"],
        "exp": claims["exp"],
        "iat": claims["iat"],
        "nbf": claims["nbf"],
        "jti": claims["jti"],
        "token_type": "Bearer",
        # The kind, so an API that introspects checks it positively (RFC 8725 §3.12).
        "token_use": claims["token_use"],
    }
    if claims["token_use"] == "customer":
        answer["shop"] = claims["client_id"]
    if "cnf" in claims:
        # RFC 9449 §6.2: a bound token's key, and its scheme.
        answer["cnf"] = dict(claims["cnf"])
        answer["token_type"] = "DPoP"
    return answer
