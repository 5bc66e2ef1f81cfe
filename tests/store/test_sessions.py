"""Dashboard sessions that logout ends, on SQLite and PostgreSQL (service/store/sessions.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config.store import DatabaseURL
from service.store import db
from service.store.schema import admin_sessions
from service.store.sessions import LIFETIME, AdminSessions
from tests.conftest import Clock

pytestmark = pytest.mark.anyio


@pytest.fixture
async def sessions(
    database: DatabaseURL, clock: Clock, anyio_backend: str
) -> AsyncIterator[AdminSessions]:
    engine = db.create_engine(database)
    await db.upgrade(engine, database)
    yield AdminSessions(engine, now=clock)
    await engine.dispose()


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (
                await connection.execute(select(func.count()).select_from(admin_sessions))
            ).scalar_one()
        )


async def test_a_session_lives_until_logout(sessions: AdminSessions) -> None:
    session_id = await sessions.start()
    assert len(session_id) >= 43
    assert await sessions.active(session_id)
    await sessions.end(session_id)
    assert not await sessions.active(session_id)
    await sessions.end(session_id)  # twice is harmless
    assert not await sessions.active(session_id)


async def test_a_session_ends_after_its_lifetime(sessions: AdminSessions, clock: Clock) -> None:
    assert LIFETIME == 12 * 3600
    session_id = await sessions.start()
    clock.advance(LIFETIME - 1)
    assert await sessions.active(session_id)
    clock.advance(1)
    assert not await sessions.active(session_id)


async def test_unknown_ids_are_not_sessions(sessions: AdminSessions) -> None:
    assert not await sessions.active("")
    assert not await sessions.active("made-up")


async def test_the_store_keeps_only_hashes_and_forgets_old_rows(
    sessions: AdminSessions, clock: Clock
) -> None:
    first = await sessions.start()
    async with sessions.engine.connect() as connection:
        stored = (await connection.execute(select(admin_sessions.c.sha256))).scalars().all()
    assert first not in stored and stored == [sessions.reference(first) + stored[0][8:]]
    clock.advance(LIFETIME + 86400 + 1)
    await sessions.start()
    assert await count(sessions.engine) == 1
