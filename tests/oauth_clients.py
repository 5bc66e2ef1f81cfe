"""Shared by the OAuth tests: configured clients, their secrets, request helpers."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus

import httpx2 as httpx
import jwt
from starlette.testclient import TestClient

from service.config import ClientConfig
from tests.conftest import AUDIENCE, ORIGIN

CRM = "crm-sync"
CRM_SECRET = "crm-secret-" + "k" * 40
CRM_PREVIOUS = "crm-previous-" + "p" * 40
GATEWAY = "api-gateway"
GATEWAY_SECRET = "gateway-secret-" + "g" * 40
WEB = "storefront-web"
LOYALTY = "https://loyalty.acme.example"
#: RFC 6749 §2.3.1's form-encoding matters for each of these characters.
SPECIAL = "a:b+c/d%e&f=g" + "s" * 32
SPECIAL_CLIENT = "special"


def sha256(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def secret_hash(secret: str) -> str:
    """``secret`` as the config keeps it: ``sha256:`` and 64 hex digits."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


CLIENTS = {
    CRM: ClientConfig(
        CRM,
        secret_hashes=(sha256(CRM_SECRET), sha256(CRM_PREVIOUS)),
        scopes=("profiles:read", "profiles:write"),
        audiences=(AUDIENCE, LOYALTY),
        grant_types=frozenset({"client_credentials"}),
        token_ttl=3600,
    ),
    GATEWAY: ClientConfig(
        GATEWAY,
        secret_hashes=(sha256(GATEWAY_SECRET),),
        scopes=("tokens:check",),
        audiences=(AUDIENCE,),
        grant_types=frozenset({"client_credentials"}),
        introspect=True,
    ),
    WEB: ClientConfig(
        WEB,
        secret_hashes=(),
        scopes=("catalog:read",),
        audiences=(AUDIENCE,),
        grant_types=frozenset({"implicit"}),
        token_ttl=900,
        allowed_origins=frozenset({ORIGIN}),
    ),
    SPECIAL_CLIENT: ClientConfig(
        SPECIAL_CLIENT,
        secret_hashes=(sha256(SPECIAL),),
        scopes=("profiles:read",),
        audiences=(AUDIENCE,),
        grant_types=frozenset({"client_credentials"}),
    ),
}


#: The gateway (an API that checks tokens) as a config file declares it.
GATEWAY_TOML = f"""
[clients."{GATEWAY}"]
secret_hashes = ["sha256:{hashlib.sha256(GATEWAY_SECRET.encode()).hexdigest()}"]
scopes = ["tokens:check"]
introspect = true
"""


def basic(client_id: str, secret: str, *, encode: bool = True) -> dict[str, str]:
    """An Authorization header: form-encoded first (RFC 6749 §2.3.1) or as some clients send it."""
    if encode:
        client_id, secret = quote_plus(client_id, safe=""), quote_plus(secret, safe="")
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def token_form(
    client: TestClient,
    data: Mapping[str, str] | None = None,
    *,
    path: str = "/oauth/token",
    headers: Mapping[str, str] | None = None,
    **fields: str,
) -> Any:
    """POST a form to the token endpoint (``data`` and ``fields`` together)."""
    return client.post(path, data={**(data or {}), **fields}, headers=dict(headers or {}))


def crm_form(
    client: TestClient,
    data: Mapping[str, str] | None = None,
    *,
    path: str = "/oauth/token",
    headers: Mapping[str, str] | None = None,
    **fields: str,
) -> Any:
    """The CRM backend's client-credentials request (secret in the body), plus ``fields``."""
    return token_form(
        client,
        data,
        path=path,
        headers=headers,
        grant_type="client_credentials",
        client_id=CRM,
        client_secret=CRM_SECRET,
        **fields,
    )


def crm_token(client: TestClient, data: Mapping[str, str] | None = None) -> str:
    response = crm_form(client, data)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def web_token(client: TestClient) -> str:
    response = token_form(client, grant_type="implicit", client_id=WEB)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def introspect(client: TestClient, token: str, **extra: str) -> Any:
    """POST /oauth/introspect as the gateway client (RFC 7662)."""
    return client.post(
        "/oauth/introspect", data={"token": token, **extra}, headers=basic(GATEWAY, GATEWAY_SECRET)
    )


def answer(client: TestClient, token: str, **extra: str) -> dict[str, Any]:
    """The gateway's introspection answer for ``token``: a 200, never cached."""
    response = introspect(client, token, **extra)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def introspect_at(
    url: str, token: str, client: tuple[str, str] = (GATEWAY, GATEWAY_SECRET)
) -> dict[str, Any]:
    """What an API learns from the server at ``url``: its introspection answer, a 200."""
    response = httpx.post(
        f"{url}/oauth/introspect", data={"token": token}, headers=basic(*client), timeout=10
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def unverified(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims
