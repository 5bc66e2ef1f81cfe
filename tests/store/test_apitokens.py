"""API tokens in SQL, on SQLite and on a real PostgreSQL (service/store/apitokens.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config.store import DatabaseURL, database_url
from service.errors import StateUnavailable, StoreUnavailable
from service.store import db
from service.store.apitokens import CACHE_TTL, UNKNOWN_TTL, ApiTokenStore
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


# -- what the database sees under load ------------------------------------------------------


class Statements:
    """The statements an engine sends about API tokens, counted by their first word."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.seen: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: object, cursor: object, statement: str, *args: object) -> None:
        if "api_tokens" in statement:
            self.seen.append(statement.split()[0].upper())

    def take(self) -> dict[str, int]:
        """How many of each kind since the last call."""
        counts = {kind: self.seen.count(kind) for kind in set(self.seen)}
        self.seen.clear()
        return counts


async def test_concurrent_lookups_of_one_token_make_one_query_and_one_write(
    engine: AsyncEngine, clock: Clock
) -> None:
    one, other = make_store(engine, clock), make_store(engine, clock)
    record, token = await one.create(
        name="crm", scopes=["profiles:read"], expires_in=None, created_by="cli:ops"
    )
    statements = Statements(engine)
    found = await asyncio.gather(*(one.lookup(token) for _ in range(400)))
    assert {found.id for found in found if found is not None} == {record.id}
    assert len([found for found in found if found is not None]) == 400
    # One read (single flight) and one last_used_at write, not one per lookup.
    assert statements.take() == {"SELECT": 1, "UPDATE": 1}
    # Another process: its own one read; the row says it was used this minute.
    await asyncio.gather(*(other.lookup(token) for _ in range(400)))
    assert statements.take() == {"SELECT": 1}
    clock.advance(CACHE_TTL)  # the cache expires; the minute is not over
    await asyncio.gather(*(one.lookup(token) for _ in range(400)))
    assert statements.take() == {"SELECT": 1}
    clock.advance(60 - CACHE_TTL)
    await asyncio.gather(*(one.lookup(token) for _ in range(400)))
    assert statements.take() == {"SELECT": 1, "UPDATE": 1}


async def test_a_made_up_token_is_remembered_as_unknown_for_a_few_seconds(
    store: ApiTokenStore, engine: AsyncEngine, clock: Clock
) -> None:
    statements = Statements(engine)
    made_up = new_token()  # well formed: anyone can compute the checksum
    assert await asyncio.gather(*(store.lookup(made_up) for _ in range(400))) == [None] * 400
    assert statements.take() == {"SELECT": 1}
    clock.advance(UNKNOWN_TTL - 1)
    assert await store.lookup(made_up) is None
    assert statements.take() == {}
    clock.advance(1)
    assert await store.lookup(made_up) is None
    assert statements.take() == {"SELECT": 1}
    # Revoked or expired is for good: remembered as well.
    record, token = await store.create(
        name="crm", scopes=["profiles:read"], expires_in=None, created_by="t"
    )
    await store.revoke(record.id, by="cli")
    statements.take()
    assert [await store.lookup(token) for _ in range(10)] == [None] * 10
    assert statements.take() == {"SELECT": 1}


async def test_a_token_made_here_is_found_at_once_even_if_looked_up_before(
    store: ApiTokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = new_token()
    assert await store.lookup(token) is None  # unknown: remembered for a few seconds
    monkeypatch.setattr("service.store.apitokens.new_token", lambda: token)
    record, made = await store.create(
        name="crm", scopes=["profiles:read"], expires_in=None, created_by="t"
    )
    assert made == token
    found = await store.lookup(token)
    assert found is not None and found.id == record.id


async def test_a_caller_that_gives_up_does_not_cancel_the_others(
    store: ApiTokenStore,
) -> None:
    record, token = await store.create(
        name="crm", scopes=["profiles:read"], expires_in=None, created_by="t"
    )
    first = asyncio.ensure_future(store.lookup(token))
    second = asyncio.ensure_future(store.lookup(token))
    await asyncio.sleep(0)  # both wait for the one query
    first.cancel()
    found = await second
    assert found is not None and found.id == record.id
    assert first.cancelled()


# -- revocations announced by other processes ------------------------------------------------


async def test_an_announced_revocation_is_evicted_at_once(
    engine: AsyncEngine, clock: Clock
) -> None:
    replica, cli = make_store(engine, clock), make_store(engine, clock)
    announced: list[str] = []

    async def announce(token_id: str) -> None:
        announced.append(token_id)
        replica.evict(token_id)  # what the replica's subscription does on the message

    cli.announce = announce
    record, token = await cli.create(
        name="crm", scopes=["profiles:read"], expires_in=None, created_by="cli:ops"
    )
    kept_record, kept = await cli.create(
        name="other", scopes=["profiles:read"], expires_in=None, created_by="cli:ops"
    )
    assert await replica.lookup(token) is not None and await replica.lookup(kept) is not None
    await cli.revoke(record.id, by="cli")
    assert announced == [record.id]
    assert await replica.lookup(token) is None  # no clock moved: evicted, not expired
    assert await replica.lookup(kept) is not None


async def test_a_failed_announcement_keeps_the_revocation(
    engine: AsyncEngine, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_store(engine, clock)

    async def announce(token_id: str) -> None:
        raise StateUnavailable()

    store.announce = announce
    record, token = await store.create(
        name="crm", scopes=["profiles:read"], expires_in=None, created_by="t"
    )
    revoked = await store.revoke(record.id, by="cli")
    assert revoked is not None and revoked.revoked_at is not None
    assert await store.lookup(token) is None
    assert f"refuse the token within {CACHE_TTL} s" in caplog.text


async def test_while_announcements_may_be_missed_the_cache_is_capped(
    engine: AsyncEngine, clock: Clock
) -> None:
    replica, cli = make_store(engine, clock), make_store(engine, clock)
    first, token = await cli.create(
        name="crm", scopes=["profiles:read"], expires_in=None, created_by="cli:ops"
    )
    replica.cap(2)  # its subscription is down
    assert await replica.lookup(token) is not None
    await cli.revoke(first.id, by="cli")  # announced to nobody
    clock.advance(2)
    assert await replica.lookup(token) is not None
    clock.advance(0.5)
    assert await replica.lookup(token) is None  # within the cap, not the 30 s TTL
    # Subscribed again: what was cached during the gap is forgotten (messages were lost).
    second, other = await cli.create(
        name="crm2", scopes=["profiles:read"], expires_in=None, created_by="cli:ops"
    )
    assert await replica.lookup(other) is not None
    await cli.revoke(second.id, by="cli")
    replica.cap(None)
    assert await replica.lookup(other) is None
