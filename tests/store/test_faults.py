"""A database that hangs: introspection answers 503 within its bound, never a stalled caller.

The faults are real: a "PostgreSQL" that accepts connections and never says a
word, a PostgreSQL table locked by another connection, a SQLite file locked by
another process's exclusive transaction. Each time 41 introspections of
uncached ``stk_`` tokens run at once, and every one gets its 503 well within
3 s (the bounds add up to about 2 s; before they did, these took 10 to 40 s).
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest
from starlette.testclient import TestClient

from service.config import StoreConfig
from service.config.store import DatabaseURL, database_url
from service.signing.keys import KeyRing
from service.store import db
from service.store.stk import new_token
from service.web.app import create_app
from service.wiring import build_components
from tests.conftest import ISSUER, Clock, make_settings
from tests.oauth_clients import CLIENTS, introspect

SCOPES = ("profiles:read",)
CALLERS = 41
#: What a caller may wait at most: the bounds (about 2 s in all) with room for a busy machine.
BOUND = 3.0


def serve(database: DatabaseURL, keyring: KeyRing, clock: Clock) -> TestClient:
    settings = make_settings(clients=CLIENTS, store=StoreConfig(database, api_scopes=SCOPES))
    components = build_components(settings, keyring=keyring, now=clock)
    return TestClient(
        create_app(settings, components=components), base_url=ISSUER, raise_server_exceptions=False
    )


def introspect_at_once(client: TestClient, tokens: list[str]) -> list[tuple[int, str, float]]:
    """Each token introspected concurrently: status, ``error`` (or "active") and seconds taken."""

    def one(token: str) -> tuple[int, str, float]:
        started = time.monotonic()
        response = introspect(client, token)
        elapsed = time.monotonic() - started
        body = response.json()
        if response.status_code == 503:
            assert response.headers["retry-after"] == "1"
            return 503, body["error"], elapsed
        return response.status_code, str(body.get("active")), elapsed

    with ThreadPoolExecutor(len(tokens)) as pool:
        return list(pool.map(one, tokens))


def assert_all_refused_in_time(results: list[tuple[int, str, float]]) -> None:
    assert {(status, error) for status, error, _ in results} == {(503, "temporarily_unavailable")}
    slowest = max(elapsed for _, _, elapsed in results)
    assert slowest < BOUND, f"a caller waited {slowest:.1f} s"


@pytest.fixture
def hung_postgres() -> Iterator[int]:
    """A port where connections are accepted (by the kernel) and nothing is ever answered."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(256)
        yield listener.getsockname()[1]


def test_a_hung_postgresql_is_a_503_within_the_bound(
    hung_postgres: int, keyring: KeyRing, clock: Clock
) -> None:
    hung = database_url(f"postgresql://u:p@127.0.0.1:{hung_postgres}/tokens", Path("."))
    with serve(hung, keyring, clock) as client:
        results = introspect_at_once(client, [new_token() for _ in range(CALLERS)])
    assert_all_refused_in_time(results)


def test_a_locked_table_is_a_503_within_the_bound_and_service_resumes(
    database: DatabaseURL, keyring: KeyRing, clock: Clock
) -> None:
    db.prepare(database, migrate=True)
    with serve(database, keyring, clock) as client:
        components = client.app.state.components  # type: ignore[attr-defined]
        assert client.portal is not None
        _, token = client.portal.call(
            lambda: components.token_store.create(
                name="crm", scopes=SCOPES, expires_in=None, created_by="t"
            )
        )
        with hold_lock(database):
            results = introspect_at_once(
                client, [new_token() for _ in range(CALLERS - 1)] + [token]
            )
        assert_all_refused_in_time(results)
        # The lock is gone: the same process answers again, no restart.
        assert introspect(client, token).json()["active"] is True


class hold_lock:
    """Another client holds a lock that every read of the tokens table waits for."""

    def __init__(self, database: DatabaseURL) -> None:
        self.database = database
        self.loop = asyncio.new_event_loop()
        self.pg: asyncpg.Connection | None = None
        self.sqlite: sqlite3.Connection | None = None

    def __enter__(self) -> None:
        if self.database.sqlite_path is not None:
            # A rollback journal (SQLite's default): an exclusive lock keeps readers out.
            self.sqlite = sqlite3.connect(self.database.sqlite_path, isolation_level=None)
            self.sqlite.execute("BEGIN EXCLUSIVE")
            return
        url = self.database.url.reveal().decode().replace("+asyncpg", "")

        async def lock() -> asyncpg.Connection:
            connection = await asyncpg.connect(url)
            await connection.execute("BEGIN; LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE")
            return connection

        self.pg = self.loop.run_until_complete(lock())

    def __exit__(self, *exc: object) -> None:
        if self.sqlite is not None:
            self.sqlite.execute("ROLLBACK")
            self.sqlite.close()
        if self.pg is not None:
            self.loop.run_until_complete(self.pg.close())
        self.loop.close()
