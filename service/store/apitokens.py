"""API tokens in SQL: create, list, revoke, and the lookup behind introspection.

Lookups are by SHA-256 and positive ones are cached for at most ``cache_ttl``
seconds (30): a revocation made through this process evicts at once, one made
elsewhere (another replica, the CLI) is seen here within that bound. A cached
token is still checked against its expiry on every lookup. ``last_used_at`` is
written at most once a minute per token, across every process sharing the
database (the UPDATE itself checks the minute). A database that cannot answer
a lookup is :class:`~service.errors.StoreUnavailable`, a 503: fail closed,
logged once per outage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from cachetools import TTLCache
from sqlalchemy import Row, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.errors import StoreUnavailable
from service.observability.logs import log
from service.store.db import connect
from service.store.schema import api_tokens
from service.store.stk import (
    ADMIN_SCOPE,
    ApiToken,
    check_name,
    check_scopes,
    is_well_formed,
    new_id,
    new_token,
    token_hash,
    utc,
)

#: Lookups are cached for at most 30 s: a revocation elsewhere shows within that.
CACHE_TTL = 30
CACHE_SIZE = 10_000
LAST_USED_EVERY = timedelta(minutes=1)


class _Entry:
    """A cached record; replaced in place so its expiry in the cache never moves."""

    __slots__ = ("record",)

    def __init__(self, record: ApiToken) -> None:
        self.record = record


class ApiTokenStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        issuer: str,
        scopes: Sequence[str],
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        cache_ttl: float = CACHE_TTL,
    ) -> None:
        if not 0 < cache_ttl <= CACHE_TTL:
            raise ValueError(f"cache_ttl must be within (0, {CACHE_TTL}] seconds")
        self.engine = engine
        self.issuer = issuer
        self.scopes = tuple(scopes)
        #: What a token may carry: api_scopes and the admin API's own scope.
        self.grantable = (*self.scopes, *((ADMIN_SCOPE,) if ADMIN_SCOPE not in self.scopes else ()))
        self._now = now
        self._cache: TTLCache[str, _Entry] = TTLCache(CACHE_SIZE, cache_ttl, timer=monotonic)
        #: Whether the last lookup found the database down (to log an outage once).
        self._down = False

    async def create(
        self, *, name: str, scopes: Sequence[str], expires_in: int | None, created_by: str
    ) -> tuple[ApiToken, str]:
        """A new token: its record and the token itself (shown once, never stored)."""
        now = utc(self._now())
        token = new_token()
        record = ApiToken(
            id=new_id(),
            name=check_name(name),
            scopes=check_scopes(scopes, self.grantable),
            created_at=now,
            created_by=created_by[:100],
            expires_at=None if expires_in is None else now + timedelta(seconds=expires_in),
        )
        for _ in range(3):  # 60-bit ids: a collision is rare enough to retry
            try:
                async with connect(self.engine, begin=True) as connection:
                    await connection.execute(api_tokens.insert().values(**_row(record, token)))
                return record, token
            except IntegrityError:
                record = replace(record, id=new_id())
        raise RuntimeError("could not find a free token id")

    async def list(self, *, include_inactive: bool = True) -> list[ApiToken]:
        """Every token, newest first; without ``include_inactive`` only active ones."""
        query = select(api_tokens).order_by(api_tokens.c.created_at.desc(), api_tokens.c.id)
        if not include_inactive:
            now = utc(self._now())
            query = query.where(
                api_tokens.c.revoked_at.is_(None),
                or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now),
            )
        async with connect(self.engine) as connection:
            rows = (await connection.execute(query)).all()
        return [_record(row) for row in rows]

    async def get(self, token_id: str) -> ApiToken | None:
        async with connect(self.engine) as connection:
            query = select(api_tokens).where(api_tokens.c.id == token_id)
            row = (await connection.execute(query)).first()
        return None if row is None else _record(row)

    async def revoke(self, token_id: str) -> ApiToken | None:
        """Revoke a token (the row is kept); None when there is no such id.

        An already revoked token keeps its first ``revoked_at``.
        """
        now = utc(self._now())
        async with connect(self.engine, begin=True) as connection:
            query = select(api_tokens).where(api_tokens.c.id == token_id)
            row = (await connection.execute(query)).first()
            if row is None:
                return None
            if row.revoked_at is None:
                await connection.execute(
                    update(api_tokens)
                    .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
        # Evicted at once: this process never answers from a stale entry.
        self._cache.pop(row.sha256, None)
        record = _record(row)
        return record if record.revoked_at is not None else replace(record, revoked_at=now)

    async def lookup(self, token: str) -> ApiToken | None:
        """The record of an active token; None for anything else (no error)."""
        if not is_well_formed(token):
            return None  # a typo or garbage never reaches the database
        digest = token_hash(token)
        now = utc(self._now())
        entry = self._cache.get(digest)
        if entry is None:
            row = await self._find(digest)
            if row is None:
                return None
            entry = _Entry(_record(row))
            if entry.record.status(now) == "active":
                self._cache[digest] = entry
        record = entry.record
        if record.status(now) != "active":
            self._cache.pop(digest, None)
            return None
        if record.last_used_at is None or now - record.last_used_at >= LAST_USED_EVERY:
            try:
                await self._touch(record.id, now)
            except StoreUnavailable as exc:
                # Bookkeeping only: the token was found, so answer; try again in a minute.
                log.warning("cannot record last_used_at", extra={"fields": {"cause": exc.cause}})
            entry.record = record = replace(record, last_used_at=now)
        return record

    async def introspect(self, token: str) -> dict[str, object] | None:
        """RFC 7662 §2.2 members of an active API token; None for any other token.

        This is the :class:`~service.oauth.introspection.TokenLookup` that
        ``/oauth/introspect`` asks about ``stk_`` tokens. A database that cannot
        answer raises :class:`~service.errors.StoreUnavailable` (a 503): an
        outage never makes a token active, nor quietly inactive.
        """
        record = await self.lookup(token)
        return None if record is None else record.introspection(self.issuer)

    async def aclose(self) -> None:
        await self.engine.dispose()

    async def _find(self, digest: str) -> Row[Any] | None:
        """The row with this hash; an outage is logged once, not once per request."""
        try:
            async with connect(self.engine) as connection:
                query = select(api_tokens).where(api_tokens.c.sha256 == digest)
                row = (await connection.execute(query)).first()
        except StoreUnavailable as exc:
            if not self._down:
                self._down = True
                log.warning(
                    "database unavailable: API tokens answer 503 until it is back",
                    extra={"fields": {"cause": exc.cause}},
                )
            raise
        if self._down:
            self._down = False
            log.warning("database available again: API tokens are checked again")
        return row

    async def _touch(self, token_id: str, now: datetime) -> None:
        # The condition makes the minute hold across processes: the first writes.
        async with connect(self.engine, begin=True) as connection:
            await connection.execute(
                update(api_tokens)
                .where(
                    and_(
                        api_tokens.c.id == token_id,
                        or_(
                            api_tokens.c.last_used_at.is_(None),
                            api_tokens.c.last_used_at <= now - LAST_USED_EVERY,
                        ),
                    )
                )
                .values(last_used_at=now)
            )


def _row(record: ApiToken, token: str) -> dict[str, object]:
    return {
        "id": record.id,
        "name": record.name,
        "sha256": token_hash(token),
        "scopes": " ".join(record.scopes),
        "created_at": record.created_at,
        "created_by": record.created_by,
        "expires_at": record.expires_at,
    }


def _record(row: Row[Any]) -> ApiToken:
    return ApiToken(
        id=row.id,
        name=row.name,
        scopes=tuple(row.scopes.split()),
        created_at=row.created_at,
        created_by=row.created_by,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
