"""Runtime OAuth clients: the admin API's rules, checked exactly as the config's.

A client lives in the config file or in the database, never both. A runtime
client is validated by the config's own :func:`~service.config.clients.parse_client`,
so the rules and the messages are the same; a bad value or an unknown field is
``invalid_client_metadata`` naming the field (RFC 7591 §3.2.2). A confidential
client's secret is made here (256 bits), returned once, and stored as its
``sha256:`` hash. Rotation keeps the previous secret for ``keep_previous_seconds``.
Disabling or deleting a client ends the tokens it was issued up to then; enabling
it again does not revive them.

Optimistic concurrency: a client carries a ``version`` that every change
increments. A PATCH may name the version it read (``version`` in the body, or
``If-Match``); a stale one is refused with ``version_conflict`` and nothing
changes. A PATCH that names no version applies to whatever is current.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from service.admin import audit
from service.admin.errors import ClientExists, InvalidClientMetadata, ReadOnly, VersionConflict
from service.config import ClientConfig
from service.config.clients import CLIENT_ID, DEFAULT_TTL, MAX_TTL, parse_client
from service.errors import ConfigError, InvalidRequest, NotFound
from service.oauth.registry import RuntimeClient, hash_secret
from service.store.audit import AuditEvent
from service.store.clients import ClientRow, ClientStore, ClientTaken
from service.store.stk import utc
from service.support.clock import iso8601

#: 256 random bits, base64url: 43 characters that need no escaping anywhere.
SECRET_BYTES = 32
TYPES = ("confidential", "public")
#: Fields a PATCH may change; ``type`` is fixed at creation.
MUTABLE = (
    "scopes",
    "audiences",
    "grant_types",
    "allowed_origins",
    "token_ttl",
    "introspect",
    "dpop",
    "disabled",
)
#: Fields a POST may set.
CREATABLE = ("client_id", "type", *(name for name in MUTABLE if name != "disabled"))
MAX_KEEP_PREVIOUS = 604_800  # a week


def _check_fields(fields: Mapping[str, object], allowed: tuple[str, ...]) -> None:
    for name in fields:
        if name not in allowed:
            shown = name if name.isidentifier() and len(name) <= 32 else "?"
            raise InvalidClientMetadata(
                f"{shown}: unknown field (allowed: {', '.join(sorted(allowed))})"
            )


def _table(row: ClientRow, now: float) -> dict[str, object]:
    """The row as the config file's ``[clients."<id>"]`` table would hold it."""
    table: dict[str, object] = {
        "scopes": list(row.scopes),
        "token_ttl": row.token_ttl,
        "introspect": row.introspect,
        "allowed_origins": list(row.allowed_origins),
    }
    if row.audiences is not None:
        table["audiences"] = list(row.audiences)
    if row.grant_types is not None:
        table["grant_types"] = list(row.grant_types)
    if row.dpop is not None:
        table["dpop"] = row.dpop
    hashes = [row.secret_hash] if row.secret_hash else []
    if row.previous_hash and row.previous_until and row.previous_until.timestamp() > now:
        hashes.append(row.previous_hash)
    if hashes:
        table["secret_hashes"] = hashes
    return table


def to_config(row: ClientRow, *, issuer: str, now: float) -> ClientConfig:
    """The row as a client (InvalidClientMetadata naming the field if a rule refuses it)."""
    try:
        return parse_client(row.client_id, _table(row, now), issuer=issuer, where="")
    except ConfigError as exc:
        raise InvalidClientMetadata(str(exc)) from None


def runtime_client(row: ClientRow, *, issuer: str, now: float) -> RuntimeClient:
    """What the registry needs of a row."""
    config = to_config(row, issuer=issuer, now=now)
    previous = len(config.secret_hashes) > 1 and row.previous_until is not None
    return RuntimeClient(
        client=config,
        enabled=not row.disabled and row.deleted_at is None,
        tokens_before=None if row.tokens_before is None else row.tokens_before.timestamp(),
        previous_until=row.previous_until.timestamp() if previous and row.previous_until else None,
    )


def _time(value: datetime | None) -> str | None:
    return None if value is None else iso8601(value.timestamp())


def describe_config(client: ClientConfig) -> dict[str, object]:
    """A config client as the admin API lists it (``source: "config"``, read-only)."""
    return {
        "client_id": client.client_id,
        "type": "confidential" if client.confidential else "public",
        "source": "config",
        "scopes": list(client.scopes),
        "audiences": list(client.audiences),
        "grant_types": sorted(client.grant_types),
        "allowed_origins": sorted(client.allowed_origins),
        "token_ttl": client.token_ttl,
        "introspect": client.introspect,
        "dpop": client.dpop,
        "disabled": False,
        "created_at": None,
        "updated_at": None,
        "version": None,
    }


