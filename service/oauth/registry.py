"""The client registry: who a request's credentials prove it is (RFC 6749 §2.3).

A secret is never stored: the configuration keeps SHA-256 digests and a
presented secret is hashed and compared with ``hmac.compare_digest`` against
every digest of its client, padded to the same count for all clients. An
unknown client is compared against random digests, so a request costs the same
whether or not the client exists, and timing tells neither which hash matched
nor whether the id was right. Nor does the answer: every refusal is the one
:class:`~service.oauth.errors.InvalidClient`, so client ids cannot be enumerated.

Clients come from the config and, when a database is configured, from the
admin API at runtime (:meth:`ClientRegistry.install`, called by the process's
runtime cache): the config is consulted first, and an id lives in one or the
other, never both. A disabled or deleted runtime client is refused like an
unknown one, and the tokens it was issued before are inactive.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from service.config import ClientConfig
from service.oauth.credentials import Presented
from service.oauth.errors import InvalidClient


def hash_secret(secret: bytes) -> str:
    """The ``sha256:<hex>`` form the configuration keeps of a client secret."""
    return "sha256:" + hashlib.sha256(secret).hexdigest()


#: A runtime client holds at most two hashes: its secret and, after a rotation, the one before.
RUNTIME_HASHES = 2


@dataclass(frozen=True)
class RuntimeClient:
    """A client the admin API made, as this process last read it from the database."""

    client: ClientConfig
    #: False once disabled or deleted: its requests are refused like an unknown client's.
    enabled: bool = True
    #: Unix time: the tokens it was issued up to then are inactive (a disable, a delete).
    tokens_before: float | None = None
    #: Unix time at which the second of ``client.secret_hashes`` (the previous secret) stops.
    previous_until: float | None = None


class ClientRegistry:
    """The configured clients, the runtime ones, and authentication against them."""

    def __init__(
        self, clients: Mapping[str, ClientConfig], *, now: Callable[[], float] = time.time
    ) -> None:
        self.config = dict(clients)
        #: Every client that may authenticate now: the config's, then the enabled runtime ones.
        self.clients = dict(clients)
        self._runtime: dict[str, RuntimeClient] = {}
        #: Moves with every :meth:`install`, so a cache built from the clients knows to rebuild.
        self.generation = 0
        self._now = now
        width = max((len(client.secret_hashes) for client in self.config.values()), default=1)
        # Random digests no secret hashes to: compared in place of missing ones.
        self._padding = tuple(os.urandom(32) for _ in range(max(width, RUNTIME_HASHES)))

    def install(self, runtime: Mapping[str, RuntimeClient]) -> None:
        """Replace the runtime clients (the config's win: an id is never in both)."""
        self._runtime = {cid: entry for cid, entry in runtime.items() if cid not in self.config}
        clients = dict(self.config)
        for client_id, entry in self._runtime.items():
            if entry.enabled:
                clients[client_id] = entry.client
        self.clients = clients
        self.generation += 1

    def token_allowed(self, client_id: str, issued_at: int) -> bool:
        """Whether a token issued to ``client_id`` at ``issued_at`` may still be active.

        A runtime client that is disabled or deleted ends its tokens, and
        re-enabling does not revive those issued before (``tokens_before``).
        """
        entry = self._runtime.get(client_id)
        if entry is None or client_id in self.config:
            return True
        if not entry.enabled:
            return False
        return entry.tokens_before is None or issued_at > entry.tokens_before

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
        entry = self._runtime.get(client.client_id) if client is not None else None
        if entry is not None and entry.previous_until is not None:
            if self._now() >= entry.previous_until:
                hashes = hashes[:1]  # the previous secret's time is up
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
