"""The tables, as the code reads and writes them (the migrations create them)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Dialect, MetaData, String, Table
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every backend.

    PostgreSQL keeps ``timestamptz``; SQLite keeps text without a zone, so the
    value is written as naive UTC and read back as aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(100), nullable=False),
    # SHA-256 of the token, hex: the token itself is never stored.
    Column("sha256", String(64), nullable=False, unique=True),
    # Space-separated, as in the `scope` claim (RFC 6749 §3.3).
    Column("scopes", String(3300), nullable=False),
    # Indexed: the token list is read newest first.
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("created_by", String(100), nullable=False),
    Column("expires_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
    # Revoked rows are kept for the audit trail; the service never deletes them.
    Column("revoked_at", UTCDateTime),
    # Who revoked the token ("cli", "dashboard"); NULL for rows revoked before 0003.
    Column("revoked_by", String(100)),
)

admin_sessions = Table(
    "admin_sessions",
    metadata,
    # SHA-256 of the session id that the signed cookie carries.
    Column("sha256", String(64), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # Set by logout: the cookie stops working even though its signature is still good.
    Column("ended_at", UTCDateTime),
)
