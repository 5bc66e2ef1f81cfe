"""Token revocation (RFC 7009): a client ends a token early.

A confidential client, authenticated, revokes the tokens issued to it (their
``client_id`` is its own, RFC 7009 §2.1). A client trusted with introspection
(an API that checks tokens) may also revoke customer tokens, to end a
customer's session. A public client proves nothing but its ``client_id``
(RFC 7009 §2.1 allows that for a public client), so it may end only the
implicit tokens issued to it: a guest's sign-out, where holding the token is
the proof. A token that is invalid, expired or not this service's is no error:
the answer is the same 200 (RFC 7009 §2.2), and nothing is recorded. A valid
token of someone else is refused with ``invalid_grant`` (RFC 6749 §5.2:
"issued to another client"). The revocation lasts as long as any verifier
here could still accept the token (its ``exp`` plus the verifiers' leeway),
then is forgotten.

Admin-made ``stk_`` API tokens are not issued to any OAuth client, so no
client may end one here: the answer is the same 200 and nothing changes (they
are revoked from the dashboard or with ``shapestoken tokens revoke``).
"""

from __future__ import annotations

from service.config import ClientConfig
from service.oauth.errors import InvalidGrant
from service.oauth.introspection import API_TOKEN_PREFIX, Introspector
from service.signing.tokens import CLIENT_KINDS, Claims
from service.state import State


def may_revoke(client: ClientConfig, claims: Claims) -> bool:
    """Whether ``client`` may end the token with ``claims``."""
    if not client.confidential:
        # Anyone can send a public client's id: it ends its own guest tokens only.
        return claims["token_use"] == "implicit" and claims["client_id"] == client.client_id
    if claims["token_use"] in CLIENT_KINDS:
        return claims["client_id"] == client.client_id
    return claims["token_use"] == "customer" and client.introspect


class Revoker:
    def __init__(self, introspector: Introspector, state: State) -> None:
        self._introspector = introspector
        self._state = state

    async def revoke(self, client: ClientConfig, token: str) -> None:
        """Revoke ``token`` for ``client`` (one state call when there is anything to record)."""
        if token.startswith(API_TOKEN_PREFIX):
            # No API token is issued to an OAuth client, so none is a client's to end.
            # The answer is §2.2's 200 with no lookup: `invalid_grant` for the real ones
            # would tell any client which stk_ tokens exist.
            return
        # Past `exp` but within the verifiers' leeway a token is still accepted
        # (by /v1/me), so it can still be revoked.
        claims = self._introspector.verify(token, leeway=True)
        if claims is None:
            return  # RFC 7009 §2.2: an invalid token is not an error
        if not may_revoke(client, claims):
            raise InvalidGrant()
        await self._state.revoke(claims["jti"], claims["exp"])
