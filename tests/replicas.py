"""Two replicas of one service: their config, a shop, clients, and the limits they share."""

from __future__ import annotations

import hashlib

import pytest

from service.signing import keys
from tests.helpers import PROXY_SECRET
from tests.oauth_clients import introspect_at
from tests.servers import Server, start_server

SHOP = "acme.myshopify.com"


PER_CUSTOMER = 30  # per hour: no event is replenished within a test


PER_CLIENT = 8


#: A confidential client trusted with introspection and revocation (an API).
API_CLIENT, API_SECRET = "fraud-api", "f" * 43


#: A client whose token requests test the per-client limit.
LIMITED_CLIENT, LIMITED_SECRET = "crm-sync", "c" * 43


def replica_config(issuer: str, state: str) -> str:
    return f"""
issuer = "{issuer}"
token_ttl = 900
state = "{state}"

[rate_limits]
per_customer = "{PER_CUSTOMER}/hour"
per_client = "{PER_CLIENT}/hour"
per_ip = "100000/minute"

[shops."{SHOP}"]
id_secrets = ["env:SHOP_ID_SECRET"]
app_proxy_secret = "env:PROXY_SECRET"
dpop = "optional"

[clients."{API_CLIENT}"]
secret_hashes = ["sha256:{hashlib.sha256(API_SECRET.encode()).hexdigest()}"]
scopes = ["profiles:read"]
introspect = true

[clients."{LIMITED_CLIENT}"]
secret_hashes = ["sha256:{hashlib.sha256(LIMITED_SECRET.encode()).hexdigest()}"]
scopes = ["profiles:read"]
"""


def introspect(server: Server, token: str) -> bool:
    active: bool = introspect_at(server.url, token, (API_CLIENT, API_SECRET))["active"]
    return active


def start_replicas(
    tmp_path_factory: pytest.TempPathFactory, config: str, port: int
) -> tuple[Server, Server]:
    """Two server processes of one ``config``, sharing one signing key; the first on ``port``."""
    env = {
        "SHAPESTOKEN_SIGNING_KEYS": keys.generate("ES256").pem().decode(),
        "PROXY_SECRET": PROXY_SECRET,
    }
    one = start_server(
        tmp_path_factory.mktemp("one"), config, env=env, port=port, generate_key=False
    )
    other = start_server(tmp_path_factory.mktemp("other"), config, env=env, generate_key=False)
    return one, other
