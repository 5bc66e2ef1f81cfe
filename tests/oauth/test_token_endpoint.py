"""Every row of the POST /oauth/token table (docs/reference/http-api.md), over HTTP (TestClient)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from service.config import Rate, RateLimits
from service.config.state import RedisURL, parse_state
from service.errors import RateLimited
from service.oauth.grants import TokenGrant
from service.state.redis import RedisState
from tests.conftest import AUDIENCE, ISSUER, ORIGIN, ClientFactory, Clock, Run
from tests.helpers import TOKEN_KEYS, assert_error
from tests.oauth_clients import (
    CLIENTS,
    CRM,
    CRM_PREVIOUS,
    CRM_SECRET,
    LOYALTY,
    SPECIAL,
    SPECIAL_CLIENT,
    WEB,
    basic,
    crm_form,
    token_form,
    unverified,
)
from tests.redis_server import RedisServer


@pytest.fixture
def client(client_factory: ClientFactory) -> TestClient:
    return client_factory(clients=CLIENTS)


def assert_token(response: Any, identifier: str) -> dict[str, object]:
    assert response.status_code == 200, response.text
    headers = response.headers
    assert headers["cache-control"] == "no-store" and headers["pragma"] == "no-cache"
    body: dict[str, object] = response.json()
    assert set(body) == TOKEN_KEYS
    assert body["token_type"] == "Bearer" and body["identifier"] == identifier
    assert body["token"] == body["access_token"]
    return body


# -- 200 -------------------------------------------------------------------------------


def test_client_secret_post_form(client: TestClient, clock: Clock) -> None:
    response = token_form(
        client, grant_type="client_credentials", client_id=CRM, client_secret=CRM_SECRET
    )
    body = assert_token(response, "client_credentials")
    assert body["expires_in"] == 3600 and body["expires"] == int(clock()) + 3600
    assert body["expiry"] == "2027-01-15T09:00:00Z"
    assert body["scope"] == "profiles:read profiles:write"
    token = body["access_token"]
    assert isinstance(token, str)
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    claims = unverified(token)
    # sub = client_id = the client id, token_use, and no `shop`.
    assert set(claims) == {
        "iss", "sub", "client_id", "token_use", "aud", "scope", "iat", "nbf", "exp", "jti"
    }  # fmt: skip
    assert claims["iss"] == ISSUER and claims["aud"] == AUDIENCE
    assert claims["sub"] == claims["client_id"] == CRM
    assert claims["token_use"] == "client_credentials"
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]


def test_json_body_at_v1_oauth_token_with_an_audience(client: TestClient) -> None:
    response = client.post(
        "/v1/oauth:token",
        json={
            "grant_type": "client_credentials",
            "client_id": CRM,
            "client_secret": CRM_SECRET,
            "audience": LOYALTY,
            "scope": "profiles:read",
        },
    )
    body = assert_token(response, "client_credentials")
    claims = unverified(str(body["access_token"]))
    assert claims["aud"] == LOYALTY and claims["scope"] == body["scope"] == "profiles:read"


@pytest.mark.parametrize("encode", [True, False])
def test_http_basic(client: TestClient, encode: bool) -> None:
    response = token_form(
        client, headers=basic(CRM, CRM_SECRET, encode=encode), grant_type="client_credentials"
    )
    assert_token(response, "client_credentials")


@pytest.mark.parametrize("encode", [True, False])
def test_a_basic_secret_with_special_characters(client: TestClient, encode: bool) -> None:
    # `:` `+` `/` `%` `&` `=`: form-encoded per RFC 6749 §2.3.1, or raw as Authlib sends it.
    response = token_form(
        client,
        headers=basic(SPECIAL_CLIENT, SPECIAL, encode=encode),
        grant_type="client_credentials",
    )
    body = assert_token(response, "client_credentials")
    assert unverified(str(body["access_token"]))["sub"] == SPECIAL_CLIENT


def test_the_special_secret_in_a_form_body(client: TestClient) -> None:
    response = token_form(
        client, grant_type="client_credentials", client_id=SPECIAL_CLIENT, client_secret=SPECIAL
    )
    assert_token(response, "client_credentials")


def test_basic_with_the_client_id_repeated_in_the_body(client: TestClient) -> None:
    response = token_form(
        client, headers=basic(CRM, CRM_SECRET), grant_type="client_credentials", client_id=CRM
    )
    assert_token(response, "client_credentials")


def test_the_access_token_alias(client: TestClient) -> None:
    response = crm_form(
        client,
        path="/oauth/access_token",
    )
    assert_token(response, "client_credentials")


def test_the_previous_secret_still_works(client: TestClient) -> None:
    response = token_form(
        client, grant_type="client_credentials", client_id=CRM, client_secret=CRM_PREVIOUS
    )
    assert_token(response, "client_credentials")


def test_unknown_parameters_are_ignored(client: TestClient) -> None:
    # A body with parameters the service does not read, RFC 6749 §3.2.
    body = (
        f"grant_type=client_credentials&client_id={CRM}&client_secret={CRM_SECRET}"
        "&username:x=&password:y=&redirect_uri=https%3A%2F%2Fx&state=1"
    )
    response = client.post(
        "/oauth/token", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_token(response, "client_credentials")


def test_unknown_json_members_of_any_type_are_ignored(client: TestClient) -> None:
    response = client.post(
        "/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": CRM,
            "client_secret": CRM_SECRET,
            "extra": {"nested": [1, 2]},
            "count": 3,
        },
    )
    assert_token(response, "client_credentials")


def test_empty_parameters_count_as_omitted(client: TestClient) -> None:
    # RFC 6749 §3.1: an empty scope or audience is as if absent.
    response = crm_form(
        client,
        scope="",
        audience="",
    )
    body = assert_token(response, "client_credentials")
    assert body["scope"] == "profiles:read profiles:write"
    assert unverified(str(body["access_token"]))["aud"] == AUDIENCE


@pytest.mark.parametrize(
    ("scope", "granted"),
    [
        ("*", "profiles:read profiles:write"),
        ("profiles:write", "profiles:write"),
        ("profiles:write profiles:read", "profiles:read profiles:write"),
    ],
)
def test_scope_selection(client: TestClient, scope: str, granted: str) -> None:
    response = crm_form(
        client,
        scope=scope,
    )
    body = assert_token(response, "client_credentials")
    assert body["scope"] == unverified(str(body["access_token"]))["scope"] == granted


def test_resource_selects_the_audience(client: TestClient) -> None:
    response = crm_form(
        client,
        resource=LOYALTY,
    )
    body = assert_token(response, "client_credentials")
    assert unverified(str(body["access_token"]))["aud"] == LOYALTY


def test_implicit_token_for_a_public_client(client: TestClient) -> None:
    response = token_form(client, headers={"Origin": ORIGIN}, grant_type="implicit", client_id=WEB)
    body = assert_token(response, "implicit")
    assert body["expires_in"] == 900 and body["scope"] == "catalog:read"
    claims = unverified(str(body["access_token"]))
    assert claims["token_use"] == "implicit" and claims["sub"] == WEB and "shop" not in claims
    # CORS only for the public client's allowed origins (echoed, never *).
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["vary"] == "Origin"


def test_implicit_without_an_origin(client: TestClient) -> None:
    # A server, an app or curl: no browser, no CORS.
    response = token_form(client, grant_type="implicit", client_id=WEB)
    assert_token(response, "implicit")
    assert "access-control-allow-origin" not in response.headers


def test_a_confidential_clients_token_is_never_readable_by_a_page(client: TestClient) -> None:
    response = crm_form(
        client,
        headers={"Origin": ORIGIN},
    )
    assert_token(response, "client_credentials")
    assert "access-control-allow-origin" not in response.headers


# -- CORS preflight ----------------------------------------------------------------------


def test_preflight_allows_public_client_origins(client: TestClient) -> None:
    response = client.options(
        "/oauth/token",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert response.headers["access-control-allow-headers"] == "Content-Type, DPoP"
    assert "access-control-allow-credentials" not in response.headers


def test_preflight_from_any_other_origin_is_refused(client: TestClient) -> None:
    response = client.options(
        "/v1/oauth:token",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert_error(response, 403, "origin_not_allowed")
    assert "access-control-allow-origin" not in response.headers


# -- 400 invalid_request ----------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"
CREDS = f"client_id={CRM}&client_secret={CRM_SECRET}"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (FORM, CREDS),  # missing grant_type
        (FORM, f"grant_type=&{CREDS}"),  # empty = omitted (RFC 6749 §3.1)
        (FORM, f"grant_type=client_credentials&grant_type=client_credentials&{CREDS}"),
        (FORM, f"grant_type=client_credentials&{CREDS}&scope=a&scope=b"),
        (FORM, f"grant_type=client_credentials&{CREDS}&extra=1&extra=2"),
        (FORM, f"grant_type=client_credentials&{CREDS}&bad"),
        (FORM, f"grant_type=client_credentials&{CREDS}&x=%ff"),
        (FORM, f"grant_type=client_credentials&{CREDS}&" + "&".join(f"p{i}=" for i in range(62))),
        ("application/json", "{"),
        ("application/json", "[]"),
        ("application/json", '"grant_type=client_credentials"'),
        ("application/json", '{"grant_type": "client_credentials", "grant_type": "implicit"}'),
        ("application/json", '{"grant_type": ["client_credentials"]}'),
        ("application/json", '{"grant_type": "client_credentials", "scope": null}'),
        ("application/json", '{"grant_type": "client_credentials", "client_id": 7}'),
        ("application/json", '{"grant_type": NaN}'),
    ],
)
def test_malformed_or_repeated_gets_invalid_request(
    client: TestClient, content_type: str, body: str
) -> None:
    response = client.post("/oauth/token", content=body, headers={"Content-Type": content_type})
    assert_error(response, 400, "invalid_request")


def test_a_body_that_is_not_utf8_gets_invalid_request(client: TestClient) -> None:
    response = client.post(
        "/oauth/token", content=b"grant_type=\xff", headers={"Content-Type": FORM}
    )
    assert_error(response, 400, "invalid_request")


def test_two_authentication_methods_at_once(client: TestClient) -> None:
    response = token_form(
        client,
        headers=basic(CRM, CRM_SECRET),
        grant_type="client_credentials",
        client_secret=CRM_SECRET,
    )
    body = assert_error(response, 400, "invalid_request")
    assert "Two client authentication methods" in body["error_description"]


def test_basic_and_a_different_body_client_id(client: TestClient) -> None:
    response = token_form(
        client, headers=basic(CRM, CRM_SECRET), grant_type="client_credentials", client_id=WEB
    )
    assert_error(response, 400, "invalid_request")


def test_audience_and_resource_that_differ(client: TestClient) -> None:
    response = crm_form(
        client,
        audience=AUDIENCE,
        resource=LOYALTY,
    )
    assert_error(response, 400, "invalid_request")


# -- 400 unsupported_grant_type, unauthorized_client, invalid_scope, invalid_target -------


@pytest.mark.parametrize(
    "grant_type",
    ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer", "x"],
)
def test_other_grants_are_unsupported(client: TestClient, grant_type: str) -> None:
    response = token_form(client, grant_type=grant_type, client_id=CRM, client_secret=CRM_SECRET)
    assert_error(response, 400, "unsupported_grant_type")


def test_the_password_grant_is_refused_naming_client_credentials(client: TestClient) -> None:
    response = token_form(
        client,
        grant_type="password",
        username="alice",
        password="hunter2",
        client_id=CRM,
        client_secret=CRM_SECRET,
    )
    body = assert_error(response, 400, "unsupported_grant_type")
    assert "client_credentials" in body["error_description"]
    assert "RFC 9700" in body["error_description"]
    assert "hunter2" not in response.text


def test_a_confidential_client_may_not_use_implicit(client: TestClient) -> None:
    response = token_form(client, grant_type="implicit", client_id=CRM, client_secret=CRM_SECRET)
    assert_error(response, 400, "unauthorized_client")


def test_a_public_client_may_not_use_client_credentials(client: TestClient) -> None:
    response = token_form(client, grant_type="client_credentials", client_id=WEB)
    assert_error(response, 400, "unauthorized_client")


@pytest.mark.parametrize("scope", ["admin", "profiles:read admin", "* profiles:read", "a  b"])
def test_a_scope_the_client_may_not_have(client: TestClient, scope: str) -> None:
    response = crm_form(
        client,
        scope=scope,
    )
    assert_error(response, 400, "invalid_scope")


@pytest.mark.parametrize(
    "target",
    [
        {"audience": "https://evil.example"},
        {"resource": "https://evil.example"},
        {"resource": "not-a-uri"},
        {"resource": f"{AUDIENCE}#fragment"},
    ],
)
def test_a_target_the_client_may_not_have(client: TestClient, target: dict[str, str]) -> None:
    response = crm_form(
        client,
        data=target,
    )
    assert_error(response, 400, "invalid_target")


# -- 401 invalid_client ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"client_id": "nobody", "client_secret": CRM_SECRET},
        {"client_id": CRM, "client_secret": "wrong-" + "x" * 40},
        {"client_id": CRM, "client_secret": CRM_SECRET + "x"},
        {"client_id": CRM},  # missing secret
        {"client_id": CRM, "client_secret": ""},  # empty = missing
        {"client_secret": CRM_SECRET},
        {},
        {"client_id": WEB, "client_secret": "x" * 40},  # a public client has no secret
    ],
)
def test_failed_client_authentication_in_the_body(client: TestClient, data: dict[str, str]) -> None:
    response = token_form(client, data, grant_type="client_credentials")
    assert_error(response, 401, "invalid_client")
    # The challenge only when the client used the Authorization header (RFC 6749 §5.2).
    assert "www-authenticate" not in response.headers
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "headers",
    [
        basic("nobody", CRM_SECRET),
        basic(CRM, "wrong-" + "x" * 40),
        basic(CRM, ""),
        {"Authorization": "Basic !!!"},
        {"Authorization": "Basic " + "Y3JtLXN5bmM="},  # no colon
        {"Authorization": "Bearer abc.def.ghi"},
    ],
)
def test_failed_basic_authentication_gets_the_challenge(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = token_form(client, headers=headers, grant_type="client_credentials")
    assert_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"] == 'Basic realm="shapestoken"'


def test_errors_never_echo_the_secret(client: TestClient) -> None:
    wrong = "wrong-secret-" + "z" * 40
    response = token_form(
        client, grant_type="client_credentials", client_id=CRM, client_secret=wrong
    )
    assert wrong not in response.text and CRM_SECRET not in response.text


def test_no_clients_configured_means_every_client_is_unknown(client_factory: ClientFactory) -> None:
    client = client_factory()
    response = crm_form(client)
    assert_error(response, 401, "invalid_client")


# -- 403 origin_not_allowed ---------------------------------------------------------------


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://www.acme.com.evil.example", "null"]
)
def test_implicit_from_a_foreign_origin(client: TestClient, origin: str) -> None:
    response = token_form(client, headers={"Origin": origin}, grant_type="implicit", client_id=WEB)
    assert_error(response, 403, "origin_not_allowed")
    assert "access-control-allow-origin" not in response.headers


def test_errors_to_a_public_origin_are_readable(client: TestClient) -> None:
    response = token_form(
        client, headers={"Origin": ORIGIN}, grant_type="implicit", client_id=WEB, scope="admin"
    )
    assert_error(response, 400, "invalid_scope")
    assert response.headers["access-control-allow-origin"] == ORIGIN


# -- 405, 413, 415 ----------------------------------------------------------------------------


def test_get_is_not_allowed(client: TestClient) -> None:
    assert_error(client.get("/oauth/token"), 405, "method_not_allowed")


def test_a_body_over_4_kib(client: TestClient) -> None:
    body = f"grant_type=client_credentials&{CREDS}&pad=" + "x" * 4096
    response = client.post("/oauth/token", content=body, headers={"Content-Type": FORM})
    assert_error(response, 413, "request_too_large")


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "multipart/form-data; boundary=x", "application/xml"]
)
def test_neither_form_nor_json(client: TestClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(
        "/oauth/token", content=f"grant_type=client_credentials&{CREDS}", headers=headers
    )
    assert_error(response, 415, "unsupported_media_type")


# -- 429 -------------------------------------------------------------------------------------


def test_per_client_rate_limit(client_factory: ClientFactory, clock: Clock) -> None:
    limits = RateLimits(per_client=Rate(3, 60), per_ip=Rate(1000, 60))
    client = client_factory(clients=CLIENTS, rate_limits=limits)
    form = {"grant_type": "client_credentials", "client_id": CRM, "client_secret": CRM_SECRET}
    for _ in range(3):
        assert token_form(client, form).status_code == 200
    response = token_form(client, form)
    assert_error(response, 429, "rate_limited")
    assert response.headers["retry-after"] == "20"
    # Another client has its own budget.
    assert token_form(client, grant_type="implicit", client_id=WEB).status_code == 200
    clock.advance(20)
    assert token_form(client, form).status_code == 200


def test_failed_authentication_does_not_use_up_the_client_budget(
    client_factory: ClientFactory,
) -> None:
    limits = RateLimits(per_client=Rate(2, 60), per_ip=Rate(1000, 60))
    client = client_factory(clients=CLIENTS, rate_limits=limits)
    for _ in range(10):
        response = token_form(
            client, grant_type="client_credentials", client_id=CRM, client_secret="x" * 40
        )
        assert response.status_code == 401
    response = crm_form(client)
    assert response.status_code == 200


def test_per_ip_rate_limit_counts_failures_too(client_factory: ClientFactory) -> None:
    limits = RateLimits(per_client=Rate(1000, 60), per_ip=Rate(4, 60))
    client = client_factory(clients=CLIENTS, rate_limits=limits)
    for _ in range(4):
        response = token_form(
            client, grant_type="client_credentials", client_id=CRM, client_secret="x" * 40
        )
        assert response.status_code == 401
    response = crm_form(client)
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) >= 1


def test_a_rate_limited_public_client_can_read_the_429(client_factory: ClientFactory) -> None:
    limits = RateLimits(per_client=Rate(1, 60), per_ip=Rate(1000, 60))
    client = client_factory(clients=CLIENTS, rate_limits=limits)
    headers = {"Origin": ORIGIN}
    assert (
        token_form(client, headers=headers, grant_type="implicit", client_id=WEB).status_code == 200
    )
    response = token_form(client, headers=headers, grant_type="implicit", client_id=WEB)
    assert_error(response, 429, "rate_limited")
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_one_address_cannot_starve_the_other_guests(client_factory: ClientFactory) -> None:
    # Anyone may send a public client's id: its per_client count is kept per
    # (client, address), so one address spending it leaves every other guest theirs.
    limits = RateLimits(per_client=Rate(3, 60), per_ip=Rate(1000, 60))
    client = client_factory(clients=CLIENTS, rate_limits=limits)
    spender = TestClient(client.app, base_url=ISSUER, client=("198.51.100.7", 40000))
    guest = TestClient(client.app, base_url=ISSUER, client=("203.0.113.9", 40000))
    implicit = {"grant_type": "implicit", "client_id": WEB}
    for _ in range(3):
        assert token_form(spender, implicit).status_code == 200
    assert_error(token_form(spender, implicit), 429, "rate_limited")
    for _ in range(3):
        assert token_form(guest, implicit).status_code == 200
    assert_error(token_form(guest, implicit), 429, "rate_limited")


def test_a_confidential_client_keeps_one_budget_across_addresses(
    client_factory: ClientFactory,
) -> None:
    # It authenticated: nobody else can spend its budget, and moving address gains nothing.
    limits = RateLimits(per_client=Rate(3, 60), per_ip=Rate(1000, 60))
    client = client_factory(clients=CLIENTS, rate_limits=limits)
    for n in range(3):
        backend = TestClient(client.app, base_url=ISSUER, client=(f"192.0.2.{n}", 40000))
        assert crm_form(backend).status_code == 200
    backend = TestClient(client.app, base_url=ISSUER, client=("192.0.2.99", 40000))
    assert_error(crm_form(backend), 429, "rate_limited")


@pytest.mark.parametrize(
    ("client_id", "address", "key"),
    [
        (WEB, "203.0.113.9", f"{WEB}/203.0.113.9"),
        (WEB, "2001:db8::7", f"{WEB}/2001:db8::7"),
        (CRM, "203.0.113.9", CRM),
    ],
)
def test_the_per_client_key(client_id: str, address: str, key: str) -> None:
    grant = TokenGrant(CLIENTS[client_id], "implicit", "catalog:read", AUDIENCE)
    assert grant.checks(address).limits == (("per_ip", address), ("per_client", key))


def test_on_shared_redis_one_address_cannot_starve_guests_on_another_replica(
    redis_server: RedisServer, clock: Clock, run: Run
) -> None:
    # Two replicas on one Redis: the first address's budget is spent on one of them,
    # and a guest from another address still gets tokens from the other.
    url = parse_state(redis_server.url)
    assert isinstance(url, RedisURL)
    rates = RateLimits(per_client=Rate(3, 60), per_ip=Rate(1000, 60)).rates()
    prefix = f"test-{secrets.token_hex(6)}:"
    one, other = (
        RedisState.from_url(url, rates, max_token_ttl=900, now=clock, prefix=prefix)
        for _ in range(2)
    )
    guest = TokenGrant(CLIENTS[WEB], "implicit", "catalog:read", AUDIENCE)
    for replica in (one, other, one):
        run(replica.check(guest.checks("198.51.100.7")))
    with pytest.raises(RateLimited):
        run(other.check(guest.checks("198.51.100.7")))  # the budget is shared by both
    for replica in (other, one, other):
        run(replica.check(guest.checks("203.0.113.9")))
    # A confidential client's one budget holds across addresses and replicas too.
    backend = TokenGrant(CLIENTS[CRM], "client_credentials", "profiles:read", AUDIENCE)
    for n, replica in enumerate((one, other, one)):
        run(replica.check(backend.checks(f"192.0.2.{n}")))
    with pytest.raises(RateLimited):
        run(other.check(backend.checks("192.0.2.99")))
    for replica in (one, other):
        run(replica.aclose())


def test_token_bodies_are_compact_json(client: TestClient) -> None:
    response = token_form(client, grant_type="implicit", client_id=WEB)
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.content) == response.json()
