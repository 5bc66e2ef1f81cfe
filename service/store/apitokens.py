"""API tokens in SQL: create, list, revoke, and the lookup behind introspection.

Lookups are by SHA-256 and positive ones are cached for at most ``cache_ttl``
seconds (30): a revocation made through this process evicts at once; one made
elsewhere (another replica, the CLI) is evicted by :meth:`ApiTokenStore.evict`
when the revocation is announced (``service.wiring`` connects it to Redis), and
is seen here within the cache's age bound in any case. While announcements may
be missed, :meth:`ApiTokenStore.cap` lowers that bound. A cached token is still
checked against its expiry on every lookup.

Under load the database sees little: concurrent lookups of one uncached token
make one query (single flight); a well-formed token the database does not know
(anyone can compute the checksum) is remembered as unknown for
:data:`UNKNOWN_TTL` seconds, so a repeated made-up token is no flood of queries;
and ``last_used_at`` is written at most once a minute per token by this process
however many lookups run at once, and at most once a minute across processes
(the UPDATE itself checks the minute). A database that cannot answer a lookup is
:class:`~service.errors.StoreUnavailable`, a 503: fail closed, logged once per
outage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from cachetools import TTLCache
from sqlalchemy import Row, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.errors import ServiceError, StoreUnavailable
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
#: Seconds a token the database does not know (or no longer takes) is remembered as such.
UNKNOWN_TTL = 5
LAST_USED_EVERY = timedelta(minutes=1)

#: Told the id of each token revoked through this store (to tell the other processes).
Announce = Callable[[str], Awaitable[None]]


class _Entry:
    """A cached record; replaced in place so its expiry in the cache never moves."""

    __slots__ = ("record", "cached_at")

    def __init__(self, record: ApiToken, cached_at: float) -> None:
        self.record = record
        #: When it was read from the database (monotonic), for :meth:`ApiTokenStore.cap`.
        self.cached_at = cached_at


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
        self._monotonic = monotonic
        self._cache_ttl = cache_ttl
        self._cache: TTLCache[str, _Entry] = TTLCache(CACHE_SIZE, cache_ttl, timer=monotonic)
        #: Hashes the database did not know, or knew as revoked or expired.
        self._unknown: TTLCache[str, bool] = TTLCache(CACHE_SIZE, UNKNOWN_TTL, timer=monotonic)
        #: The one query in flight per hash (single flight).
        self._loading: dict[str, asyncio.Future[_Entry | None]] = {}
        #: Counts evictions, so a query that started before one caches nothing.
        self._evictions = 0
        #: The oldest a cached entry may be, in seconds (see :meth:`cap`).
        self.max_age: float = cache_ttl
        #: Seconds within which a revocation through this store holds in every process.
        self.reach: float = cache_ttl
        #: Tells the other processes of a revocation (None: nobody to tell).
        self.announce: Announce | None = None
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
                self._unknown.pop(token_hash(token), None)
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

    async def revoke(self, token_id: str, *, by: str) -> ApiToken | None:
        """Revoke a token (the row is kept) in the name of ``by``; None when there is no such id.

        An already revoked token keeps its first ``revoked_at`` and ``revoked_by``.
        """
        by = by[:100]
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
                    .values(revoked_at=now, revoked_by=by)
                )
        # Evicted at once: this process never answers from a stale entry.
        self._cache.pop(row.sha256, None)
        self._evictions += 1
        if self.announce is not None:
            try:
                await self.announce(token_id)
            except ServiceError:
                # Stored all the same; the cache bound still holds everywhere.
                log.warning(
                    f"revocation not announced: other processes refuse the token within "
                    f"{self._cache_ttl:g} s",
                    extra={"fields": {"token_id": token_id}},
                )
        record = _record(row)
        if record.revoked_at is not None:
            return record
        return replace(record, revoked_at=now, revoked_by=by)

    def evict(self, token_id: str) -> None:
        """Forget the cached lookup of ``token_id`` (revoked by another process)."""
        self._evictions += 1
        for digest in list(self._cache.keys()):
            entry = self._cache.get(digest)  # None if it expired meanwhile
            if entry is not None and entry.record.id == token_id:
                self._cache.pop(digest, None)

    def cap(self, max_age: float | None) -> None:
        """Answer from cached lookups at most ``max_age`` seconds old (None: the cache's TTL).

        While revocations made elsewhere may go unannounced (the channel that
        carries them is down), the bound a revocation reaches this process in is
        the age of its cached lookups; lifting the cap forgets every lookup cached
        meanwhile, since announcements made during the gap are lost.
        """
        if max_age is None:
            if self.max_age < self._cache_ttl:
                self._cache.clear()
                self._evictions += 1
            self.max_age = self._cache_ttl
        else:
            self.max_age = min(max_age, self._cache_ttl)

    async def lookup(self, token: str) -> ApiToken | None:
        """The record of an active token; None for anything else (no error)."""
        if not is_well_formed(token):
            return None  # a typo or garbage never reaches the database
        digest = token_hash(token)
        entry = self._cache.get(digest)
        if entry is not None and self._monotonic() - entry.cached_at > self.max_age:
            entry = None
        if entry is None:
            if digest in self._unknown:
                return None
            entry = await self._load(digest)
            if entry is None:
                return None
        now = utc(self._now())
        record = entry.record
        if record.status(now) != "active":
            self._cache.pop(digest, None)
            self._unknown[digest] = True
            return None
        if record.last_used_at is None or now - record.last_used_at >= LAST_USED_EVERY:
            # Claimed before the write, on the entry every concurrent lookup shares:
            # one UPDATE a minute from this process, however many lookups run at once.
            entry.record = replace(record, last_used_at=now)
            try:
                await self._touch(record.id, now)
            except StoreUnavailable as exc:
                # Bookkeeping only: the token was found, so answer; try again in a minute.
                log.warning("cannot record last_used_at", extra={"fields": {"cause": exc.cause}})
            record = entry.record
        return record

    async def _load(self, digest: str) -> _Entry | None:
        """One query per hash however many lookups wait for it (single flight)."""
        loading = self._loading.get(digest)
        if loading is None:
            loading = self._loading[digest] = asyncio.ensure_future(self._fetch(digest))
            loading.add_done_callback(lambda done: self._landed(digest, done))
        # Shielded: a caller that gives up (its client left) does not cancel the others'.
        return await asyncio.shield(loading)

    def _landed(self, digest: str, done: asyncio.Future[_Entry | None]) -> None:
        if self._loading.get(digest) is done:
            del self._loading[digest]
        if not done.cancelled():
            done.exception()  # retrieved, even when every waiter has gone

    async def _fetch(self, digest: str) -> _Entry | None:
        evictions = self._evictions
        row = await self._find(digest)
        now = utc(self._now())
        if row is None:
            self._unknown[digest] = True
            return None
        entry = _Entry(_record(row), self._monotonic())
        if entry.record.status(now) != "active":
            self._unknown[digest] = True  # revoked and expired are for good
            return None
        if evictions == self._evictions:
            # A revocation announced while the query ran may be missing from its row.
            self._cache[digest] = entry
        return entry

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
        revoked_by=row.revoked_by,
    )
