"""An API-token revocation on one replica holds on the other within 2 s (Redis pub/sub).

Two real server processes share a Redis and a PostgreSQL database, as behind
a load balancer. Both have looked a token up (so both cache it); it is revoked
from the command line, or from one replica's dashboard, and the other replica
answers ``{"active": false}`` within 2 s, where its cache alone would have
kept it active for up to 30 s.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from service.config.store import database_url
from service.signing import keys
from service.store import db
from tests.conftest import ADMIN_PASSWORD, admin_password_hash
from tests.databases import Postgres
from tests.helpers import PROXY_SECRET
from tests.redis_server import RedisServer
from tests.replicas import introspect, replica_config
from tests.servers import Server, free_port, shapestoken, start_server

pytestmark = pytest.mark.e2e

#: The bound the service promises with Redis, in seconds.
REACH = 2.0


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, postgres: Postgres
) -> Iterator[tuple[Server, Server]]:
    redis = RedisServer(tmp_path_factory.mktemp("redis")).start()
    database = postgres.create()
    db.prepare(database_url(database, tmp_path_factory.getbasetemp()), migrate=True)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    store = (
        f'database = "{database}"\n'
        'api_scopes = ["profiles:read"]\n'
        'admin_password_hash = "env:ADMIN_PASSWORD_HASH"\n'
        'session_secret = "env:SESSION_SECRET"\n'
    )
    config = replica_config(issuer, redis.url).replace(
        f'state = "{redis.url}"\n', f'state = "{redis.url}"\n{store}'
    )
    env = {
        "SHAPESTOKEN_SIGNING_KEYS": keys.generate("ES256").pem().decode(),
        "ADMIN_PASSWORD_HASH": admin_password_hash(),
        "SESSION_SECRET": "s" * 48,
        "PROXY_SECRET": PROXY_SECRET,
    }
    servers: list[Server] = []
    try:
        servers.append(
            start_server(
                tmp_path_factory.mktemp("one"), config, env=env, port=port, generate_key=False
            )
        )
        servers.append(
            start_server(tmp_path_factory.mktemp("other"), config, env=env, generate_key=False)
        )
        yield servers[0], servers[1]
    finally:
        logs = [server.stop() for server in servers]
        redis.stop()
    assert all("Traceback" not in log for log in logs)


def create(server: Server) -> tuple[str, str]:
    made = shapestoken(
        "tokens", "create", "--name", "crm", "--scope", "profiles:read", env=server.env
    )
    assert made.returncode == 0, made.stderr
    token_id = re.search(r"created API token (\w+)", made.stderr)
    assert token_id is not None
    return token_id[1], made.stdout.strip()


def seconds_until_inactive(server: Server, token: str) -> float:
    started = time.monotonic()
    while introspect(server, token):
        assert time.monotonic() - started < 35, "still active after the cache TTL"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_revocation_from_the_cli_reaches_the_other_replica_within_2_s(
    replicas: tuple[Server, Server],
) -> None:
    one, other = replicas
    token_id, token = create(one)
    assert introspect(one, token) and introspect(other, token)  # both cache it now
    revoked = shapestoken("tokens", "revoke", token_id, env=one.env)
    assert revoked.returncode == 0, revoked.stderr
    assert "refused everywhere within 2 s" in revoked.stdout
    for server in replicas:
        assert seconds_until_inactive(server, token) < REACH


def test_a_revocation_from_a_dashboard_reaches_the_other_replica_within_2_s(
    replicas: tuple[Server, Server],
) -> None:
    one, other = replicas
    token_id, token = create(other)
    kept_id, kept = create(other)
    assert introspect(one, token) and introspect(other, token)
    with httpx.Client(base_url=one.url) as browser:
        page = browser.get("/admin/login")
        signed_in = browser.post(
            "/admin/login", data={"csrf": csrf_of(page.text), "password": ADMIN_PASSWORD}
        )
        assert signed_in.status_code == 303, signed_in.text
        confirm = browser.get(f"/admin/tokens/{token_id}/revoke")
        assert "refused everywhere within 2 seconds" in confirm.text
        done = browser.post(
            f"/admin/tokens/{token_id}/revoke", data={"csrf": csrf_of(confirm.text)}
        )
        assert done.status_code == 303
        notice = browser.get(done.headers["location"]).text
        assert "refused everywhere within 2 seconds" in notice
    assert seconds_until_inactive(other, token) < REACH
    assert not introspect(one, token)
    assert introspect(other, kept) and introspect(one, kept)  # only that token


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match[1]
