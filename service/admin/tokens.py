"""API tokens from the admin API and the dashboard, with the audit trail.

An ``admin`` token may create another ``admin`` token: the scope ``admin``
need not be in ``api_scopes`` (:data:`~service.store.stk.ADMIN_SCOPE`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime

from service.admin import audit
from service.errors import InvalidRequest, NotFound
from service.store.apitokens import ApiTokenStore
from service.store.audit import AuditLog
from service.store.stk import (
    DEFAULT_EXPIRY,
    MAX_LIFETIME,
    ApiToken,
    TokenInputError,
    is_id,
    parse_duration,
)
from service.support.clock import iso8601

DAY = 86_400
#: A new token's lifetime, in days, when the request leaves it out: the CLI's and the
#: dashboard's default too.
DEFAULT_DAYS = parse_duration(DEFAULT_EXPIRY) // DAY


def describe(record: ApiToken) -> dict[str, object]:
    """A token's row as the admin API shows it (never the token)."""
    return {
        "id": record.id,
        "name": record.name,
        "scopes": list(record.scopes),
        "created_at": _time(record.created_at),
        "created_by": record.created_by,
        "expires_at": _time(record.expires_at),
        "last_used_at": _time(record.last_used_at),
        "revoked_at": _time(record.revoked_at),
        "revoked_by": record.revoked_by,
    }


def _time(value: datetime | None) -> str | None:
    return None if value is None else iso8601(value.timestamp())


class TokenAdmin:
    def __init__(
        self, store: ApiTokenStore, audit_log: AuditLog, *, now: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.audit = audit_log
        self._now = now

    async def list(self) -> list[dict[str, object]]:
        return [describe(record) for record in await self.store.list(include_inactive=True)]

    async def create(
        self, fields: Mapping[str, object], actor: str
    ) -> tuple[dict[str, object], str]:
        """The new token's row and the token itself (shown once)."""
        for key in fields:
            if key not in ("name", "scopes", "expires_in_days"):
                shown = key if key.isidentifier() and len(key) <= 32 else "?"
                raise InvalidRequest(f"Unexpected field `{shown}`.")
        name = fields.get("name")
        if not isinstance(name, str):
            raise InvalidRequest("`name`: required, a string.")
        scopes = fields.get("scopes")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise InvalidRequest("`scopes`: required, a list of scope strings.")
        # Left out: the CLI's and the dashboard's default lifetime; null: no expiry.
        days = fields.get("expires_in_days", DEFAULT_DAYS)
        if days is not None and (
            isinstance(days, bool)
            or not isinstance(days, int)
            or not 1 <= days * DAY <= MAX_LIFETIME
        ):
            raise InvalidRequest(
                f"`expires_in_days`: an integer from 1 to {MAX_LIFETIME // DAY}, or null for none."
            )
        try:
            record, token = await self.store.create(
                name=name,
                scopes=scopes,
                expires_in=None if days is None else days * DAY,
                created_by=actor,
            )
        except TokenInputError as exc:
            field = "scopes" if exc.field == "scope" else exc.field
            raise InvalidRequest(f"`{field}`: {exc.message}.") from None
        await self.record_created(record, actor)
        return describe(record), token

    async def record_created(self, record: ApiToken, actor: str) -> None:
        details = {"name": record.name, "scopes": list(record.scopes)}
        await self.audit.record(audit.event(self._now, actor, "token.create", record.id, details))

    async def revoke(self, token_id: str, actor: str) -> ApiToken:
        record = await self.store.revoke(token_id, by=actor) if is_id(token_id) else None
        if record is None:
            raise NotFound("There is no such token.")
        await self.audit.record(audit.event(self._now, actor, "token.revoke", record.id))
        return record
