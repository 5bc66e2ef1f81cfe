"""The audit trail: one row per administrative act, kept for good (never deleted).

Whoever acts (an administrator in the dashboard, an ``admin`` API token, the
command line) writes an :class:`AuditEvent` in the same transaction as the
change where there is one, so an act and its record land together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.store.db import connect
from service.store.schema import audit_events

#: The most events one page of the audit holds.
MAX_PAGE = 500


@dataclass(frozen=True)
class AuditEvent:
    at: datetime
    actor: str
    action: str
    target: str
    #: What changed, never a secret, a token or a password.
    details: Mapping[str, object] = field(default_factory=dict)
    #: Set once stored; events are numbered in the order they were written.
    id: int | None = None


async def insert(connection: AsyncConnection, event: AuditEvent) -> None:
    """Write ``event`` in the caller's transaction."""
    await connection.execute(
        audit_events.insert().values(
            at=event.at,
            actor=event.actor[:100],
            action=event.action,
            target=event.target[:200],
            details=dict(event.details),
        )
    )


class AuditLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record(self, event: AuditEvent) -> None:
        """Write ``event`` in a transaction of its own (an act with no row of its own)."""
        async with connect(self.engine, begin=True) as connection:
            await insert(connection, event)

    async def page(
        self, *, limit: int = 100, before: int | None = None, action: str | None = None
    ) -> list[AuditEvent]:
        """Newest first; ``before`` an event id: the events older than it."""
        query = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(audit_events.c.id < before)
        if action is not None:
            query = query.where(audit_events.c.action == action)
        async with connect(self.engine) as connection:
            rows = (await connection.execute(query)).all()
        return [_event(row) for row in rows]

    async def latest_actors(self, action: str, targets: Sequence[str]) -> dict[str, str]:
        """The actor of the newest ``action`` event of each of ``targets``."""
        if not targets:
            return {}
        query = (
            select(audit_events.c.target, audit_events.c.actor)
            .where(audit_events.c.action == action, audit_events.c.target.in_(list(targets)))
            .order_by(audit_events.c.id)
        )
        async with connect(self.engine) as connection:
            rows = (await connection.execute(query)).all()
        return {row.target: row.actor for row in rows}  # the newest wins


def _event(row: Row[Any]) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        details=row.details,
    )
