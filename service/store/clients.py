"""Runtime OAuth clients in SQL, and the change counter every process polls.

A row is the client as the admin API sees it, never a secret (``sha256:`` hashes
only). A deleted client stays as a tombstone (``deleted_at``): its
``tokens_before`` must outlive it, so that a client created again under the
same id does not revive the old one's tokens. Every write bumps the
``clients`` counter and writes its audit event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.store import audit
from service.store.db import connect
from service.store.schema import changes, clients

COUNTER = "clients"


@dataclass(frozen=True)
class ClientRow:
    client_id: str
    type: str
    secret_hash: str | None
    previous_hash: str | None
    previous_until: datetime | None
    scopes: tuple[str, ...]
    audiences: tuple[str, ...] | None
    grant_types: tuple[str, ...] | None
    allowed_origins: tuple[str, ...]
    token_ttl: int
    introspect: bool
    dpop: str | None
    disabled: bool
    tokens_before: datetime | None
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class ClientTaken(Exception):
    """Another writer created this client id first."""


#: What a write does: the row as it was (None: never existed) to the new row and its event.
Change = Callable[[ClientRow | None], tuple[ClientRow, audit.AuditEvent]]


class ClientStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def all(self) -> list[ClientRow]:
        """Every row, tombstones included, by id."""
        async with connect(self.engine) as connection:
            rows = (await connection.execute(select(clients).order_by(clients.c.client_id))).all()
        return [_record(row) for row in rows]

    async def get(self, client_id: str) -> ClientRow | None:
        async with connect(self.engine) as connection:
            return await _get(connection, client_id)

    async def counter(self) -> int:
        """The change counter: it moves whenever any client changes."""
        async with connect(self.engine) as connection:
            query = select(changes.c.counter).where(changes.c.name == COUNTER)
            value: int | None = (await connection.execute(query)).scalar()
        return value or 0

    async def change(self, client_id: str, apply: Change) -> ClientRow:
        """Read the row (locked on PostgreSQL), let ``apply`` decide, write the result."""
        try:
            async with connect(self.engine, begin=True) as connection:
                old = await _get(connection, client_id, lock=True)
                new, event = apply(old)
                values = _values(new)
                if old is None:
                    await connection.execute(clients.insert().values(**values))
                else:
                    await connection.execute(
                        update(clients).where(clients.c.client_id == client_id).values(**values)
                    )
                await connection.execute(
                    update(changes)
                    .where(changes.c.name == COUNTER)
                    .values(counter=changes.c.counter + 1)
                )
                await audit.insert(connection, event)
        except IntegrityError:
            raise ClientTaken(client_id) from None
        return new

    async def live_ids(self, ids: Collection[str]) -> list[str]:
        """Which of ``ids`` are runtime clients (not deleted)."""
        if not ids:
            return []
        query = select(clients.c.client_id).where(
            clients.c.client_id.in_(list(ids)), clients.c.deleted_at.is_(None)
        )
        async with connect(self.engine) as connection:
            return sorted((await connection.execute(query)).scalars().all())


async def _get(
    connection: AsyncConnection, client_id: str, *, lock: bool = False
) -> ClientRow | None:
    query = select(clients).where(clients.c.client_id == client_id)
    if lock and connection.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await connection.execute(query)).first()
    return None if row is None else _record(row)


def _values(row: ClientRow) -> dict[str, Any]:
    values = asdict(row)
    for name in ("scopes", "allowed_origins"):
        values[name] = list(values[name])
    for name in ("audiences", "grant_types"):
        values[name] = None if values[name] is None else list(values[name])
    return values


def _record(row: Row[Any]) -> ClientRow:
    return ClientRow(
        client_id=row.client_id,
        type=row.type,
        secret_hash=row.secret_hash,
        previous_hash=row.previous_hash,
        previous_until=row.previous_until,
        scopes=tuple(row.scopes),
        audiences=None if row.audiences is None else tuple(row.audiences),
        grant_types=None if row.grant_types is None else tuple(row.grant_types),
        allowed_origins=tuple(row.allowed_origins),
        token_ttl=row.token_ttl,
        introspect=row.introspect,
        dpop=row.dpop,
        disabled=row.disabled,
        tokens_before=row.tokens_before,
        deleted_at=row.deleted_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )
