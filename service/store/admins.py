"""Named administrators of the dashboard: a name and an Argon2id hash of the password."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.store import audit
from service.store.db import connect
from service.store.schema import admins


@dataclass(frozen=True)
class Admin:
    name: str
    created_at: datetime


class AdminExists(Exception):
    """An administrator of that name is already there."""


class Admins:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, name: str, password_hash: str, event: audit.AuditEvent) -> Admin:
        try:
            async with connect(self.engine, begin=True) as connection:
                await connection.execute(
                    admins.insert().values(
                        name=name, password_hash=password_hash, created_at=event.at
                    )
                )
                await audit.insert(connection, event)
        except IntegrityError:
            raise AdminExists(name) from None
        return Admin(name, event.at)

    async def remove(self, name: str, event: audit.AuditEvent) -> bool:
        async with connect(self.engine, begin=True) as connection:
            result = await connection.execute(delete(admins).where(admins.c.name == name))
            if result.rowcount == 0:
                return False
            await audit.insert(connection, event)
        return True

    async def list(self) -> list[Admin]:
        async with connect(self.engine) as connection:
            rows = (await connection.execute(select(admins).order_by(admins.c.name))).all()
        return [Admin(row.name, row.created_at) for row in rows]

    async def password_hash(self, name: str) -> str | None:
        async with connect(self.engine) as connection:
            query = select(admins.c.password_hash).where(admins.c.name == name)
            found: str | None = (await connection.execute(query)).scalar()
        return found
