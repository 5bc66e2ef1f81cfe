"""The engine and the migrations: make the schema current, or refuse to run behind it.

The migrations ship inside the package (``service/store/migrations``), so an
installed wheel can ``shapestoken db upgrade`` with no Alembic config file.
A server checks the database's revision before it starts: a schema behind the
code (a deploy that skipped the upgrade) stops it with the command to run.
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
#: Seconds to wait for a connection or a statement before answering 503.
TIMEOUT = 10


def create_engine(database: DatabaseURL) -> AsyncEngine:
    """An async engine with a connection pool; it connects on first use."""
    url = database.url.reveal().decode()
    if database.dialect == "sqlite":
        # sqlite3's busy timeout: a writer waits for another (a CLI, a second worker).
        return create_async_engine(url, connect_args={"timeout": TIMEOUT})
    return create_async_engine(
        url,
        pool_pre_ping=True,  # a connection the server closed is replaced, not failed
        connect_args={"timeout": TIMEOUT, "command_timeout": TIMEOUT},
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
    async with connect(engine, begin=True) as connection:
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
        engine = create_engine(database)
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
async def connect(engine: AsyncEngine, *, begin: bool = False) -> AsyncIterator[AsyncConnection]:
    """A connection (in a transaction with ``begin``); driver errors become 503s."""
    try:
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
