"""Dashboard sessions that logout can end.

The session cookie is signed (Starlette's ``SessionMiddleware``), so on its own
it stays valid until its max age even after logout. It therefore carries a
random session id whose SHA-256 is a row here: logout ends the row, and a
cookie copied before logout no longer signs anyone in. A session also ends
``lifetime`` seconds after sign-in, however active.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from service.store.db import connect
from service.store.schema import admin_sessions
from service.store.stk import utc

#: A dashboard session lasts at most 12 hours, whatever its cookie says.
LIFETIME = 12 * 3600


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class AdminSessions:
    def __init__(
        self, engine: AsyncEngine, *, now: Callable[[], float] = time.time, lifetime: int = LIFETIME
    ) -> None:
        self.engine = engine
        self.lifetime = lifetime
        self._now = now

    async def start(self) -> str:
        """A new session id (256 random bits), for the cookie; forgets long-gone sessions."""
        session_id = secrets.token_urlsafe(32)
        now = utc(self._now())
        async with connect(self.engine, begin=True) as connection:
            # Ended or expired sessions are kept a day (for an operator's questions), then go.
            await connection.execute(
                delete(admin_sessions).where(admin_sessions.c.expires_at < now - timedelta(days=1))
            )
            await connection.execute(
                admin_sessions.insert().values(
                    sha256=_digest(session_id),
                    created_at=now,
                    expires_at=now + timedelta(seconds=self.lifetime),
                )
            )
        return session_id

    async def active(self, session_id: str) -> bool:
        """True while the session is neither ended nor past its lifetime."""
        async with connect(self.engine) as connection:
            row = (
                await connection.execute(
                    select(admin_sessions.c.expires_at, admin_sessions.c.ended_at).where(
                        admin_sessions.c.sha256 == _digest(session_id)
                    )
                )
            ).first()
        return row is not None and row.ended_at is None and utc(self._now()) < row.expires_at

    async def end(self, session_id: str) -> None:
        async with connect(self.engine, begin=True) as connection:
            await connection.execute(
                update(admin_sessions)
                .where(
                    admin_sessions.c.sha256 == _digest(session_id),
                    admin_sessions.c.ended_at.is_(None),
                )
                .values(ended_at=utc(self._now()))
            )

    @staticmethod
    def reference(session_id: str) -> str:
        """A short name for the session in logs: who did what, without the secret."""
        return _digest(session_id)[:8]
