"""Real OAuth clients that no one here wrote, against a real server process.

Authlib's ``AsyncOAuth2Client`` (client_secret_basic and client_secret_post,
plus its RFC 7662 and RFC 7009 calls) and requests-oauthlib's
``BackendApplicationClient``, each as its documentation shows it.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from oauthlib.oauth2 import BackendApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from tests.conftest import SECRET, sign
from tests.oauth_clients import secret_hash
from tests.servers import Server, config_toml, free_port, start_server, verify

pytestmark = pytest.mark.e2e

CRM_SECRET = "crm-" + "k" * 40
GATEWAY_SECRET = "gateway-" + "g" * 40
#: `:` `+` `/` `%` `&` `=`: each changes meaning under RFC 6749 §2.3.1's form-encoding.
SPECIAL = "a:b+c/d%e&f=g" + "s" * 32


def clients_toml() -> str:
    return f"""
[clients."crm-sync"]
secret_hashes = ["{secret_hash(CRM_SECRET)}"]
scopes = ["profiles:read", "profiles:write"]

[clients."special"]
secret_hashes = ["{secret_hash(SPECIAL)}"]
scopes = ["profiles:read"]

[clients."api-gateway"]
secret_hashes = ["{secret_hash(GATEWAY_SECRET)}"]
scopes = ["tokens:check"]
introspect = true
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    config = config_toml(f"http://127.0.0.1:{port}", extra_shop=clients_toml())
    server = start_server(tmp_path_factory.mktemp("oauth-e2e"), config, port=port)
    yield server
    log = server.stop()
    for secret in (CRM_SECRET, SPECIAL, GATEWAY_SECRET, SECRET):
        assert secret not in log
    assert "eyJ" not in log


def token_url(server: Server) -> str:
    return f"{server.url}/oauth/token"


async def authlib_token(server: Server, client_id: str, secret: str, method: str) -> Any:
    async with AsyncOAuth2Client(
        client_id, secret, token_endpoint_auth_method=method, scope="profiles:read"
    ) as client:
        return await client.fetch_token(token_url(server), grant_type="client_credentials")


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_async_client(server: Server, method: str) -> None:
    token = asyncio.run(authlib_token(server, "crm-sync", CRM_SECRET, method))
    assert token["token_type"] == "Bearer" and token["scope"] == "profiles:read"
    assert token["expires_in"] == 3600 and token["expires_at"] > 0
    claims = verify(token["access_token"], server)  # JWKS, key by kid, full check
    assert claims["sub"] == claims["client_id"] == "crm-sync"
    assert claims["token_use"] == "client_credentials" and "shop" not in claims


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_with_a_secret_full_of_special_characters(server: Server, method: str) -> None:
    # Authlib's Basic skips the form-encoding: the server's as-sent fallback accepts it.
    token = asyncio.run(authlib_token(server, "special", SPECIAL, method))
    assert verify(token["access_token"], server)["sub"] == "special"


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_with_a_wrong_secret_gets_invalid_client(server: Server, method: str) -> None:
    from authlib.integrations.base_client import OAuthError

    with pytest.raises(OAuthError) as info:
        asyncio.run(authlib_token(server, "crm-sync", "wrong-" + "x" * 40, method))
    assert info.value.error == "invalid_client"


@pytest.fixture
def plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    # oauthlib refuses http:// unless told: the test server is plain HTTP on loopback.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.mark.usefixtures("plain_http")
def test_requests_oauthlib_backend_application_client(server: Server) -> None:
    client = BackendApplicationClient(client_id="crm-sync")
    session = OAuth2Session(client=client)
    # As its documentation shows: the pair goes in HTTP Basic (requests' HTTPBasicAuth).
    token = session.fetch_token(
        token_url=token_url(server), client_id="crm-sync", client_secret=CRM_SECRET
    )
    assert token["token_type"] == "Bearer"
    assert set(token["scope"]) == {"profiles:read", "profiles:write"}
    assert verify(token["access_token"], server)["token_use"] == "client_credentials"


@pytest.mark.usefixtures("plain_http")
def test_requests_oauthlib_with_the_pair_in_the_body(server: Server) -> None:
    session = OAuth2Session(client=BackendApplicationClient(client_id="special"))
    token = session.fetch_token(
        token_url=token_url(server),
        client_id="special",
        client_secret=SPECIAL,
        include_client_id=True,
    )
    assert verify(token["access_token"], server)["sub"] == "special"


@pytest.mark.usefixtures("plain_http")
def test_requests_basic_auth_with_special_characters(server: Server) -> None:
    session = OAuth2Session(client=BackendApplicationClient(client_id="special"))
    token = session.fetch_token(
        token_url=f"{server.url}/v1/oauth:token", auth=HTTPBasicAuth("special", SPECIAL)
    )
    assert verify(token["access_token"], server)["sub"] == "special"


async def introspect_and_revoke(server: Server, token: str) -> tuple[Any, Any, Any]:
    async with AsyncOAuth2Client(
        "api-gateway",
        GATEWAY_SECRET,
        token_endpoint_auth_method="client_secret_basic",
        revocation_endpoint_auth_method="client_secret_basic",
    ) as gateway:
        before = await gateway.introspect_token(f"{server.url}/oauth/introspect", token=token)
        revoked = await gateway.revoke_token(
            f"{server.url}/oauth/revoke", token=token, token_type_hint="access_token"
        )
        after = await gateway.introspect_token(f"{server.url}/oauth/introspect", token=token)
        return before, revoked, after


def customer_token(server: Server, customer_id: str) -> str:
    body = json.dumps({"id": customer_id, "signature": sign(customer_id)}).encode()
    request = urllib.request.Request(
        f"{server.url}/v1/shops/acme.myshopify.com/customer-token",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token: str = json.loads(response.read())["access_token"]
        return token


def me_status(server: Server, token: str) -> int:
    request = urllib.request.Request(
        f"{server.url}/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


def test_authlib_introspects_and_revokes_a_customer_token(server: Server) -> None:
    token = customer_token(server, "4242")
    assert me_status(server, token) == 200
    before, revoked, after = asyncio.run(introspect_and_revoke(server, token))
    assert before.status_code == 200 and before.json()["active"] is True
    assert before.json()["sub"] == "4242" and before.json()["shop"] == "acme.myshopify.com"
    assert revoked.status_code == 200 and revoked.content == b""
    assert after.json() == {"active": False}
    # Refused by /v1/me too, although its signature and exp are still good.
    assert me_status(server, token) == 401
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "4242"


def test_a_client_token_is_refused_where_a_customer_token_is_expected(server: Server) -> None:
    token = asyncio.run(authlib_token(server, "crm-sync", CRM_SECRET, "client_secret_post"))
    assert me_status(server, token["access_token"]) == 401


def test_the_metadata_document_describes_this_server(server: Server) -> None:
    url = f"{server.url}/.well-known/oauth-authorization-server"
    with urllib.request.urlopen(url, timeout=10) as response:
        document = json.loads(response.read())
    assert document["issuer"] == server.url
    assert document["token_endpoint"] == token_url(server)
    assert document["scopes_supported"] == ["profiles:read", "profiles:write", "tokens:check"]
