"""Every row of the customer-token table (docs/reference/http-api.md), and the other endpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from service.config import Rate, RateLimits
from service.support.secret import Secret
from tests.conftest import (
    AUDIENCE,
    ISSUER,
    OLD_SECRET,
    ORIGIN,
    SECRET,
    SHOP,
    ClientFactory,
    Clock,
    make_shop,
    sign,
)
from tests.helpers import TOKEN_KEYS, URL, assert_error, post_json

ROOT = Path(__file__).resolve().parents[2]


def test_a_valid_signature_gets_a_token(client: TestClient, clock: Clock) -> None:
    response = post_json(client, {"id": "42", "signature": sign("42")})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == TOKEN_KEYS
    assert body["token_type"] == "Bearer"
    assert body["identifier"] == "customer"
    assert body["expires_in"] == 600
    assert body["expires"] == int(clock()) + 600
    assert body["token"] == body["access_token"]
    assert body["expiry"] == "2027-01-15T08:10:00Z"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "42" and claims["aud"] == AUDIENCE and claims["iss"] == ISSUER
    assert claims["scope"] == body["scope"] == "customer"


def test_a_json_integer_id_is_accepted(client: TestClient) -> None:
    response = post_json(client, {"id": 42, "signature": sign("42")})
    assert response.status_code == 200
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "42"


def test_a_form_body_is_accepted(client: TestClient) -> None:
    response = client.post(URL, data={"id": "42", "signature": sign("42")})
    assert response.status_code == 200, response.text


def test_the_previous_secret_still_verifies(client: TestClient) -> None:
    assert post_json(client, {"id": "7", "signature": sign("7", OLD_SECRET)}).status_code == 200


def test_a_removed_secret_no_longer_verifies(client_factory: ClientFactory) -> None:
    client = client_factory(shops={SHOP: make_shop(id_secrets=(Secret(SECRET),))})
    response = post_json(client, {"id": "7", "signature": sign("7", OLD_SECRET)})
    assert_error(response, 401, "invalid_signature")


def test_per_shop_audience_scope_and_ttl(client_factory: ClientFactory) -> None:
    shop = make_shop(audience="https://loyalty.example", scope="customer read", token_ttl=120)
    client = client_factory(shops={SHOP: shop})
    body = post_json(client, {"id": "5", "signature": sign("5")}).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://loyalty.example"
    assert claims["scope"] == body["scope"] == "customer read"
    assert claims["exp"] - claims["iat"] == body["expires_in"] == 120


BAD_REQUESTS: list[tuple[str, object]] = [
    ("not json", b"{"),
    ("nan", b'{"id": NaN, "signature": "00"}'),
    ("infinity", b'{"id": Infinity, "signature": "00"}'),
    ("duplicate keys", b'{"id": "1", "id": "2", "signature": "' + b"a" * 64 + b'"}'),
    ("array", [{"id": "1", "signature": "a" * 64}]),
    ("string", "42"),
    ("null", None),
    ("empty object", {}),
    ("missing id", {"signature": "a" * 64}),
    ("missing signature", {"id": "42"}),
    ("extra field", {"id": "42", "signature": "a" * 64, "admin": True}),
    ("non-ascii digits", {"id": "١٢٣", "signature": "a" * 64}),
    ("fullwidth digits", {"id": "１２３", "signature": "a" * 64}),
    ("plus sign", {"id": "+1", "signature": "a" * 64}),
    ("negative", {"id": -1, "signature": "a" * 64}),
    ("leading zero", {"id": "0123", "signature": "a" * 64}),
    ("zero", {"id": 0, "signature": "a" * 64}),
    ("underscore", {"id": "1_23", "signature": "a" * 64}),
    ("exponent string", {"id": "1e5", "signature": "a" * 64}),
    ("float", {"id": 1e5, "signature": "a" * 64}),
    ("float integral", {"id": 42.0, "signature": "a" * 64}),
    ("bool", {"id": True, "signature": "a" * 64}),
    ("id array", {"id": ["42"], "signature": "a" * 64}),
    ("21 digits", {"id": "1" * 21, "signature": "a" * 64}),
    ("500 digits", {"id": "9" * 500, "signature": "a" * 64}),
    ("500-digit integer", b'{"id": ' + b"9" * 500 + b', "signature": "' + b"a" * 64 + b'"}'),
    ("deep nesting", b"[" * 2000 + b"]" * 2000),
    ("invalid utf-8", b'{"id": "\xff", "signature": "00"}'),
    ("utf-16 body", '{"id": "42", "signature": "00"}'.encode("utf-16")),
    ("signature number", {"id": "42", "signature": 123}),
    ("signature null", {"id": "42", "signature": None}),
    ("signature array", {"id": "42", "signature": ["a" * 64]}),
    ("ts without timestamps", {"id": "42", "signature": "a" * 64, "ts": "1800000000"}),
]


@pytest.mark.parametrize(("name", "body"), BAD_REQUESTS, ids=[name for name, _ in BAD_REQUESTS])
def test_bad_requests_get_400(client: TestClient, name: str, body: object) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post(URL, content=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "form",
    [
        "id=42&id=43&signature=" + "a" * 64,
        "id=42",
        "id=42&signature=" + "a" * 64 + "&x=1",
        "id=%FF&signature=00",
        "id",
        "&&&",
    ],
    ids=["duplicate", "missing", "extra", "bad-utf8", "no-value", "empty-pairs"],
)
def test_bad_forms_get_400(client: TestClient, form: str) -> None:
    response = client.post(
        URL, content=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error(response, 400, "invalid_request")


BAD_SIGNATURES: list[tuple[str, str]] = [
    ("wrong", "0" * 64),
    ("uppercase", sign("42").upper()),
    ("short", sign("42")[:-1]),
    ("long", sign("42") + "0"),
    ("non-hex", "z" * 64),
    ("empty", ""),
    ("other customer", sign("43")),
    ("other secret", sign("42", "x" * 40)),
    ("base64", "q83vEjRWeJA="),
]


@pytest.mark.parametrize(
    ("name", "signature"), BAD_SIGNATURES, ids=[name for name, _ in BAD_SIGNATURES]
)
def test_bad_signatures_get_401(client: TestClient, name: str, signature: str) -> None:
    body = assert_error(
        post_json(client, {"id": "42", "signature": signature}), 401, "invalid_signature"
    )
    if signature:
        assert signature not in json.dumps(body)


def test_a_foreign_origin_gets_403_even_with_a_valid_signature(client: TestClient) -> None:
    response = post_json(
        client, {"id": "42", "signature": sign("42")}, Origin="https://evil.example"
    )
    assert_error(response, 403, "origin_not_allowed")
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    "origin", ["null", "https://www.acme.com.evil.example", "http://www.acme.com"]
)
def test_lookalike_origins_get_403(client: TestClient, origin: str) -> None:
    response = post_json(client, {"id": "42", "signature": sign("42")}, Origin=origin)
    assert_error(response, 403, "origin_not_allowed")


def test_an_allowed_origin_is_echoed(client: TestClient) -> None:
    response = post_json(client, {"id": "42", "signature": sign("42")}, Origin=ORIGIN)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in response.headers


def test_errors_to_an_allowed_origin_are_readable_by_the_page(client: TestClient) -> None:
    response = post_json(client, {"id": "42", "signature": "0" * 64}, Origin=ORIGIN)
    assert_error(response, 401, "invalid_signature")
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_no_origin_is_allowed(client: TestClient) -> None:
    response = post_json(client, {"id": "42", "signature": sign("42")})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_preflight_allows_exactly_the_shop_origins(client: TestClient) -> None:
    response = client.options(
        URL,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert response.headers["access-control-allow-headers"] == "Content-Type, DPoP"
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in response.headers


def test_preflight_from_a_foreign_origin_is_refused(client: TestClient) -> None:
    response = client.options(
        URL, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert_error(response, 403, "origin_not_allowed")
    assert "access-control-allow-origin" not in response.headers


def test_unknown_shop_gets_404(client: TestClient) -> None:
    response = client.post(
        "/v1/shops/other.myshopify.com/customer-token",
        json={"id": "42", "signature": sign("42")},
    )
    assert_error(response, 404, "unknown_shop")


def test_unknown_shop_preflight_gets_404(client: TestClient) -> None:
    response = client.options(
        "/v1/shops/other.myshopify.com/customer-token",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert_error(response, 404, "unknown_shop")


def test_a_body_over_4_kib_gets_413(client: TestClient) -> None:
    body = json.dumps({"id": "42", "signature": sign("42"), "pad": "x" * 5000})
    response = client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 413, "request_too_large")


def test_a_10_mb_body_gets_413_without_being_read(client: TestClient) -> None:
    sent = 0

    def body() -> Any:
        nonlocal sent
        for _ in range(10 * 1024):
            sent += 1024
            yield b"x" * 1024

    response = client.post(URL, content=body(), headers={"Content-Type": "application/json"})
    assert_error(response, 413, "request_too_large")
    assert client.get("/healthz").status_code == 200


def test_a_lying_content_length_is_refused_before_reading(client: TestClient) -> None:
    response = client.post(
        URL,
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": "99999999"},
    )
    assert response.status_code in (400, 413)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain;charset=UTF-8",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json; charset=latin-1",
        "application/jsonx",
    ],
)
def test_other_content_types_get_415(client: TestClient, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = client.post(
        URL, content=json.dumps({"id": "42", "signature": sign("42")}), headers=headers
    )
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_content_type_variants(client: TestClient, content_type: str) -> None:
    response = client.post(
        URL,
        content=json.dumps({"id": "42", "signature": sign("42")}),
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200


def test_per_customer_rate_limit(client_factory: ClientFactory, clock: Clock) -> None:
    client = client_factory(rate_limits=RateLimits(per_customer=Rate(3, 60), per_ip=Rate(100, 60)))
    body = {"id": "42", "signature": sign("42")}
    for _ in range(3):
        assert post_json(client, body).status_code == 200
    response = post_json(client, body)
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= 20
    # Another customer is not affected.
    assert post_json(client, {"id": "43", "signature": sign("43")}).status_code == 200
    clock.advance(int(response.headers["retry-after"]))
    assert post_json(client, body).status_code == 200


def test_bad_signatures_do_not_use_up_the_customer_budget(client_factory: ClientFactory) -> None:
    client = client_factory(rate_limits=RateLimits(per_customer=Rate(2, 60), per_ip=Rate(100, 60)))
    for _ in range(10):
        post_json(client, {"id": "42", "signature": "0" * 64})
    assert post_json(client, {"id": "42", "signature": sign("42")}).status_code == 200


def test_per_ip_rate_limit(client_factory: ClientFactory, clock: Clock) -> None:
    client = client_factory(rate_limits=RateLimits(per_customer=Rate(100, 60), per_ip=Rate(5, 60)))
    for customer in range(1, 6):
        assert (
            post_json(client, {"id": str(customer), "signature": sign(str(customer))}).status_code
            == 200
        )
    response = post_json(client, {"id": "6", "signature": sign("6")})
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) >= 1
    clock.advance(60)
    assert post_json(client, {"id": "6", "signature": sign("6")}).status_code == 200


def test_x_forwarded_for_from_the_client_is_ignored(client_factory: ClientFactory) -> None:
    # Only uvicorn's --proxy-headers with trusted --forwarded-allow-ips may set the address.
    client = client_factory(rate_limits=RateLimits(per_customer=Rate(100, 60), per_ip=Rate(2, 60)))
    for n in range(2):
        post_json(client, {"id": "1", "signature": sign("1")}, **{"X-Forwarded-For": f"10.0.0.{n}"})
    response = post_json(
        client, {"id": "1", "signature": sign("1")}, **{"X-Forwarded-For": "10.9.9.9"}
    )
    assert_error(response, 429, "rate_limited")


def test_method_not_allowed_is_json(client: TestClient) -> None:
    response = client.get(URL)
    assert_error(response, 405, "method_not_allowed")


def test_unknown_path_is_json(client: TestClient) -> None:
    assert_error(client.get("/nope"), 404, "not_found")


def test_jwks(client: TestClient) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    (key,) = response.json()["keys"]
    assert {"kid", "alg", "use", "kty", "crv", "x", "y"} == set(key)
    assert key["use"] == "sig" and key["alg"] == "ES256"


def test_health(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}


@pytest.mark.parametrize("name", ["shapes-token.js", "shapes-token.mjs"])
def test_static_scripts_are_served_for_any_origin_as_javascript(
    client: TestClient, name: str
) -> None:
    response = client.get(f"/static/js/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text == (ROOT / "static" / "js" / name).read_text(encoding="utf-8")
    assert response.headers["etag"]
    again = client.get(f"/static/js/{name}", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_request_id_is_returned(client: TestClient) -> None:
    assert len(client.get("/healthz").headers["x-request-id"]) == 16
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123-def"})
    assert given.headers["x-request-id"] == "abc-123-def"
    forged = client.get("/healthz", headers={"X-Request-ID": "bad id\nline"})
    assert forged.headers["x-request-id"] != "bad id\nline"


def test_me_echoes_the_verified_claims(client: TestClient) -> None:
    token = post_json(client, {"id": "42", "signature": sign("42")}).json()["access_token"]
    response = client.get("/v1/me", headers={"Authorization": f"Bearer {token}", "Origin": ORIGIN})
    assert response.status_code == 200
    assert response.json()["sub"] == "42"
    assert response.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    "header", [None, "Basic abc", "Bearer", "Bearer not.a.jwt", "Bearer a.b.c"]
)
def test_me_refuses_missing_or_bad_tokens(client: TestClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/v1/me", headers=headers)
    assert_error(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_me_refuses_an_expired_token(client: TestClient, clock: Clock) -> None:
    token = post_json(client, {"id": "42", "signature": sign("42")}).json()["access_token"]
    clock.advance(600 + 10)
    response = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401, "invalid_token")


def test_me_preflight_allows_the_authorization_header(client: TestClient) -> None:
    response = client.options(
        "/v1/me", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-headers"] == "Authorization, DPoP"


def test_no_secret_or_signature_in_any_error(client: TestClient) -> None:
    signature = sign("43")
    for body in (
        {"id": "42", "signature": signature},
        {"id": "42", "signature": signature, SECRET: 1},
        {"id": SECRET, "signature": signature},
    ):
        text = post_json(client, body).text
        assert signature not in text and SECRET not in text


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    post_json(client, {"id": "42", "signature": sign("42")})
    post_json(client, {"id": "42", "signature": "0" * 64})
    client.post("/v1/shops/other.myshopify.com/customer-token", json={})
    client.get("/nope-" + SECRET)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    route = 'route="/v1/shops/{shop}/customer-token"'
    assert f'shapestoken_requests_total{{method="POST",{route},status="200"}} 1' in text
    assert f'shapestoken_requests_total{{method="POST",{route},status="401"}} 1' in text
    assert f'shapestoken_requests_total{{method="POST",{route},status="404"}} 1' in text
    assert 'route="unmatched",status="404"} 1' in text
    assert f"shapestoken_request_duration_seconds_count{{{route}}} 3" in text
    assert f'shapestoken_request_duration_seconds_bucket{{{route},le="+Inf"}} 3' in text
    assert 'shapestoken_ratelimit_tracked_keys{limiter="per_customer"} 1' in text
    assert "shapestoken_signing_keys_published 1" in text
    # Neither raw paths nor shops become labels.
    assert SECRET not in text and "other.myshopify.com" not in text
    assert text.count("# TYPE shapestoken_ratelimit_tracked_keys gauge") == 1
