"""The token endpoint's grants (RFC 6749 §4.4, §5): who gets which token.

Two grants: ``client_credentials`` (RFC 6749 §4.4) for confidential clients,
and ``implicit``, the read-only token of a public browser app (Elastic Path's
"implicit" tokens: ``client_id`` alone at the token endpoint). The ``password``
grant is refused by name: RFC 9700 §2.4 says it MUST NOT be used.

The checks run in this order, so each error means one thing: the request's
shape (``invalid_request``, ``unsupported_grant_type``), the client
(``invalid_client``), what it may do (``unauthorized_client``, then the
browser origin), what it asks for (``invalid_scope``, ``invalid_target``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from service.config import ClientConfig
from service.config.clients import GRANT_TYPES
from service.errors import InvalidRequest, OriginNotAllowed
from service.oauth.credentials import presented_credentials
from service.oauth.errors import UnauthorizedClient, UnsupportedGrantType
from service.oauth.registry import ClientRegistry
from service.oauth.scopes import select_audience, select_scope
from service.signing.dpop import DPoP, Proof
from service.signing.tokens import IssuedToken, TokenIssuer, TokenUse
from service.state import Checks


@dataclass(frozen=True)
class TokenGrant:
    """A token request that passed every check: what to mint, for whom."""

    client: ClientConfig
    grant_type: TokenUse
    scope: str
    audience: str

    def checks(self, ip: str, *, dpop: Proof | None = None) -> Checks:
        """The limits to pass before minting, in one state call (RFC 6749 §10.10),
        and the one use of a ``dpop`` proof (RFC 9449 §11.1)."""
        return Checks(
            limits=(("per_ip", ip), ("per_client", client_key(self.client, ip))),
            first_use=None if dpop is None else DPoP.replay_mark(dpop),
        )


def client_key(client: ClientConfig, ip: str) -> str:
    """The ``per_client`` key of a token request from ``ip``.

    A confidential client authenticated, so its budget is its own: one key. A
    public client proves nothing (anyone may send its id), so one key would let
    a single address spend every guest's budget; its count is kept per
    (client, address) instead, and ``per_ip`` still bounds the address. Client
    ids hold no ``/`` and addresses come from the ASGI scope, so the key is as
    bounded as the ``per_ip`` one (and expires as soon: a GCRA key lasts at
    most one period).
    """
    return client.client_id if client.confidential else f"{client.client_id}/{ip}"


class TokenGrants:
    def __init__(self, registry: ClientRegistry, issuer: TokenIssuer) -> None:
        self.registry = registry
        self._issuer = issuer

    def grant(
        self, authorization: str | None, params: Mapping[str, str], *, origin: str | None
    ) -> TokenGrant:
        """Check a token request (its Authorization header, parameters and ``Origin``)."""
        grant_type = params.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("Missing grant_type (client_credentials or implicit).")
        if grant_type == "password":
            raise UnsupportedGrantType(
                "The password grant is not supported (RFC 9700 §2.4: it MUST NOT be used). "
                "A backend uses grant_type=client_credentials with its client id and secret."
            )
        if grant_type not in GRANT_TYPES:
            raise UnsupportedGrantType()
        presented = presented_credentials(authorization, params)
        client = self.registry.authenticate(presented)
        if grant_type not in client.grant_types:
            raise UnauthorizedClient(f"This client may not use the {grant_type} grant.")
        if grant_type == "implicit" and origin is not None and origin not in client.allowed_origins:
            # A browser page outside the client's origins (403 before any token is minted).
            raise OriginNotAllowed("This origin may not request tokens for this client.")
        return TokenGrant(
            client=client,
            grant_type=cast(TokenUse, grant_type),
            scope=select_scope(params.get("scope"), client.scopes),
            audience=select_audience(
                params.get("audience"), params.get("resource"), client.audiences
            ),
        )

    def mint(self, grant: TokenGrant, *, jkt: str | None = None) -> IssuedToken:
        """The grant's token; with ``jkt`` (a DPoP proof's key), bound to that key."""
        return self._issuer.mint_client(
            client_id=grant.client.client_id,
            token_use=grant.grant_type,
            audience=grant.audience,
            scope=grant.scope,
            ttl=grant.client.token_ttl,
            jkt=jkt,
        )
