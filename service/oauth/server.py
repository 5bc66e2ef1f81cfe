"""The OAuth 2.0 server's rules in one place, for the HTTP layer to call.

:class:`OAuthServer` ties the client registry to the token endpoint's grants,
introspection (RFC 7662), revocation (RFC 7009) and the RFC 8414 metadata. It
takes parameters already read from a request and answers with values or
:class:`~service.errors.ServiceError`; it never sees HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from service.config import ClientConfig
from service.errors import InvalidRequest
from service.oauth.credentials import presented_credentials
from service.oauth.errors import AccessDenied
from service.oauth.grants import TokenGrants
from service.oauth.introspection import Introspector, TokenLookup
from service.oauth.metadata import authorization_server_metadata
from service.oauth.registry import ClientRegistry
from service.oauth.revocation import Revoker
from service.signing.tokens import TokenIssuer, TokenVerifier
from service.state import State


class OAuthServer:
    def __init__(
        self,
        clients: Mapping[str, ClientConfig],
        *,
        issuer_url: str,
        issuer: TokenIssuer,
        verifier: TokenVerifier,
        state: State,
        lookups: Mapping[str, TokenLookup | None],
        now: Callable[[], float] = time.time,
    ) -> None:
        self.registry = ClientRegistry(clients, now=now)
        self.grants = TokenGrants(self.registry, issuer)
        self.introspector = Introspector(
            verifier, state, lookups, now=now, client_allowed=self.registry.token_allowed
        )
        self.revoker = Revoker(self.introspector, state)
        self._issuer_url = issuer_url
        self._metadata = authorization_server_metadata(issuer_url, self.registry)
        self._metadata_generation = self.registry.generation

    @property
    def metadata(self) -> dict[str, object]:
        """RFC 8414 metadata; ``scopes_supported`` follows the runtime clients too."""
        if self._metadata_generation != self.registry.generation:
            self._metadata = authorization_server_metadata(self._issuer_url, self.registry)
            self._metadata_generation = self.registry.generation
        return self._metadata

    def caller(
        self, authorization: str | None, params: Mapping[str, str], *, public: bool = False
    ) -> ClientConfig:
        """The client calling introspection or revocation.

        Introspection needs a confidential client (RFC 7662 §2.1). Revocation also
        takes a public client by its ``client_id`` alone (``public=True``, RFC 7009
        §2.1), which may then end only the implicit tokens issued to it.
        """
        presented = presented_credentials(authorization, params)
        return self.registry.authenticate(presented, confidential=not public)

    async def introspect(
        self, caller: ClientConfig, params: Mapping[str, str]
    ) -> dict[str, object]:
        """RFC 7662 §2.2 answer for ``params["token"]``; ``token_type_hint`` is only a hint."""
        if not caller.introspect:
            raise AccessDenied("This client may not introspect tokens (introspect = false).")
        return await self.introspector.introspect(_token(params))

    async def revoke(self, caller: ClientConfig, params: Mapping[str, str]) -> None:
        """RFC 7009 §2.1; ``token_type_hint`` is only a hint: every kind is looked up."""
        await self.revoker.revoke(caller, _token(params))


def _token(params: Mapping[str, str]) -> str:
    token = params.get("token")
    if token is None:
        raise InvalidRequest("Missing token.")
    return token
