"""``database``, ``api_scopes``, ``admin_password_hash``, ``session_secret``: API tokens.

All four are optional together: without ``database`` there are no API tokens,
no ``/admin`` and no database at all. Each key that needs another says so by
name, so a half-configured dashboard refuses to start instead of being off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from service.config import values
from service.errors import ConfigError
from service.support.secret import Secret

#: The longest API scope name.
MAX_SCOPE_LENGTH = 64
MAX_SCOPES = 50
#: OWASP's weakest recommended Argon2id setting is 19 MiB with 2 passes; a hash
#: made with less memory-time is refused (argon2-cffi's default is 64 MiB x 3).
MIN_ARGON2_MEMORY_TIME = 19456 * 2
#: The longest dashboard password worth hashing; anything longer is simply wrong.
MAX_PASSWORD = 1024

_DATABASE_HELP = (
    "database: expected sqlite:///path (relative to the config file) "
    "or postgresql://user:password@host/dbname"
)


@dataclass(frozen=True)
class DatabaseURL:
    """Where the SQL store lives, as SQLAlchemy's async drivers want it."""

    #: The SQLAlchemy URL with its password: a secret.
    url: Secret
    #: The same URL with the password masked, for logs and ``check-config``.
    display: str
    dialect: str
    #: The file of an SQLite database (its directory is created on upgrade).
    sqlite_path: Path | None = None
    #: The server of a PostgreSQL database (for the start-up line: no user, no password).
    host: str | None = None

    def __str__(self) -> str:
        return self.display


@dataclass(frozen=True)
class StoreConfig:
    database: DatabaseURL | None = None
    api_scopes: tuple[str, ...] = ()
    #: Argon2id hash of the dashboard password; ``/admin`` exists only when set.
    admin_password_hash: Secret | None = None
    session_secret: Secret | None = None

    @property
    def admin_enabled(self) -> bool:
        return self.admin_password_hash is not None

    def summary(self) -> list[str]:
        """Lines for ``check-config``, secrets masked."""
        if self.database is None:
            return ["database:     none (no API tokens, no /admin)"]
        return [
            f"database:     {self.database.display}",
            f"api_scopes:   {' '.join(self.api_scopes)}",
            f"admin:        {'/admin enabled' if self.admin_enabled else 'off'}",
        ]


#: The four keys, top-level in the config file, in the order their checks run.
KEYS = tuple(f.name for f in fields(StoreConfig))


def parse_store(raw: Mapping[str, Any], *, base_dir: Path) -> StoreConfig:
    """The four keys from the top level of the config."""
    database = raw.get("database")
    if database is None:
        for key in KEYS[1:]:
            if key in raw:
                raise ConfigError(f"{key}: needs `database` (API tokens live in the database)")
        return StoreConfig()
    url = database_url(values.string(database, "database"), base_dir)
    if "api_scopes" not in raw:
        raise ConfigError(
            'api_scopes: required with `database`, e.g. api_scopes = ["profiles:read"]'
        )
    admin_hash = raw.get("admin_password_hash")
    session_secret = raw.get("session_secret")
    if admin_hash is not None and session_secret is None:
        raise ConfigError(
            "session_secret: required with admin_password_hash (signs the dashboard's "
            "session cookie; at least 32 bytes, e.g. env:SHAPESTOKEN_SESSION_SECRET)"
        )
    if session_secret is not None and admin_hash is None:
        # A secret that signs nothing is a half-made dashboard, not a setting.
        raise ConfigError(
            "session_secret: only used with admin_password_hash (the dashboard); "
            "set both to turn /admin on, or neither"
        )
    return StoreConfig(
        database=url,
        api_scopes=api_scopes(raw["api_scopes"]),
        admin_password_hash=None if admin_hash is None else password_hash(admin_hash),
        session_secret=None
        if session_secret is None
        else values.secret(session_secret, "session_secret"),
    )


def api_scopes(value: object) -> tuple[str, ...]:
    """The ``api_scopes`` list: RFC 6749 scope tokens, no repeats, at most :data:`MAX_SCOPES`."""
    scopes = values.string_list(value, "api_scopes")
    for scope in scopes:
        if len(scope) > MAX_SCOPE_LENGTH or not values.SCOPE_TOKEN.fullmatch(scope):
            raise ConfigError(
                f"api_scopes: {scope!r} is not a scope (RFC 6749 §3.3: printable ASCII, "
                "no space, quote or backslash, at most 64 characters)"
            )
    if len(set(scopes)) != len(scopes):
        raise ConfigError("api_scopes: a scope is listed twice")
    if len(scopes) > MAX_SCOPES:
        raise ConfigError(f"api_scopes: at most {MAX_SCOPES} scopes")
    return tuple(scopes)


def password_hash(value: object) -> Secret:
    """An Argon2id PHC string from ``shapestoken admin set-password``."""
    from argon2 import Type, extract_parameters
    from argon2.exceptions import InvalidHashError

    text = values.string(value, "admin_password_hash")
    try:
        params = extract_parameters(text)
    except (InvalidHashError, ValueError) as exc:
        raise ConfigError(
            "admin_password_hash: not an Argon2 hash; make one with "
            "`shapestoken admin set-password`"
        ) from exc
    if params.type is not Type.ID:
        raise ConfigError("admin_password_hash: must be Argon2id ($argon2id$...)")
    if params.memory_cost * params.time_cost < MIN_ARGON2_MEMORY_TIME:
        raise ConfigError(
            "admin_password_hash: too weak (below 19 MiB x 2 passes); "
            "make one with `shapestoken admin set-password`"
        )
    return Secret(text)


def database_url(text: str, base_dir: Path) -> DatabaseURL:
    """Normalise ``sqlite:///…`` and ``postgresql://…`` to SQLAlchemy's async drivers."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(_DATABASE_HELP) from exc
    backend = url.get_backend_name()
    if backend == "sqlite" and url.drivername in ("sqlite", "sqlite+aiosqlite"):
        if not url.database or url.database == ":memory:" or url.query or url.host:
            # An in-memory database is a new, empty one per connection.
            raise ConfigError(_DATABASE_HELP + " (an in-memory SQLite database is not kept)")
        path = Path(url.database)
        path = path if path.is_absolute() else (base_dir / path).absolute()
        url = url.set(drivername="sqlite+aiosqlite", database=str(path))
        return DatabaseURL(
            Secret(url.render_as_string(hide_password=False)), str(url), "sqlite", path
        )
    if url.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        if not url.host and not url.query.get("host"):
            raise ConfigError(_DATABASE_HELP + " (no host)")
        if not url.database:
            raise ConfigError(_DATABASE_HELP + " (no database name)")
        query = dict(url.query)
        # libpq's `sslmode` (as in most platforms' DATABASE_URL) is asyncpg's `ssl`.
        if "sslmode" in query:
            query["ssl"] = query.pop("sslmode")
        url = url.set(drivername="postgresql+asyncpg", query=query)
        return DatabaseURL(
            Secret(url.render_as_string(hide_password=False)),
            url.render_as_string(hide_password=True),
            "postgresql",
            # A socket directory in the query (?host=/run/postgresql) when there is no host.
            host=url.host or str(url.query.get("host") or "") or None,
        )
    raise ConfigError(_DATABASE_HELP)
