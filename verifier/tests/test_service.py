"""The verifier against the real token service, started as a process by its own command
line: customer, client-credentials and stk_ API tokens it issues, a revocation, a key
rotation and an outage."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from issuers import (
    AUDIENCE,
    CRM,
    CRM_SECRET,
    GATEWAY,
    GATEWAY_SECRET,
    SHOP,
    SHOP_SECRET,
    Clock,
    RedisServer,
    Service,
    basic,
    crc_base62,
)
from shapestoken_verifier import TokenError, Verifier

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
API_URL = AUDIENCE + "/v1/profile"
#: With its state on Redis, the token service hears of an API token's revocation within
#: 2 s (its documented bound; 30 s without Redis).
SERVICE_REACH = 2


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    redis = RedisServer(tmp_path_factory.mktemp("redis")).start()
    service = Service(tmp_path_factory.mktemp("service"), state=redis.url).prepare().start()
    yield service
    service.stop()
    redis.stop()


VerifierFactory = Callable[..., Verifier]


@pytest.fixture
async def make_verifier() -> AsyncIterator[VerifierFactory]:
    made: list[Verifier] = []

    def factory(service: Service, **options: Any) -> Verifier:
        values = {"introspection": (GATEWAY, GATEWAY_SECRET), **options}
        made.append(Verifier(service.url, AUDIENCE, **values))
        return made[-1]

    yield factory
    for verifier in made:
        await verifier.aclose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def customer_token(service: Service, customer_id: str = "42") -> str:
    signature = hmac.new(SHOP_SECRET.encode(), customer_id.encode(), hashlib.sha256).hexdigest()
    async with httpx.AsyncClient(base_url=service.url) as client:
        response = await client.post(
            f"/v1/shops/{SHOP}/customer-token", json={"id": customer_id, "signature": signature}
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def client_token(service: Service, scope: str | None = None) -> str:
    form = {"grant_type": "client_credentials"}
    if scope is not None:
        form["scope"] = scope
    async with httpx.AsyncClient(base_url=service.url) as client:
        response = await client.post(
            "/oauth/token", data=form, headers={"Authorization": basic(CRM, CRM_SECRET)}
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def api_token(service: Service, *scopes: str) -> tuple[str, str]:
    """``shapestoken tokens create``: the token (stdout) and its id (stderr)."""
    args = [arg for scope in scopes for arg in ("--scope", scope)]
    result = service.command("tokens", "create", "--name", "verifier-test", *args)
    match = re.search(r"created API token (\S+)", result.stderr)
    assert match is not None, result.stderr
    return result.stdout.strip(), match.group(1)


async def test_a_customer_token(service: Service, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier(service)
    principal = await verifier.verify("GET", API_URL, bearer(await customer_token(service)))
    assert (principal.kind, principal.customer_id, principal.shop) == ("customer", "42", SHOP)
    assert principal.client_id == SHOP
    assert principal.expires_at is not None and principal.expires_at.timestamp() > time.time()


async def test_client_credentials_tokens_and_their_scopes(
    service: Service, make_verifier: VerifierFactory
) -> None:
    verifier = make_verifier(service)
    narrow = await verifier.verify(
        "GET", API_URL, bearer(await client_token(service, "profiles:read"))
    )
    assert (narrow.kind, narrow.client_id) == ("client_credentials", CRM)
    narrow.require("profiles:read")
    with pytest.raises(TokenError) as caught:
        narrow.require("profiles:write")
    assert (caught.value.status, caught.value.error) == (403, "insufficient_scope")
    every = await verifier.verify("GET", API_URL, bearer(await client_token(service)))
    every.require("profiles:read", "profiles:write")


async def test_kinds_keep_a_customer_api_from_client_tokens(
    service: Service, make_verifier: VerifierFactory
) -> None:
    verifier = make_verifier(service, kinds={"customer"})
    with pytest.raises(TokenError):
        await verifier.verify("GET", API_URL, bearer(await client_token(service)))
    with pytest.raises(TokenError):
        await verifier.verify("GET", API_URL, bearer(api_token(service, "profiles:read")[0]))


async def test_an_api_token_passes_until_revoked(
    service: Service, make_verifier: VerifierFactory
) -> None:
    cache_ttl = 2
    verifier = make_verifier(service, cache_ttl=cache_ttl)
    token, token_id = api_token(service, "profiles:read")
    principal = await verifier.verify("GET", API_URL, bearer(token))
    assert (principal.kind, principal.subject) == ("api_token", f"api-token:{token_id}")
    assert principal.scopes == frozenset({"profiles:read"})
    # `tokens create` gives a token 90 days unless told otherwise.
    assert principal.expires_at is not None
    left = principal.expires_at - datetime.now(timezone.utc)
    assert timedelta(days=89) < left <= timedelta(days=90)
    service.command("tokens", "revoke", token_id)
    revoked = time.monotonic()
    # Refused once the service's cache and then ours have let the old answer go.
    while True:
        try:
            await verifier.verify("GET", API_URL, bearer(token))
        except TokenError as exc:
            assert (exc.status, exc.error) == (401, "invalid_token")
            break
        assert time.monotonic() - revoked < SERVICE_REACH + cache_ttl + 3
        await asyncio.sleep(0.5)
    # A verifier with no answer cached sees the revocation at once.
    with pytest.raises(TokenError):
        await make_verifier(service).verify("GET", API_URL, bearer(token))


async def test_a_made_up_api_token_is_refused(
    service: Service, make_verifier: VerifierFactory
) -> None:
    head = "stk_" + "A" * 43
    with pytest.raises(TokenError) as caught:
        await make_verifier(service).verify("GET", API_URL, bearer(f"{head}_{crc_base62(head)}"))
    assert caught.value.status == 401


async def test_rotation_and_outage(tmp_path: Path, make_verifier: VerifierFactory) -> None:
    service = Service(tmp_path).prepare().start()
    try:
        monotonic = Clock(time.monotonic())
        verifier = make_verifier(service, monotonic=monotonic)
        old = await customer_token(service)
        await verifier.verify("GET", API_URL, bearer(old))
        stk, _ = api_token(service, "profiles:read")

        # `keys rotate` (key_activation_delay = 0) and SIGHUP: new tokens use the new key.
        service.command("keys", "rotate")
        service.reload_keys()
        old_kid = jwt.get_unverified_header(old)["kid"]
        deadline = time.monotonic() + 30
        while jwt.get_unverified_header(new := await customer_token(service))["kid"] == old_kid:
            assert time.monotonic() < deadline, "the service did not sign with the new key"
            await asyncio.sleep(0.2)
        monotonic.advance(10)  # the verifier refetches the JWKS for an unknown kid
        assert (await verifier.verify("GET", API_URL, bearer(new))).customer_id == "42"

        # The service stops: JWTs already valid still pass from the cached keys;
        # an API token needs the service, so it is a 503.
        service.stop()
        for token in (old, new):
            assert (await verifier.verify("GET", API_URL, bearer(token))).kind == "customer"
        with pytest.raises(TokenError) as caught:
            await verifier.verify("GET", API_URL, bearer(stk))
        assert (caught.value.status, caught.value.error) == (503, "temporarily_unavailable")
        assert caught.value.headers["Retry-After"]
        monotonic.advance(300)  # a refresh is due and fails: the keys are kept
        assert (await verifier.verify("GET", API_URL, bearer(new))).kind == "customer"
    finally:
        service.stop()
