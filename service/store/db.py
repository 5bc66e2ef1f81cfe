"""The engine and the migrations: make the schema current, or refuse to run behind it.

The migrations ship inside the package (``service/store/migrations``), so an
installed wheel can ``shapestoken db upgrade`` with no Alembic config file.
A server checks the database's revision before it starts: a schema behind the
code (a deploy that skipped the upgrade) stops it with the command to run.

The database never stalls a caller. Connecting, each statement and the wait for
a pooled connection have their own bounds, and :func:`connect` puts a deadline
of :data:`DEADLINE` around a whole store call as the backstop (a driver that
ignores its own timeout, a hung rollback), so a hung database is a 503 within
about two seconds. Only migrations, whose DDL may rightly take minutes, run
without these bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from service.config.store import DatabaseURL
from service.errors import ConfigError, StoreUnavailable

UPGRADE = "shapestoken db upgrade"
#: Seconds to open a connection: TCP, TLS and authentication (asyncpg's ``timeout``).
CONNECT_TIMEOUT = 1.0
#: Seconds one statement may take (asyncpg's ``command_timeout``; for SQLite the
#: busy timeout, how long a reader or writer waits for another's lock).
STATEMENT_TIMEOUT = 1.0
#: Seconds to wait for a pooled connection when every one is in use.
POOL_TIMEOUT = 1.0
#: Seconds a whole store call may take, whatever the driver does: the backstop.
DEADLINE = 2.0
#: Migrations only: a DDL statement on a large table may rightly take long.
MIGRATION_TIMEOUT = 600.0


def create_engine(database: DatabaseURL, *, migrations: bool = False) -> AsyncEngine:
    """An async engine with a bounded connection pool; it connects on first use.

    ``migrations`` lifts the statement bound for ``shapestoken db upgrade``.
    """
    url = database.url.reveal().decode()
    statement = MIGRATION_TIMEOUT if migrations else STATEMENT_TIMEOUT
    if database.dialect == "sqlite":
        # sqlite3's busy timeout: a writer waits for another (a CLI, a second worker).
        return create_async_engine(
            url, pool_timeout=POOL_TIMEOUT, connect_args={"timeout": statement}
        )
    return create_async_engine(
        url,
        pool_pre_ping=True,  # a connection the server closed is replaced, not failed
        pool_timeout=POOL_TIMEOUT,
        connect_args={"timeout": CONNECT_TIMEOUT, "command_timeout": statement},
    )


def alembic_config() -> Config:
    """Alembic's configuration for the migrations shipped in the package."""
    config = Config()
    config.set_main_option("script_location", "service.store:migrations")
    return config


def head() -> str:
    """The revision this version of the code expects."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, heads  # one line of history, checked by the tests
    return heads[0]


def _current(connection: Connection) -> str | None:
    heads = MigrationContext.configure(connection).get_current_heads()
    return heads[0] if heads else None


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision; None for an empty database."""
    async with connect(engine) as connection:
        return await connection.run_sync(_current)


async def upgrade(engine: AsyncEngine, database: DatabaseURL) -> tuple[str | None, str]:
    """Create or migrate the schema to the head; returns (before, after)."""
    if database.sqlite_path is not None:
        database.sqlite_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    async with connect(engine, begin=True, deadline=None) as connection:
        before = await connection.run_sync(_current)
        await connection.run_sync(_upgrade)
        return before, await connection.run_sync(_current) or head()


async def check_current(engine: AsyncEngine) -> None:
    """Refuse (ConfigError) a database whose schema is not this version's head."""
    revision = await current_revision(engine)
    expected = head()
    if revision == expected:
        return
    if revision is None:
        raise ConfigError(f"the database has no schema yet: run `{UPGRADE}`")
    known = {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }
    if revision in known:
        raise ConfigError(
            f"the database is at revision {revision} but this version needs {expected}: "
            f"run `{UPGRADE}`"
        )
    raise ConfigError(
        f"the database is at revision {revision}, which this version does not know "
        "(a newer version migrated it); deploy that version or restore the database"
    )


def prepare(database: DatabaseURL, *, migrate: bool) -> None:
    """At start-up, before the server's event loop: migrate (development) or check."""

    async def run() -> None:
        engine = create_engine(database, migrations=migrate)
        try:
            if migrate:
                await upgrade(engine, database)
            else:
                await check_current(engine)
        except StoreUnavailable as exc:
            raise ConfigError(
                f"cannot reach the database {database.display}: {exc.cause}"
            ) from None
        finally:
            await engine.dispose()

    asyncio.run(run())


@contextlib.asynccontextmanager
async def connect(
    engine: AsyncEngine, *, begin: bool = False, deadline: float | None = DEADLINE
) -> AsyncIterator[AsyncConnection]:
    """A connection (in a transaction with ``begin``); driver errors become 503s.

    Everything in the block, from waiting for the pool to the last statement and
    the connection's return, ends within ``deadline`` seconds (None: migrations).
    """
    try:
        async with asyncio.timeout(deadline):
            if begin:
                async with engine.begin() as connection:
                    yield connection
            else:
                async with engine.connect() as connection:
                    yield connection
    except IntegrityError:
        raise  # a constraint said no: the caller decides (a duplicate id is retried)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreUnavailable.from_exception(exc) from exc
