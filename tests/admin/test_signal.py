"""Redis pub/sub between replicas (service/admin/signal.py): a change is heard at once."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
from redis.asyncio import Redis

from service.admin.clients import ClientAdmin
from service.admin.runtime import RuntimeClients
from service.admin.signal import ChangeSignal
from service.oauth.registry import ClientRegistry
from service.store import db
from service.store.clients import ClientStore
from tests.conftest import ISSUER, Clock, LogRecords
from tests.databases import sqlite_database
from tests.helpers import redis_state
from tests.redis_server import RedisServer
from tests.servers import free_port

pytestmark = pytest.mark.anyio


async def test_another_replica_reloads_on_the_message_without_polling(
    tmp_path: Path, redis_server: RedisServer, clock: Clock
) -> None:
    database = sqlite_database(tmp_path)
    engine = db.create_engine(database)
    await db.upgrade(engine, database)
    channel = f"test-{secrets.token_hex(4)}"
    one, other = redis_state(redis_server.url, clock), redis_state(redis_server.url, clock)
    store = ClientStore(engine)
    making = RuntimeClients(
        store, ClientRegistry({}), issuer=ISSUER, signal=ChangeSignal(one.client, channel=channel)
    )
    admin = ClientAdmin(store, {}, issuer=ISSUER, changed=making.changed)
    registry = ClientRegistry({})
    hearing = RuntimeClients(store, registry, issuer=ISSUER)
    heard = asyncio.Event()

    async def reload() -> None:
        await hearing.reload()  # the other replica's poll never runs in this test
        heard.set()

    listening = asyncio.create_task(ChangeSignal(other.client, channel=channel).listen(reload))
    try:
        async with asyncio.timeout(10):
            while (await one.client.pubsub_numsub(channel))[0][1] < 1:
                await asyncio.sleep(0.01)  # the subscription is on its way to the server
            await admin.create({"client_id": "billing", "scopes": ["a"]}, "cli")
            await heard.wait()
        assert "billing" in registry.clients
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        for state in (one, other):
            await state.aclose()
        await engine.dispose()


async def test_a_redis_that_cannot_answer_loses_only_the_hint(log_records: LogRecords) -> None:
    signal = ChangeSignal(Redis(host="127.0.0.1", port=free_port()))
    await signal.publish()  # no exception: the change itself is made, the counter holds
    assert "cannot publish a runtime-client change" in log_records.messages[0]
    await signal.client.aclose()
