"""Who a verified token speaks for, and what it may do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from shapestoken_verifier.errors import insufficient_scope

Kind = Literal["customer", "client_credentials", "implicit", "api_token"]
#: Every ``token_use`` a JWT of the service carries, plus the admin-made API tokens.
KINDS: frozenset[str] = frozenset({"customer", "client_credentials", "implicit", "api_token"})


@dataclass(frozen=True)
class Principal:
    """The caller a token stands for.

    It also has the three members of Starlette's ``BaseUser`` (``is_authenticated``,
    ``display_name``, ``identity``), so it serves as ``request.user``.
    """

    kind: Kind
    subject: str
    client_id: str | None
    scopes: frozenset[str]
    #: Whether the token is bound to a DPoP key (RFC 9449 §6) and came with its proof.
    bound: bool = False
    #: ``exp`` as an aware UTC datetime; None for an API token that never expires.
    expires_at: datetime | None = None
    #: The shop's ``*.myshopify.com`` domain and the Shopify customer id (customer tokens).
    shop: str | None = None
    customer_id: str | None = None
    #: The JWT's claims, or an API token's introspection answer.
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def require(self, *scopes: str) -> None:
        """Raise a 403 ``insufficient_scope`` :class:`TokenError` unless every scope is held."""
        if not set(scopes) <= self.scopes:
            raise insufficient_scope(scopes, dpop=self.bound)

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.subject

    @property
    def identity(self) -> str:
        return self.subject
