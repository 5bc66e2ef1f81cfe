"""POST /oauth/introspect (RFC 7662) and POST /oauth/revoke (RFC 7009), over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from service.signing import keys
from service.signing.tokens import TokenIssuer
from service.support.clock import LEEWAY
from service.web.app import create_app
from service.wiring import Components, build_components
from tests.conftest import (
    AUDIENCE,
    ISSUER,
    ORIGIN,
    SHOP,
    ClientFactory,
    Clock,
    make_settings,
    sign,
)
from tests.helpers import URL, assert_error
from tests.oauth_clients import (
    CLIENTS,
    CRM,
    CRM_SECRET,
    GATEWAY,
    GATEWAY_SECRET,
    SPECIAL,
    SPECIAL_CLIENT,
    WEB,
    answer,
    basic,
    crm_token,
    unverified,
    web_token,
)

INACTIVE = {"active": False}


@pytest.fixture
def client(client_factory: ClientFactory) -> TestClient:
    return client_factory(clients=CLIENTS)


def components(client: TestClient) -> Components:
    found: Components = client.app.state.components  # type: ignore[attr-defined]
    return found


def customer_token(client: TestClient, customer_id: str = "42") -> str:
    response = client.post(URL, json={"id": customer_id, "signature": sign(customer_id)})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def revoke(client: TestClient, token: str, headers: Mapping[str, str] | None = None) -> Any:
    return client.post(
        "/oauth/revoke", data={"token": token}, headers=dict(headers or basic(CRM, CRM_SECRET))
    )


# -- introspection: active tokens of every kind -------------------------------------------


def test_a_client_credentials_token_is_active(client: TestClient) -> None:
    token = crm_token(client)
    claims = unverified(token)
    assert answer(client, token) == {
        "active": True,
        "scope": "profiles:read profiles:write",
        "client_id": CRM,
        "sub": CRM,
        "aud": AUDIENCE,
        "iss": ISSUER,
        "exp": claims["exp"],
        "iat": claims["iat"],
        "nbf": claims["nbf"],
        "jti": claims["jti"],
        "token_type": "Bearer",
        "token_use": "client_credentials",
    }


def test_an_implicit_token_is_active(client: TestClient) -> None:
    body = answer(client, web_token(client))
    assert body["active"] is True and body["token_use"] == "implicit"
    assert body["client_id"] == body["sub"] == WEB and "shop" not in body


def test_a_customer_token_is_active_with_its_shop(client: TestClient) -> None:
    token = customer_token(client)
    body = answer(client, token)
    assert body["active"] is True and body["token_use"] == "customer"
    assert body["sub"] == "42" and body["shop"] == SHOP and body["client_id"] == SHOP
    assert body["scope"] == "customer" and body["aud"] == AUDIENCE


def test_json_bodies_and_body_credentials_work_too(client: TestClient) -> None:
    token = crm_token(client)
    response = client.post(
        "/oauth/introspect",
        json={"token": token, "client_id": GATEWAY, "client_secret": GATEWAY_SECRET},
    )
    assert response.json()["active"] is True


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "something_else"])
def test_the_hint_is_only_a_hint(client: TestClient, hint: str) -> None:
    # RFC 7662 §2.1: a server that cannot use the hint searches every kind.
    assert answer(client, crm_token(client), token_type_hint=hint)["active"] is True


# -- introspection: everything else is exactly {"active": false} -------------------------


def test_an_expired_token_is_inactive(client: TestClient, clock: Clock) -> None:
    token = crm_token(client)
    clock.advance(3600)
    # Exactly at exp: the verifier's leeway is for downstream clocks, not the issuer's.
    assert answer(client, token) == INACTIVE


def test_a_token_of_another_issuer_is_inactive(client: TestClient, keyring: keys.KeyRing) -> None:
    other = TokenIssuer(keyring, "https://other.example")
    issued = other.mint_client(
        client_id=CRM, token_use="client_credentials", audience=AUDIENCE, scope="x", ttl=600
    )
    assert answer(client, issued.token) == INACTIVE


def test_a_token_signed_by_another_key_is_inactive(client: TestClient, clock: Clock) -> None:
    ring = keys.KeyRing([keys.generate("ES256")], window=3900, now=clock)
    issued = TokenIssuer(ring, ISSUER, now=clock).mint_client(
        client_id=CRM, token_use="client_credentials", audience=AUDIENCE, scope="x", ttl=600
    )
    assert answer(client, issued.token) == INACTIVE


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = unverified(token) | {"scope": "admin"}
    forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "stk_" + "A" * 43 + "_abcdef",  # an API token, with no database configured
        "x" * 4000,
    ],
)
def test_garbage_and_unknown_tokens_are_inactive(client: TestClient, token: str) -> None:
    assert answer(client, token) == INACTIVE


def test_a_tampered_token_is_inactive(client: TestClient) -> None:
    assert answer(client, tampered(crm_token(client))) == INACTIVE


def test_a_blocked_customers_tokens_are_inactive(client: TestClient) -> None:
    token = customer_token(client)
    asyncio.run(components(client).state.block(SHOP, "42"))
    assert answer(client, token) == INACTIVE
    assert answer(client, customer_token(client, "43"))["active"] is True


# -- introspection: who may ask -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "headers", "challenge"),
    [
        ({}, basic(GATEWAY, "wrong-" + "x" * 40), True),
        ({}, basic("nobody", GATEWAY_SECRET), True),
        ({"client_id": GATEWAY, "client_secret": "wrong-" + "x" * 40}, {}, False),
        ({"client_id": GATEWAY}, {}, False),  # no secret
        ({"client_id": WEB}, {}, False),  # a public client cannot authenticate
        ({}, {}, False),
    ],
)
def test_unauthenticated_callers_get_invalid_client(
    client: TestClient, data: dict[str, str], headers: dict[str, str], challenge: bool
) -> None:
    token = crm_token(client)
    response = client.post("/oauth/introspect", data={"token": token, **data}, headers=headers)
    assert_error(response, 401, "invalid_client")
    assert ("www-authenticate" in response.headers) is challenge
    assert token not in response.text


def test_a_client_without_introspect_gets_access_denied(client: TestClient) -> None:
    token = crm_token(client)
    response = client.post(
        "/oauth/introspect", data={"token": token}, headers=basic(CRM, CRM_SECRET)
    )
    assert_error(response, 403, "access_denied")


@pytest.mark.parametrize("body", ["", "token=", "token_type_hint=access_token"])
def test_a_missing_token_is_invalid_request(client: TestClient, body: str) -> None:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **basic(GATEWAY, GATEWAY_SECRET),
    }
    response = client.post("/oauth/introspect", content=body, headers=headers)
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    ("content_type", "body", "status", "error"),
    [
        ("text/plain", "token=x", 415, "unsupported_media_type"),
        ("application/json", '{"token": 1}', 400, "invalid_request"),
        ("application/json", '{"token": "a", "token": "b"}', 400, "invalid_request"),
        ("application/x-www-form-urlencoded", "token=a&token=b", 400, "invalid_request"),
        ("application/x-www-form-urlencoded", "token=" + "x" * 5000, 413, "request_too_large"),
    ],
)
def test_malformed_introspection_requests(
    client: TestClient, content_type: str, body: str, status: int, error: str
) -> None:
    headers = {"Content-Type": content_type, **basic(GATEWAY, GATEWAY_SECRET)}
    assert_error(client.post("/oauth/introspect", content=body, headers=headers), status, error)


def test_introspection_is_post_only(client: TestClient) -> None:
    assert_error(client.get("/oauth/introspect?token=x"), 405, "method_not_allowed")


# -- revocation --------------------------------------------------------------------------------


def test_a_client_revokes_its_own_token(client: TestClient) -> None:
    token = crm_token(client)
    response = revoke(client, token)
    assert response.status_code == 200 and response.content == b""
    assert answer(client, token) == INACTIVE
    # Its other tokens stay active.
    assert answer(client, crm_token(client))["active"] is True


def test_revocation_with_a_json_body_and_body_credentials(client: TestClient) -> None:
    token = crm_token(client)
    response = client.post(
        "/oauth/revoke",
        json={"token": token, "client_id": CRM, "client_secret": CRM_SECRET},
    )
    assert response.status_code == 200 and response.content == b""
    assert answer(client, token) == INACTIVE


def test_a_special_secret_in_basic_revokes_too(client: TestClient) -> None:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(SPECIAL_CLIENT, SPECIAL, encode=False),
    )
    token = response.json()["access_token"]
    assert revoke(client, token, basic(SPECIAL_CLIENT, SPECIAL)).status_code == 200
    assert answer(client, token) == INACTIVE


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "stk_" + "A" * 50, "x" * 3000])
def test_an_invalid_token_still_gets_200(client: TestClient, token: str) -> None:
    # RFC 7009 §2.2: the answer does not say whether the token was valid.
    response = revoke(client, token)
    assert response.status_code == 200 and response.content == b""


def test_revoking_twice_or_an_expired_token_is_fine(client: TestClient, clock: Clock) -> None:
    token = crm_token(client)
    assert revoke(client, token).status_code == 200
    assert revoke(client, token).status_code == 200
    clock.advance(7200)
    assert revoke(client, token).status_code == 200


def test_another_clients_token_is_refused(client: TestClient) -> None:
    token = web_token(client)
    assert_error(revoke(client, token), 400, "invalid_grant")
    assert answer(client, token)["active"] is True


def test_a_plain_client_may_not_revoke_customer_tokens(client: TestClient) -> None:
    token = customer_token(client)
    assert_error(revoke(client, token), 400, "invalid_grant")
    assert answer(client, token)["active"] is True


def test_an_introspecting_client_ends_a_customer_session(client: TestClient) -> None:
    token = customer_token(client)
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/me", headers=bearer).status_code == 200
    assert revoke(client, token, basic(GATEWAY, GATEWAY_SECRET)).status_code == 200
    assert answer(client, token) == INACTIVE
    response = client.get("/v1/me", headers=bearer)
    assert_error(response, 401, "invalid_token")
    # The customer can still get a new token; only that one is ended.
    assert (
        client.get(
            "/v1/me", headers={"Authorization": f"Bearer {customer_token(client)}"}
        ).status_code
        == 200
    )


def test_an_introspecting_client_may_not_revoke_other_clients_tokens(client: TestClient) -> None:
    token = crm_token(client)
    assert_error(revoke(client, token, basic(GATEWAY, GATEWAY_SECRET)), 400, "invalid_grant")


def test_a_revoked_token_stays_refused_while_any_verifier_takes_it(
    client: TestClient, clock: Clock
) -> None:
    token, kept = customer_token(client), customer_token(client, "43")
    revoke(client, token, basic(GATEWAY, GATEWAY_SECRET))
    bearer = {"Authorization": f"Bearer {token}"}
    clock.advance(599)  # the shop's token_ttl is 600
    assert client.get("/v1/me", headers=bearer).status_code == 401
    assert answer(client, token) == INACTIVE
    # /v1/me takes a token LEEWAY seconds past its exp (clock skew): a token not
    # revoked still passes there, and the revoked one stays refused as long.
    clock.advance(LEEWAY)
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {kept}"}).status_code == 200
    assert_error(client.get("/v1/me", headers=bearer), 401, "invalid_token")


def test_a_token_revoked_past_exp_but_within_the_leeway_is_refused(
    client: TestClient, clock: Clock
) -> None:
    token = customer_token(client)
    bearer = {"Authorization": f"Bearer {token}"}
    clock.advance(600 + LEEWAY - 2)  # expired, yet /v1/me still takes it
    assert client.get("/v1/me", headers=bearer).status_code == 200
    assert revoke(client, token, basic(GATEWAY, GATEWAY_SECRET)).status_code == 200
    assert_error(client.get("/v1/me", headers=bearer), 401, "invalid_token")


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        ({}, basic(CRM, "wrong-" + "x" * 40)),
        ({"client_id": CRM}, {}),  # a confidential client without its secret
        ({"client_id": "nobody"}, {}),
        ({"client_id": WEB, "client_secret": "x" * 40}, {}),  # a public client has no secret
        ({}, {}),
    ],
)
def test_revocation_needs_an_authenticated_client(
    client: TestClient, data: dict[str, str], headers: dict[str, str]
) -> None:
    token = crm_token(client)
    response = client.post("/oauth/revoke", data={"token": token, **data}, headers=headers)
    assert_error(response, 401, "invalid_client")
    assert answer(client, token)["active"] is True


# -- revocation by a public client: a guest signs out (RFC 7009 §2.1) -------------------------


def web_revoke(client: TestClient, token: str, headers: Mapping[str, str] | None = None) -> Any:
    """The storefront's guest page revokes with the public client's id alone."""
    return client.post(
        "/oauth/revoke", data={"token": token, "client_id": WEB}, headers=dict(headers or {})
    )


def test_a_public_client_revokes_its_own_implicit_token(client: TestClient) -> None:
    token, other = web_token(client), web_token(client)
    response = web_revoke(client, token)
    assert response.status_code == 200 and response.content == b""
    assert answer(client, token) == INACTIVE
    assert answer(client, other)["active"] is True  # only that one
    # Revoking again, or garbage, is the same 200 (RFC 7009 §2.2).
    assert web_revoke(client, token).status_code == 200
    assert web_revoke(client, "garbage").status_code == 200


def test_a_public_client_revokes_with_a_json_body_too(client: TestClient) -> None:
    token = web_token(client)
    response = client.post("/oauth/revoke", json={"token": token, "client_id": WEB})
    assert response.status_code == 200 and response.content == b""
    assert answer(client, token) == INACTIVE


def test_a_public_client_may_revoke_nothing_but_its_own_tokens(
    client_factory: ClientFactory,
) -> None:
    other = replace(CLIENTS[WEB], client_id="other-web")
    client = client_factory(clients={**CLIENTS, "other-web": other})
    others = client.post("/oauth/token", data={"grant_type": "implicit", "client_id": "other-web"})
    foreign = [crm_token(client), customer_token(client), others.json()["access_token"]]
    for token in foreign:
        # Its id proves nothing: a backend's, a customer's or another app's token stays.
        assert_error(web_revoke(client, token), 400, "invalid_grant")
        assert answer(client, token)["active"] is True


def test_the_guest_page_may_call_revocation(client: TestClient) -> None:
    # A browser page of the client's allowed_origins: preflight, then the POST it can read.
    preflight = client.options(
        "/oauth/revoke", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert preflight.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert preflight.headers["access-control-allow-headers"] == "Content-Type, DPoP"
    assert "access-control-allow-credentials" not in preflight.headers
    token = web_token(client)
    response = web_revoke(client, token, {"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["vary"] == "Origin"
    assert answer(client, token) == INACTIVE


def test_no_other_origin_may_read_revocation(client: TestClient) -> None:
    evil = "https://evil.example"
    preflight = client.options(
        "/oauth/revoke", headers={"Origin": evil, "Access-Control-Request-Method": "POST"}
    )
    assert_error(preflight, 403, "origin_not_allowed")
    assert "access-control-allow-origin" not in preflight.headers
    response = web_revoke(client, web_token(client), {"Origin": evil})
    assert "access-control-allow-origin" not in response.headers


def test_a_revocation_without_a_token_is_invalid_request(client: TestClient) -> None:
    response = client.post("/oauth/revoke", json={}, headers=basic(CRM, CRM_SECRET))
    assert_error(response, 400, "invalid_request")


def test_failed_caller_authentication_counts_per_ip(client_factory: ClientFactory) -> None:
    from service.config import Rate, RateLimits

    client = client_factory(clients=CLIENTS, rate_limits=RateLimits(per_ip=Rate(3, 60)))
    for _ in range(3):
        response = client.post(
            "/oauth/introspect", data={"token": "x"}, headers=basic(GATEWAY, "x" * 40)
        )
        assert response.status_code == 401
    response = client.post(
        "/oauth/introspect", data={"token": "x"}, headers=basic(GATEWAY, "y" * 40)
    )
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) >= 1


# -- a second token source plugs in ----------------------------------------------------------


class FakeApiTokens:
    """Stands in for the database lookup of admin-made API tokens."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def introspect(self, token: str) -> Mapping[str, object] | None:
        self.asked.append(token)
        if token == "stk_good":
            return {"scope": "profiles:read", "sub": "api-token:abc123", "token_type": "Bearer"}
        return None


def test_api_tokens_are_answered_by_their_lookup(keyring: keys.KeyRing, clock: Clock) -> None:
    settings = make_settings(clients=CLIENTS)
    lookup = FakeApiTokens()
    built = build_components(
        settings, keyring=keyring, now=clock, monotonic=clock, api_tokens=lookup
    )
    with TestClient(create_app(settings, components=built), base_url=ISSUER) as client:
        assert answer(client, "stk_good") == {
            "active": True,
            "scope": "profiles:read",
            "sub": "api-token:abc123",
            "token_type": "Bearer",
        }
        assert answer(client, "stk_bad") == INACTIVE
        # JWTs never reach the lookup, and still work.
        assert answer(client, crm_token(client))["active"] is True
    assert lookup.asked == ["stk_good", "stk_bad"]
