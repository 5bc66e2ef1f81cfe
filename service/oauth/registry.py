"""The client registry: who a request's credentials prove it is (RFC 6749 §2.3).

A secret is never stored: the configuration keeps SHA-256 digests and a
presented secret is hashed and compared with ``hmac.compare_digest`` against
every digest of its client, padded to the same count for all clients. An
unknown client is compared against random digests, so a request costs the same
whether or not the client exists, and timing tells neither which hash matched
nor whether the id was right. Nor does the answer: every refusal is the one
:class:`~service.oauth.errors.InvalidClient`, so client ids cannot be enumerated.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from service.config import ClientConfig
from service.oauth.credentials import Presented
from service.oauth.errors import InvalidClient


def hash_secret(secret: bytes) -> str:
    """The ``sha256:<hex>`` form the configuration keeps of a client secret."""
    return "sha256:" + hashlib.sha256(secret).hexdigest()


class ClientRegistry:
    """The configured clients, and authentication against them."""

    def __init__(self, clients: Mapping[str, ClientConfig]) -> None:
        self.clients = dict(clients)
        width = max((len(client.secret_hashes) for client in self.clients.values()), default=1)
        # Random digests no secret hashes to: compared in place of missing ones.
        self._padding = tuple(os.urandom(32) for _ in range(max(width, 1)))

    def authenticate(self, presented: Presented, *, confidential: bool = False) -> ClientConfig:
        """The client that ``presented`` proves, else :class:`InvalidClient`.

        ``confidential=True`` refuses public clients (introspection: RFC 7662 §2.1
        wants the caller authenticated, and a public client proves nothing). Every
        refusal is the same :class:`InvalidClient`, so no answer tells an unknown
        id from a confidential one sent without its secret, or from a public one.
        """
        if presented.method == "none":
            client = self.clients.get(presented.client_id)
            if client is None or client.confidential or confidential:
                raise InvalidClient()
            return client
        found: ClientConfig | None = None
        for client_id, secret in presented.candidates:
            assert secret is not None
            client = self.clients.get(client_id)
            # A public client has no hashes: its padding never matches, so a secret
            # sent for it fails like a wrong one, at the same cost.
            if self._matches(client, secret) and found is None:
                assert client is not None
                found = client
        if found is None:
            raise InvalidClient(basic=presented.basic)
        return found

    def _matches(self, client: ClientConfig | None, secret: bytes) -> bool:
        digest = hashlib.sha256(secret).digest()
        hashes = client.secret_hashes if client is not None else ()
        matched = False
        # Every digest is compared (no early exit): timing does not depend on
        # which one matched, or on the client (all are padded to one width).
        for expected in (*hashes, *self._padding[len(hashes) :]):
            matched |= hmac.compare_digest(digest, expected)
        return matched and client is not None

    def public_origins(self) -> frozenset[str]:
        """Every public client's ``allowed_origins``: who may read the token endpoint's answers."""
        return frozenset(
            origin
            for client in self.clients.values()
            if not client.confidential
            for origin in client.allowed_origins
        )

    def scopes(self) -> list[str]:
        """Every configured scope, sorted (RFC 8414 ``scopes_supported``)."""
        return sorted({scope for client in self.clients.values() for scope in client.scopes})

    def __repr__(self) -> str:
        return f"ClientRegistry({sorted(self.clients)})"
