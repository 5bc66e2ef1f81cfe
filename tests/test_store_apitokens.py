"""API tokens in SQL, on SQLite and on a real PostgreSQL (service/store/apitokens.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config.store import DatabaseURL, database_url
from service.errors import StoreUnavailable
from service.store import db
from service.store.apitokens import CACHE_TTL, ApiTokenStore
from service.store.schema import api_tokens
from service.store.stk import TokenInputError, new_token, token_hash, utc
from tests.conftest import Clock
from tests.servers import free_port

pytestmark = pytest.mark.anyio

ISSUER = "https://tokens.example.com"
SCOPES = ("profiles:read", "profiles:write", "orders:read")


@pytest.fixture
async def engine(database: DatabaseURL, anyio_backend: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(database)
    await db.upgrade(engine, database)
    yield engine
    await engine.dispose()


def make_store(engine: AsyncEngine, clock: Clock) -> ApiTokenStore:
    return ApiTokenStore(engine, issuer=ISSUER, scopes=SCOPES, now=clock, monotonic=clock)


@pytest.fixture
def store(engine: AsyncEngine, clock: Clock) -> ApiTokenStore:
    return make_store(engine, clock)


async def stored_rows(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as connection:
        result = await connection.execute(select(api_tokens))
        return [dict(row._mapping) for row in result]


async def test_create_stores_only_the_hash(
    store: ApiTokenStore, engine: AsyncEngine, clock: Clock
) -> None:
    record, token = await store.create(
        name=" crm-sync ",
        scopes=["orders:read", "profiles:read"],
        expires_in=90 * 86400,
        created_by="cli:ops",
    )
    assert record.name == "crm-sync" and record.scopes == ("profiles:read", "orders:read")
    assert record.created_at == utc(clock.now)
    assert record.expires_at == utc(clock.now) + timedelta(days=90)
    (row,) = await stored_rows(engine)
    assert row["sha256"] == token_hash(token)
    secret_part = token[4:47]
    assert all(secret_part not in str(value) for value in row.values())
    assert row["scopes"] == "profiles:read orders:read" and row["created_by"] == "cli:ops"
    assert await store.get(record.id) == record


async def test_introspection_of_an_active_token(store: ApiTokenStore, clock: Clock) -> None:
    record, token = await store.create(
        name="pos", scopes=["orders:read"], expires_in=3600, created_by="dashboard"
    )
    assert await store.introspect(token) == {
        "scope": "orders:read",
        "sub": f"api-token:{record.id}",
        "token_type": "Bearer",
        "exp": int(clock.now) + 3600,
        "iat": int(clock.now),
        "iss": ISSUER,
    }
    forever, token = await store.create(
        name="crm", scopes=SCOPES, expires_in=None, created_by="dashboard"
    )
    answer = await store.introspect(token)
    assert answer is not None and "exp" not in answer


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "stk_", new_token()[:-1] + "0", "Bearer " + new_token(), "x" * 5000],
    ids=["empty", "garbage", "prefix", "bad-checksum", "with-scheme", "long"],
)
async def test_unknown_malformed_and_garbage_tokens_are_inactive(
    store: ApiTokenStore, token: str
) -> None:
    assert await store.introspect(token) is None


async def test_a_well_formed_unknown_token_is_inactive(store: ApiTokenStore) -> None:
    assert await store.introspect(new_token()) is None


async def test_revoke_keeps_the_row_and_takes_effect_at_once(
    store: ApiTokenStore, engine: AsyncEngine, clock: Clock
) -> None:
    record, token = await store.create(
        name="crm", scopes=["profiles:read"], expires_in=None, created_by="cli:ops"
    )
    assert await store.introspect(token) is not None  # now cached
    clock.advance(5)
    revoked = await store.revoke(record.id, by="cli")
    assert revoked is not None and revoked.revoked_at == utc(clock.now)
    assert await store.introspect(token) is None
    (row,) = await stored_rows(engine)
    assert row["revoked_at"] == utc(clock.now)
    # Revoking again keeps the first time; an unknown id is None.
    clock.advance(5)
    again = await store.revoke(record.id, by="cli")
    assert again is not None and again.revoked_at == revoked.revoked_at
    assert await store.revoke("nosuchtoken2", by="cli") is None
    assert [t.id for t in await store.list()] == [record.id]
    assert await store.list(include_inactive=False) == []


async def test_a_revocation_elsewhere_is_seen_within_the_cache_bound(
    engine: AsyncEngine, clock: Clock
) -> None:
    replica, cli = make_store(engine, clock), make_store(engine, clock)
    record, token = await cli.create(
        name="crm", scopes=["profiles:read"], expires_in=None, created_by="cli:ops"
    )
    assert await replica.introspect(token) is not None
    await cli.revoke(record.id, by="cli")
    clock.advance(CACHE_TTL - 1)
    assert await replica.introspect(token) is not None  # the documented staleness
    clock.advance(1)
    assert await replica.introspect(token) is None


async def test_expiry_holds_even_from_the_cache(store: ApiTokenStore, clock: Clock) -> None:
    _, token = await store.create(
        name="short", scopes=["profiles:read"], expires_in=3600, created_by="cli:ops"
    )
    assert await store.introspect(token) is not None
    clock.advance(3599)
    assert await store.introspect(token) is not None
    clock.advance(1)
    assert await store.introspect(token) is None
    assert await store.list(include_inactive=False) == []
    assert [t.status(utc(clock.now)) for t in await store.list()] == ["expired"]


async def test_last_used_is_written_at_most_once_a_minute(
    engine: AsyncEngine, clock: Clock
) -> None:
    one, other = make_store(engine, clock), make_store(engine, clock)
    record, token = await one.create(
        name="crm", scopes=["profiles:read"], expires_in=None, created_by="cli:ops"
    )
    start = utc(clock.now)
    assert (await stored_rows(engine))[0]["last_used_at"] is None
    await one.lookup(token)
    assert (await stored_rows(engine))[0]["last_used_at"] == start
    clock.advance(59)
    await one.lookup(token)
    await other.lookup(token)  # another process: the UPDATE's own condition holds
    assert (await stored_rows(engine))[0]["last_used_at"] == start
    clock.advance(1)
    await one.lookup(token)
    assert (await stored_rows(engine))[0]["last_used_at"] == utc(clock.now)
    listed = await one.get(record.id)
    assert listed is not None and listed.last_used_at == utc(clock.now)


async def test_bad_input_names_the_field_and_stores_nothing(
    store: ApiTokenStore, engine: AsyncEngine
) -> None:
    cases = [
        ({"name": "", "scopes": ["profiles:read"]}, "name"),
        ({"name": "x" * 101, "scopes": ["profiles:read"]}, "name"),
        ({"name": "crm", "scopes": []}, "scope"),
        ({"name": "crm", "scopes": ["admin:everything"]}, "scope"),
    ]
    for fields, field in cases:
        with pytest.raises(TokenInputError) as caught:
            await store.create(**fields, expires_in=None, created_by="cli:ops")  # type: ignore[arg-type]
        assert caught.value.field == field
    assert await stored_rows(engine) == []


async def test_the_list_is_newest_first(store: ApiTokenStore, clock: Clock) -> None:
    for name in ("first", "second", "third"):
        await store.create(name=name, scopes=["profiles:read"], expires_in=None, created_by="t")
        clock.advance(1)
    assert [t.name for t in await store.list()] == ["third", "second", "first"]


async def test_a_database_that_is_down_fails_closed(clock: Clock, anyio_backend: str) -> None:
    down = database_url(f"postgresql://u:p@127.0.0.1:{free_port()}/none", Path("."))
    engine = db.create_engine(down)
    store = make_store(engine, clock)
    try:
        # Garbage never reaches the database, so it is simply inactive.
        assert await store.introspect("stk_garbage") is None
        with pytest.raises(StoreUnavailable):
            await store.introspect(new_token())
        with pytest.raises(StoreUnavailable):
            await store.create(name="x", scopes=["profiles:read"], expires_in=None, created_by="t")
    finally:
        await engine.dispose()


async def test_an_outage_is_logged_once_and_its_end_too(
    tmp_path: Path, clock: Clock, anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    database = database_url("sqlite:///tokens.db", tmp_path)
    engine = db.create_engine(database)
    await db.upgrade(engine, database)
    store = make_store(engine, clock)
    try:
        _, token = await store.create(
            name="crm", scopes=["profiles:read"], expires_in=None, created_by="t"
        )
        await engine.dispose()
        (tmp_path / "tokens.db").rename(tmp_path / "kept.db")
        (tmp_path / "tokens.db").mkdir()  # no longer a database file
        for _ in range(3):
            with pytest.raises(StoreUnavailable):
                await store.introspect(token)
        down = [r for r in caplog.records if r.getMessage().startswith("database unavailable")]
        assert len(down) == 1
        assert token not in caplog.text and token_hash(token) not in caplog.text
        (tmp_path / "tokens.db").rmdir()
        (tmp_path / "kept.db").rename(tmp_path / "tokens.db")
        assert await store.introspect(token) is not None
        assert await store.introspect(new_token()) is None
        back = [r for r in caplog.records if r.getMessage().startswith("database available")]
        assert len(back) == 1
    finally:
        await engine.dispose()
