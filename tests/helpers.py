"""Helpers that several test modules share (fixtures live in conftest.py).

Other helper modules, each for one kind of part: ``servers`` (real server
processes), ``redis_server``, ``databases``, ``storefront`` and ``shopify_theme``
(Chromium and the theme), ``oauth`` (clients and their requests), ``examples``
(the docs' examples), ``strategies`` (hypothesis).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from service.config import StoreConfig
from service.config.limits import Rate
from service.config.state import RedisURL, parse_state
from service.config.store import DatabaseURL
from service.state.redis import RedisState
from service.store import db
from service.store.apitokens import ApiTokenStore
from service.support.secret import Secret
from tests.conftest import ISSUER, SHOP, Clock, admin_password_hash
from tests.databases import sqlite_database
from tests.oauth_clients import GATEWAY_TOML
from tests.servers import config_toml

# -- HTTP: the customer-token endpoint and error bodies ------------------------------------

URL = f"/v1/shops/{SHOP}/customer-token"


#: The fields of every token response, for every grant (the 200 rows of
#: the customer-token endpoint and of /oauth/token).
TOKEN_KEYS = {
    "access_token",
    "token_type",
    "expires_in",
    "expires",
    "identifier",
    "scope",
    "token",
    "expiry",
}


def post_json(client: TestClient, body: Any, **headers: str) -> Any:
    return client.post(
        URL,
        content=json.dumps(body),
        headers={"Content-Type": "application/json", **headers},
    )


def assert_error(response: Any, status: int, error: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, str] = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    assert body["error_description"]
    return body


# -- Shopify's App Proxy: its signature, as Shopify documents it ---------------------------

PROXY_SECRET = "shpss_" + "p" * 32


def shopify_sign(params: list[tuple[str, str]], secret: str = PROXY_SECRET) -> str:
    """Shopify's reference algorithm, written out independently of the service."""
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    message = "".join(sorted(f"{k}={','.join(v)}" for k, v in grouped.items()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def proxied_query(
    clock: Clock, customer: str = "42", *, extra: list[tuple[str, str]] | None = None
) -> list[tuple[str, str]]:
    params = [
        *(extra or []),
        ("shop", SHOP),
        ("logged_in_customer_id", customer),
        ("path_prefix", "/apps/shapes"),
        ("timestamp", str(int(clock()))),
    ]
    return [*params, ("signature", shopify_sign(params))]


# -- state: a RedisState on a test server ---------------------------------------------

#: The limits of a test state backend, and the longest token it must remember.
RATES = {"per_customer": Rate(2, 60), "per_ip": Rate(3, 60), "per_client": Rate(5, 60)}
MAX_TTL = 900


def redis_state(url: str, clock: Clock, **options: Any) -> RedisState:
    """A RedisState on the test server, on the test's clock, under a prefix of its own."""
    target = parse_state(url)
    assert isinstance(target, RedisURL)
    prefix = f"test-{secrets.token_hex(6)}:"
    options = {"max_token_ttl": MAX_TTL, "now": clock, "prefix": prefix, **options}
    return RedisState.from_url(target, RATES, **options)


# -- store: a migrated database and the dashboard's settings ---------------------------

SESSION_SECRET = "session-secret-" + "z" * 32
SCOPES = ("profiles:read", "profiles:write", "orders:read")


def store_config(database: DatabaseURL, *, admin: bool = True) -> StoreConfig:
    return StoreConfig(
        database=database,
        api_scopes=SCOPES,
        admin_password_hash=Secret(admin_password_hash()) if admin else None,
        session_secret=Secret(SESSION_SECRET) if admin else None,
    )


def migrated(directory: Path) -> DatabaseURL:
    database = sqlite_database(directory)
    db.prepare(database, migrate=True)
    return database


def make_token(database: DatabaseURL, scopes: list[str], name: str = "terraform") -> str:
    async def create() -> str:
        engine = db.create_engine(database)
        try:
            store = ApiTokenStore(engine, issuer=ISSUER, scopes=("profiles:read",))
            _, token = await store.create(
                name=name, scopes=scopes, expires_in=None, created_by="cli"
            )
            return token
        finally:
            await engine.dispose()

    return asyncio.run(create())


def write_config(directory: Path, database: str | None) -> Path:
    extra = (
        f'database = "{database}"\napi_scopes = {json.dumps(list(SCOPES))}\n' if database else ""
    )
    config = directory / "shapestoken.toml"
    config.write_text(
        config_toml("https://tokens.example.com", extra=extra, extra_shop=GATEWAY_TOML)
    )
    return config
