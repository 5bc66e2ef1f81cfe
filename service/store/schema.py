"""The tables, as the code reads and writes them (the migrations create them)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    String,
    Table,
)
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
    # Who revoked the token (the audit's actor: "cli", "admin:<name>", "token:<id>");
    # NULL for rows revoked before 0003.
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

# -- runtime administration --------------------------------------------------------------

clients = Table(
    "clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("type", String(16), nullable=False),  # "confidential" or "public"
    # `sha256:<hex>` of the current secret (confidential), never the secret.
    Column("secret_hash", String(71)),
    # The secret before the last rotation, valid until `previous_until`.
    Column("previous_hash", String(71)),
    Column("previous_until", UTCDateTime),
    Column("scopes", JSON, nullable=False),
    Column("audiences", JSON),  # null: the default, [issuer]
    Column("grant_types", JSON),  # null: the type's default
    Column("allowed_origins", JSON, nullable=False),
    Column("token_ttl", Integer, nullable=False),
    Column("introspect", Boolean, nullable=False),
    Column("dpop", String(16)),  # null: the config's default
    Column("disabled", Boolean, nullable=False),
    # Tokens issued up to this time are inactive (a disable or a delete; kept after both).
    Column("tokens_before", UTCDateTime),
    # Set by a delete: the row stays as a tombstone so its tokens_before outlives it.
    Column("deleted_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Optimistic concurrency: a PATCH names the version it read.
    Column("version", Integer, nullable=False),
)

#: One row per kind of runtime change; every process polls it to refresh its cache.
changes = Table(
    "changes",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("counter", Integer, nullable=False),
)

admins = Table(
    "admins",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", String(200), nullable=False),  # Argon2id
    Column("created_at", UTCDateTime, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    # Indexed: the Activity page filters by action.
    Column("action", String(40), nullable=False, index=True),
    Column("target", String(200), nullable=False),
    Column("details", JSON, nullable=False),
)