def describe_row(row: ClientRow, *, issuer: str, now: float) -> dict[str, object]:
    """A runtime client as the admin API shows it (never a secret or its hash)."""
    config = to_config(row, issuer=issuer, now=now)
    return {
        **describe_config(config),
        "type": row.type,
        "source": "database",
        "disabled": row.disabled,
        "created_at": _time(row.created_at),
        "updated_at": _time(row.updated_at),
        "version": row.version,
    }


def _new_secret() -> tuple[str, str]:
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return secret, hash_secret(secret.encode("ascii"))


class ClientAdmin:
    """Create, change, rotate and delete runtime clients; list them with the config's."""

    def __init__(
        self,
        store: ClientStore,
        config: Mapping[str, ClientConfig],
        *,
        issuer: str,
        max_ttl: int = MAX_TTL,
        now: Callable[[], float] = time.time,
        changed: Callable[[], Any] | None = None,
    ) -> None:
        self.store = store
        self.config = dict(config)
        self.issuer = issuer
        #: The config's longest token lifetime: it sizes the key publish window, the
        #: revocations and the cut-off after an unblock, so no runtime client outlives it.
        self.max_ttl = max_ttl
        self._now = now
        #: Awaited after every change: this process applies it at once.
        self._changed = changed

    async def list(self) -> list[dict[str, object]]:
        now = self._now()
        listed = [describe_config(client) for client in self.config.values()]
        for row in await self.store.all():
            if row.deleted_at is None:
                listed.append(describe_row(row, issuer=self.issuer, now=now))
        return sorted(listed, key=lambda client: str(client["client_id"]))

    async def get(self, client_id: str) -> dict[str, object]:
        if client_id in self.config:
            return describe_config(self.config[client_id])
        row = await self._live(client_id)
        return describe_row(row, issuer=self.issuer, now=self._now())

    async def create(
        self, fields: Mapping[str, object], actor: str
    ) -> tuple[dict[str, object], str | None]:
        """The new client, and its secret (confidential: shown this once, never stored)."""
        _check_fields(fields, CREATABLE)
        client_id = fields.get("client_id")
        if not isinstance(client_id, str):
            raise InvalidClientMetadata("client_id: required, a string")
        if not CLIENT_ID.fullmatch(client_id):
            raise InvalidClientMetadata("client_id: a client id is 3 to 64 of A-Z a-z 0-9 . _ -")
        kind = fields.get("type", "confidential")
        if kind not in TYPES:
            raise InvalidClientMetadata("type: expected confidential or public")
        if client_id in self.config:
            raise ClientExists("A client with this client_id is defined in the config file.")
        secret, secret_hash = _new_secret() if kind == "confidential" else (None, None)
        now = self._now()
        at = utc(now)
        row = ClientRow(
            client_id=client_id,
            type=str(kind),
            secret_hash=secret_hash,
            previous_hash=None,
            previous_until=None,
            scopes=_strings(fields.get("scopes", None), "scopes"),
            audiences=_optional_strings(fields, "audiences"),
            grant_types=_optional_strings(fields, "grant_types"),
            allowed_origins=_strings(fields.get("allowed_origins", []), "allowed_origins"),
            # Typed as the row declares; _validate checks them (types too) before a write.
            token_ttl=_unchecked(fields.get("token_ttl", DEFAULT_TTL)),
            introspect=_unchecked(fields.get("introspect", False)),
            dpop=_unchecked(fields.get("dpop")),
            disabled=False,
            tokens_before=None,
            deleted_at=None,
            created_at=at,
            updated_at=at,
            version=1,
        )
        self._validate(row, now)

        def apply(old: ClientRow | None) -> tuple[ClientRow, AuditEvent]:
            new = row
            if old is not None:
                if old.deleted_at is None:
                    raise ClientExists()
                # Created again after a delete: the old one's tokens stay inactive.
                before = max(t for t in (old.tokens_before, old.deleted_at) if t is not None)
                new = replace(row, tokens_before=before, version=old.version + 1)
            details = {"type": row.type, "scopes": list(row.scopes)}
            return new, audit.event(self._now, actor, "client.create", client_id, details)

        try:
            created = await self.store.change(client_id, apply)
        except ClientTaken:
            raise ClientExists() from None
        await self._applied()
        return describe_row(created, issuer=self.issuer, now=now), secret

    async def update(
        self, client_id: str, fields: Mapping[str, object], actor: str, *, version: int | None
    ) -> dict[str, object]:
        if "type" in fields:
            raise InvalidClientMetadata("type: cannot be changed; make a new client")
        _check_fields(fields, MUTABLE)
        self._writable(client_id)
        now = self._now()

        def apply(old: ClientRow | None) -> tuple[ClientRow, AuditEvent]:
            if old is None or old.deleted_at is not None:
                raise NotFound("There is no such client.")
            if version is not None and version != old.version:
                raise VersionConflict()
            changes: dict[str, Any] = {}
            for name in ("scopes", "allowed_origins"):
                if name in fields:
                    changes[name] = _strings(fields[name], name)
            for name in ("audiences", "grant_types"):
                if name in fields:
                    changes[name] = _optional_strings(fields, name)
            for name in ("token_ttl", "introspect", "dpop"):
                if name in fields:
                    changes[name] = fields[name]
            if "disabled" in fields:
                disabled = fields["disabled"]
                if not isinstance(disabled, bool):
                    raise InvalidClientMetadata("disabled: expected true or false")
                changes["disabled"] = disabled
                if disabled and not old.disabled:
                    # RFC 7009 in spirit: what it was issued so far stops, for good.
                    changes["tokens_before"] = utc(now)
            new = replace(old, **changes, updated_at=utc(now), version=old.version + 1)
            self._validate(new, now)
            # The changed fields as sent (checked above; none of them is a secret).
            details = dict(fields)
            return new, audit.event(self._now, actor, "client.update", client_id, details)

        row = await self.store.change(client_id, apply)
        await self._applied()
        return describe_row(row, issuer=self.issuer, now=now)

    async def rotate(self, client_id: str, fields: Mapping[str, object], actor: str) -> str:
        """A new secret (returned once); the previous one works ``keep_previous_seconds`` more."""
        for name in fields:
            if name != "keep_previous_seconds":
                shown = name if name.isidentifier() and len(name) <= 32 else "?"
                raise InvalidRequest(f"Unexpected field `{shown}`.")
        keep = fields.get("keep_previous_seconds", 0)
        if (
            isinstance(keep, bool)
            or not isinstance(keep, int)
            or not 0 <= keep <= MAX_KEEP_PREVIOUS
        ):
            raise InvalidRequest(
                f"`keep_previous_seconds`: an integer from 0 to {MAX_KEEP_PREVIOUS}."
            )
        self._writable(client_id)
        secret, secret_hash = _new_secret()
        now = self._now()

        def apply(old: ClientRow | None) -> tuple[ClientRow, AuditEvent]:
            if old is None or old.deleted_at is not None:
                raise NotFound("There is no such client.")
            if old.type != "confidential":
                raise InvalidRequest("A public client has no secret to rotate.")
            new = replace(
                old,
                secret_hash=secret_hash,
                previous_hash=old.secret_hash if keep else None,
                previous_until=utc(now) + timedelta(seconds=keep) if keep else None,
                updated_at=utc(now),
                version=old.version + 1,
            )
            details = {"keep_previous_seconds": keep}
            return new, audit.event(self._now, actor, "client.rotate_secret", client_id, details)

        await self.store.change(client_id, apply)
        await self._applied()
        return secret

    async def delete(self, client_id: str, actor: str) -> None:
        self._writable(client_id)
        now = utc(self._now())

        def apply(old: ClientRow | None) -> tuple[ClientRow, AuditEvent]:
            if old is None or old.deleted_at is not None:
                raise NotFound("There is no such client.")
            new = replace(
                old,
                disabled=True,
                tokens_before=now,
                deleted_at=now,
                secret_hash=None,
                previous_hash=None,
                previous_until=None,
                updated_at=now,
                version=old.version + 1,
            )
            return new, audit.event(self._now, actor, "client.delete", client_id)

        await self.store.change(client_id, apply)
        await self._applied()

    def _validate(self, row: ClientRow, now: float) -> None:
        """The config's rules, on the row as it would be stored; and no token may outlive
        the windows the config sized (see ``max_ttl``)."""
        client = to_config(row, issuer=self.issuer, now=now)
        if client.token_ttl > self.max_ttl:
            raise InvalidClientMetadata(
                f"token_ttl: at most {self.max_ttl} here, the longest token lifetime of the "
                "config (it sizes how long retired keys stay published); raise token_ttl in "
                "the config to allow more"
            )

    def _writable(self, client_id: str) -> None:
        if client_id in self.config:
            raise ReadOnly()
        if not CLIENT_ID.fullmatch(client_id):
            raise NotFound("There is no such client.")

    async def _live(self, client_id: str) -> ClientRow:
        row = await self.store.get(client_id) if CLIENT_ID.fullmatch(client_id) else None
        if row is None or row.deleted_at is not None:
            raise NotFound("There is no such client.")
        return row

    async def _applied(self) -> None:
        if self._changed is not None:
            await self._changed()


def _unchecked(value: Any) -> Any:
    """A value not checked yet: :func:`_validate` checks it, its type included."""
    return value


def _strings(value: object, name: str) -> tuple[str, ...]:
    if value is None:
        raise InvalidClientMetadata(
            f'{name}: required, the most the client may ask for, e.g. ["orders:read"]'
        )
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidClientMetadata(f"{name}: expected a list of strings")
    return tuple(value)


def _optional_strings(fields: Mapping[str, object], name: str) -> tuple[str, ...] | None:
    value = fields.get(name)
    return None if value is None else _strings(value, name)
