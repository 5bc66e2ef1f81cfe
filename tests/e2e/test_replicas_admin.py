"""Runtime administration across two replicas on one Redis and one PostgreSQL.

An administrator's script calls the admin API on one replica; the other sees
the change within 2 s (its check of the database's change counter), with no
restart. A real client that no one here wrote (Authlib's ``AsyncOAuth2Client``)
asks both for tokens.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from service.config.store import database_url
from service.store import db
from tests.databases import Postgres
from tests.helpers import make_token
from tests.redis_server import RedisServer
from tests.replicas import PER_CLIENT, SHOP, replica_config, start_replicas
from tests.servers import Server, call, free_port, mint

pytestmark = pytest.mark.e2e

API = "/admin/api/v1"
#: Every replica applies a change within this many seconds.
WITHIN = 2.0


@pytest.fixture(scope="module")
def redis_for_admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("admin-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shared_database(postgres: Postgres) -> str:
    url = postgres.create()
    db.prepare(postgres.url(url), migrate=True)
    return url


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, redis_for_admin: RedisServer, shared_database: str
) -> Iterator[tuple[Server, Server]]:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    store = f'database = "{shared_database}"\napi_scopes = ["profiles:read"]\n'
    # The per-client limit is not under test here: each step asks both replicas for tokens.
    config = store + replica_config(issuer, redis_for_admin.url).replace(
        f'per_client = "{PER_CLIENT}/hour"', 'per_client = "1000/minute"'
    )
    assert 'per_client = "1000/minute"' in config
    one, other = start_replicas(tmp_path_factory, config, port)
    yield one, other
    for server in (one, other):
        log = server.stop()
        assert "Traceback" not in log


@pytest.fixture(scope="module")
def admin_token(shared_database: str) -> str:
    return make_token(database_url(shared_database, Path(".")), ["admin"])


def api(server: Server, token: str, method: str, path: str, body: object = None) -> Any:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body).encode()
    return call(server, method, API + path, data, headers)


def fetch(server: Server, client_id: str, secret: str) -> bool:
    """Whether Authlib's client gets a client_credentials token from ``server``."""

    async def run() -> bool:
        async with AsyncOAuth2Client(
            client_id, secret, token_endpoint_auth_method="client_secret_basic"
        ) as client:
            try:
                token = await client.fetch_token(
                    f"{server.url}/oauth/token", grant_type="client_credentials"
                )
            except OAuthError as exc:
                assert exc.error == "invalid_client", exc
                return False
            return bool(token["access_token"])

    return asyncio.run(run())


def within(seconds: float, check: Callable[[], bool]) -> float:
    """How long until ``check()`` holds; fails past ``seconds``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "not within the bound"
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_runtime_client_reaches_every_replica_and_leaves_them(
    replicas: tuple[Server, Server], admin_token: str
) -> None:
    one, other = replicas
    status, _, created = api(
        one, admin_token, "POST", "/clients", {"client_id": "billing", "scopes": ["a:read"]}
    )
    assert status == 201, created
    secret = created["client_secret"]
    assert fetch(one, "billing", secret)  # the replica that made it: at once
    within(WITHIN, lambda: fetch(other, "billing", secret))

    # Rotation on the other replica: the new secret works everywhere, the old one for a while.
    status, _, rotated = api(
        other, admin_token, "POST", "/clients/billing/secret", {"keep_previous_seconds": 3}
    )
    assert status == 200, rotated
    new, rotated_at = rotated["client_secret"], time.monotonic()
    assert fetch(other, "billing", new)
    within(WITHIN, lambda: fetch(one, "billing", new))
    assert fetch(one, "billing", secret) and fetch(other, "billing", secret)
    time.sleep(max(0.0, 3.2 - (time.monotonic() - rotated_at)))
    assert not fetch(one, "billing", secret) and not fetch(other, "billing", secret)
    assert fetch(one, "billing", new) and fetch(other, "billing", new)

    # Disabled on one: both refuse within the bound.
    status, _, _ = api(one, admin_token, "PATCH", "/clients/billing", {"disabled": True})
    assert status == 200
    assert not fetch(one, "billing", new)
    within(WITHIN, lambda: not fetch(other, "billing", new))

    status, _, page = api(other, admin_token, "GET", "/audit")
    assert status == 200
    acts = [(event["action"], event["target"]) for event in page["events"]]
    assert acts[:3] == [
        ("client.update", "billing"),
        ("client.rotate_secret", "billing"),
        ("client.create", "billing"),
    ]
    actors = {event["actor"] for event in page["events"][:3]}
    assert len(actors) == 1 and actors.pop().startswith("token:")


def test_a_block_from_the_api_holds_on_every_replica(
    replicas: tuple[Server, Server], admin_token: str
) -> None:
    one, other = replicas
    assert mint(other, "7007")[0] == 200
    status, _, block = api(
        one,
        admin_token,
        "POST",
        "/blocks",
        {"shop": SHOP, "customer_id": "7007", "reason": "fraud"},
    )
    assert status == 201, block
    assert block["by"].startswith("token:")
    for server in replicas:
        status, _, body = mint(server, "7007")
        assert (status, body["error"]) == (403, "customer_blocked")
    status, _, listed = api(other, admin_token, "GET", "/blocks")
    assert [(b["customer_id"], b["reason"], b["by"]) for b in listed["blocks"]] == [
        ("7007", "fraud", block["by"])
    ]
    assert api(other, admin_token, "DELETE", f"/blocks/{SHOP}/7007")[0] == 204
    assert api(other, admin_token, "DELETE", f"/blocks/{SHOP}/7007")[0] == 404
    status, _, page = api(one, admin_token, "GET", "/audit?limit=2")
    assert [event["action"] for event in page["events"]] == ["block.delete", "block.create"]
