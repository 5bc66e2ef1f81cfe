"""``[clients."<id>"]``: the OAuth clients, confidential (with secret hashes) or public.

A confidential client holds only ``sha256:<hex>`` hashes of its secrets, several
during a rotation; a public client has none and may only use the implicit
grant. Combinations that cannot be safe stop start-up, naming the client and
the key: a public client with ``client_credentials`` or ``introspect``, a
confidential one with ``implicit`` or browser ``allowed_origins`` (its secret
must never reach a page), a client named like a shop (customer tokens carry
the shop's domain as ``client_id``) or with digits only (a customer's ``sub``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.config import values
from service.errors import ConfigError

CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{3,64}", re.ASCII)
SECRET_HASH = re.compile(r"sha256:([0-9a-f]{64})", re.ASCII)
GRANT_TYPES = ("client_credentials", "implicit")
MIN_TTL, MAX_TTL, DEFAULT_TTL = 60, 86400, 3600


@dataclass(frozen=True)
class ClientConfig:
    client_id: str = field(metadata=values.NOT_A_KEY)
    #: SHA-256 digests of the client's secrets (raw 32 bytes); empty for a public client.
    secret_hashes: tuple[bytes, ...]
    #: The most the client may ask for, in the order `*` grants them.
    scopes: tuple[str, ...]
    #: Allowed ``audience``/``resource`` values; the first is the default.
    audiences: tuple[str, ...]
    grant_types: frozenset[str]
    token_ttl: int = DEFAULT_TTL
    introspect: bool = False
    allowed_origins: frozenset[str] = frozenset()
    #: DPoP (RFC 9449) at the token endpoint: off, optional or required.
    dpop: values.DPoPMode = "off"

    @property
    def confidential(self) -> bool:
        return bool(self.secret_hashes)

    def summary(self) -> list[str]:
        """Lines for ``check-config`` (hashes are not secrets, but only their count shows)."""
        kind = f"confidential, {len(self.secret_hashes)} secret hash(es)"
        lines = [
            f"client {self.client_id}:",
            f"  type:            {kind if self.confidential else 'public'}",
            f"  grant_types:     {', '.join(sorted(self.grant_types))}",
            f"  scopes:          {' '.join(self.scopes)}",
            f"  audiences:       {', '.join(self.audiences)}",
            f"  token_ttl:       {self.token_ttl}s",
        ]
        if self.introspect:
            lines.append("  introspect:      yes")
        if self.allowed_origins:
            lines.append(f"  allowed_origins: {', '.join(sorted(self.allowed_origins))}")
        lines.append(f"  dpop:            {self.dpop}")
        return lines


#: The keys of a [clients."<id>"] table.
KEYS = values.config_keys(ClientConfig)


def parse_clients(raw: object, *, issuer: str) -> dict[str, ClientConfig]:
    """Every ``[clients."<id>"]`` table; none is fine (no OAuth clients)."""
    tables = values.table(raw, "clients")
    return {
        client_id: parse_client(client_id, table, issuer=issuer)
        for client_id, table in tables.items()
    }


def parse_client(
    client_id: str, raw: object, *, issuer: str, where: str | None = None
) -> ClientConfig:
    """One ``[clients."<id>"]`` table; ``issuer`` is the default audience.

    ``where`` names the table in messages (its TOML key path by default); the
    runtime clients of the admin API pass ``""``, so a message names the bare
    field, as RFC 7591 §3.2.2 wants of ``invalid_client_metadata``.
    """
    if where is None:
        where = values.key_path("clients", client_id)

    def key(name: str) -> str:
        return f"{where}.{name}" if where else name

    label = where or "client_id"
    if not CLIENT_ID.fullmatch(client_id):
        raise ConfigError(f"{label}: a client id is 3 to 64 of A-Z a-z 0-9 . _ -")
    if values.SHOP_DOMAIN.fullmatch(client_id.lower()):
        raise ConfigError(
            f"{label}: a client may not be named like a shop; customer tokens carry the "
            "shop's domain as client_id, so such a client could revoke them"
        )
    if client_id.isdigit():
        # A client may share a shop's audience (one API serving customers and
        # backends); `token_use` keeps the kinds apart, but a digits-only `sub`
        # would read as a Shopify customer id to an API that forgot to check it.
        raise ConfigError(
            f"{label}: a client id may not be digits only; its tokens' `sub` would look "
            "like a Shopify customer id. Use a name, e.g. crm-sync"
        )
    table: Mapping[str, Any] = values.table(raw, label)
    values.check_keys(table, KEYS, f"{where}." if where else "")
    hashes = _secret_hashes(table.get("secret_hashes"), key("secret_hashes"))
    confidential = bool(hashes)
    grants = _grant_types(table.get("grant_types"), key("grant_types"), confidential)
    introspect = values.boolean(table.get("introspect", False), key("introspect"))
    if introspect and not confidential:
        raise ConfigError(
            f"{key('introspect')}: only a confidential client (with secret_hashes) may "
            "introspect tokens"
        )
    origins = values.origins(table.get("allowed_origins", []), key("allowed_origins"))
    if origins and confidential:
        raise ConfigError(
            f"{key('allowed_origins')}: a confidential client's secret must never reach a "
            "browser; allowed_origins is for public clients"
        )
    return ClientConfig(
        client_id=client_id,
        secret_hashes=hashes,
        scopes=_scopes(table.get("scopes"), key("scopes")),
        audiences=_audiences(table.get("audiences", [issuer]), key("audiences")),
        grant_types=grants,
        token_ttl=values.integer(
            table.get("token_ttl", DEFAULT_TTL), key("token_ttl"), MIN_TTL, MAX_TTL
        ),
        introspect=introspect,
        allowed_origins=origins,
        dpop=values.dpop(table.get("dpop", "off"), key("dpop")),
    )


def _secret_hashes(value: object, key: str) -> tuple[bytes, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and not value:
        raise ConfigError(f"{key}: list at least one hash, or omit the key for a public client")
    hashes = []
    for i, item in enumerate(values.string_list(value, key)):
        match = SECRET_HASH.fullmatch(item)
        if not match:
            # Never echo the value: it may be a secret pasted in the wrong place.
            raise ConfigError(
                f"{key}[{i}]: expected 'sha256:' and 64 lowercase hex digits, as "
                "`shapestoken clients create` or `clients hash-secret` print"
            )
        hashes.append(bytes.fromhex(match[1]))
    if len(set(hashes)) != len(hashes):
        raise ConfigError(f"{key}: the same hash is listed twice")
    return tuple(hashes)


def _grant_types(value: object, key: str, confidential: bool) -> frozenset[str]:
    if value is None:
        return frozenset({"client_credentials" if confidential else "implicit"})
    grants = values.string_list(value, key)
    for grant in grants:
        if grant == "password":
            raise ConfigError(f"{key}: the password grant MUST NOT be used (RFC 9700 §2.4)")
        values.choice(grant, GRANT_TYPES, key)
        if confidential and grant == "implicit":
            raise ConfigError(
                f"{key}: a confidential client (with secret_hashes) cannot use the implicit "
                "grant; make a separate public client for the browser"
            )
        if not confidential and grant == "client_credentials":
            raise ConfigError(
                f"{key}: a public client (no secret_hashes) cannot use client_credentials"
            )
    return frozenset(grants)


def _scopes(value: object, key: str) -> tuple[str, ...]:
    if value is None:
        raise ConfigError(f'{key}: required, the most the client may ask for, e.g. ["orders:read"]')
    scopes = values.string_list(value, key)
    for i, scope in enumerate(scopes):
        if scope == "*" or not values.SCOPE_TOKEN.fullmatch(scope):
            raise ConfigError(
                f"{key}[{i}]: a scope is printable ASCII without spaces, quotes or "
                "backslashes, and not '*' (a request's '*' means all of them)"
            )
    if len(set(scopes)) != len(scopes):
        raise ConfigError(f"{key}: a scope is listed twice")
    return tuple(scopes)


def _audiences(value: object, key: str) -> tuple[str, ...]:
    audiences = values.string_list(value, key)
    for i, audience in enumerate(audiences):
        if not audience.isprintable() or " " in audience:
            raise ConfigError(f"{key}[{i}]: an audience is printable and has no spaces")
    if len(set(audiences)) != len(audiences):
        raise ConfigError(f"{key}: an audience is listed twice")
    return tuple(audiences)
