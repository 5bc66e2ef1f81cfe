"""Real databases for the store tests: a file SQLite, and PostgreSQL.

PostgreSQL is ``$SHAPESTOKEN_TEST_DATABASE_URL`` or the local server at
127.0.0.1:5432 (``scripts/test`` makes sure one answers). Every test run
creates its own uniquely named databases and drops them at the end; a server
that does not answer fails the tests, it never skips them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from service.config.store import DatabaseURL, database_url

PG_ENV = "SHAPESTOKEN_TEST_DATABASE_URL"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def sqlite_database(directory: Path, name: str = "shapestoken.db") -> DatabaseURL:
    return database_url(f"sqlite:///{name}", directory)


class Postgres:
    """Makes throwaway databases on one server, and drops them all at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def run(self, statement: str) -> None:
        """Run one statement as the administrator (outside any test database)."""

        async def run() -> None:
            connection = await asyncpg.connect(self.admin_url, timeout=10)
            try:
                await connection.execute(statement)
            finally:
                await connection.close()

        # In a thread of its own: a browser test's thread already runs Playwright's loop.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run()).result()

    def check(self) -> None:
        try:
            self.run("SELECT 1")
        except (OSError, asyncpg.PostgresError) as exc:
            pytest.fail(
                f"PostgreSQL does not answer at {self.admin_url} ({exc}); the store tests "
                f"need one: run ./scripts/test (it starts one) or set {PG_ENV}.",
                pytrace=False,
            )

    def create(self) -> str:
        """A new, empty database; its postgresql:// URL."""
        name = f"shapestoken_test_{os.getpid()}_{secrets.token_hex(4)}"
        self.run(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        base, _, _ = self.admin_url.partition("?")
        return f"{base.rsplit('/', 1)[0]}/{name}"

    def url(self, raw: str) -> DatabaseURL:
        return database_url(raw, Path("."))

    def drop_all(self) -> None:
        for name in self.created:
            # WITH (FORCE), PostgreSQL 13+: a test's pooled connections do not block it.
            self.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()
