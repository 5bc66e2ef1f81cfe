"""Migrations and the start-up check, on SQLite and on a real PostgreSQL (service/store/db.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config.store import DatabaseURL, database_url
from service.errors import ConfigError, StoreUnavailable
from service.store import db
from service.store.schema import metadata
from tests.servers import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
async def engine(database: DatabaseURL, anyio_backend: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(database)
    yield engine
    await engine.dispose()


def test_one_line_of_history() -> None:
    assert db.head() == "0004"


async def test_migrations_run_up_from_empty(engine: AsyncEngine, database: DatabaseURL) -> None:
    assert await db.current_revision(engine) is None
    assert await db.upgrade(engine, database) == (None, "0004")
    assert await db.current_revision(engine) == "0004"
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert {"api_tokens", "admin_sessions", "clients", "admins", "audit_events"} <= tables
    # Running it again changes nothing.
    assert await db.upgrade(engine, database) == ("0004", "0004")


async def test_the_migrations_build_exactly_the_schema_the_code_uses(
    engine: AsyncEngine, database: DatabaseURL
) -> None:
    await db.upgrade(engine, database)

    def differences(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_an_empty_database_is_refused(engine: AsyncEngine) -> None:
    with pytest.raises(ConfigError, match="no schema yet: run `shapestoken db upgrade`"):
        await db.check_current(engine)


def _upgrade_to(connection: Connection, revision: str) -> None:
    config = db.alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def test_an_outdated_schema_is_refused_naming_the_command(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_to, "0001")
    with pytest.raises(ConfigError) as caught:
        await db.check_current(engine)
    assert str(caught.value) == (
        f"the database is at revision 0001 but this version needs {db.head()}: "
        "run `shapestoken db upgrade`"
    )


async def test_a_schema_from_a_newer_version_is_refused(
    engine: AsyncEngine, database: DatabaseURL
) -> None:
    await db.upgrade(engine, database)
    async with engine.begin() as connection:
        await connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(ConfigError, match="revision 0099, which this version does not know"):
        await db.check_current(engine)


async def test_a_current_schema_passes(engine: AsyncEngine, database: DatabaseURL) -> None:
    await db.upgrade(engine, database)
    await db.check_current(engine)


async def test_sqlite_upgrade_creates_the_directory(tmp_path: Path, anyio_backend: str) -> None:
    database = database_url("sqlite:///nested/dir/st.db", tmp_path)
    engine = db.create_engine(database)
    try:
        await db.upgrade(engine, database)
    finally:
        await engine.dispose()
    assert (tmp_path / "nested/dir/st.db").is_file()
    assert (tmp_path / "nested/dir").stat().st_mode & 0o777 == 0o700


async def test_an_unreachable_server_is_unavailable_not_a_crash(anyio_backend: str) -> None:
    database = database_url(
        f"postgresql://nobody:secret-password@127.0.0.1:{free_port()}/none", Path(".")
    )
    engine = db.create_engine(database)
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await db.current_revision(engine)
    finally:
        await engine.dispose()
    assert "secret-password" not in caught.value.cause
    assert caught.value.status_code == 503


def test_prepare_names_the_command_or_the_unreachable_server(tmp_path: Path) -> None:
    empty = database_url("sqlite:///st.db", tmp_path)
    with pytest.raises(ConfigError, match="shapestoken db upgrade"):
        db.prepare(empty, migrate=False)
    db.prepare(empty, migrate=True)  # development mode migrates by itself
    db.prepare(empty, migrate=False)
    down = database_url(f"postgresql://u:pw-secret@127.0.0.1:{free_port()}/x", tmp_path)
    with pytest.raises(ConfigError) as caught:
        db.prepare(down, migrate=False)
    assert "cannot reach the database postgresql+asyncpg://u:***@127.0.0.1" in str(caught.value)
    assert "pw-secret" not in str(caught.value)


async def test_an_upgrade_from_the_previous_release_keeps_its_tokens(
    engine: AsyncEngine, database: DatabaseURL
) -> None:
    """A database made by the release before runtime administration (at 0002) migrates."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from service.store.schema import api_tokens, changes

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_to, "0002")
        await connection.execute(
            api_tokens.insert().values(
                id="abc123",
                name="crm",
                sha256="0" * 64,
                scopes="profiles:read",
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
                created_by="cli",
            )
        )
    assert await db.upgrade(engine, database) == ("0002", db.head())
    async with engine.connect() as connection:
        tokens = (await connection.execute(select(api_tokens.c.id))).scalars().all()
        counters = (await connection.execute(select(changes))).all()
    assert tokens == ["abc123"]
    assert [(row.name, row.counter) for row in counters] == [("clients", 0)]
