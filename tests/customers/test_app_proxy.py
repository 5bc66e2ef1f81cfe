"""Shopify App Proxy requests: every status of the App Proxy table, with Shopify's own example."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from service.config import Rate, RateLimits
from service.customers.signatures import app_proxy_message, verify_app_proxy
from service.errors import InvalidSignature, SignatureExpired
from service.support.secret import Secret
from tests.conftest import SHOP, ClientFactory, Clock, make_shop
from tests.helpers import PROXY_SECRET, assert_error, proxied_query, shopify_sign

URL = "/v1/app-proxy/customer-token"

# Shopify's documented example ("Authenticate app proxies"), secret "hush".
SHOPIFY_EXAMPLE = (
    "extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id=1"
    "&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555"
    "&signature=4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb"
)


@pytest.fixture
def proxy_client(client_factory: ClientFactory) -> TestClient:
    return client_factory(shops={SHOP: make_shop(app_proxy_secret=Secret(PROXY_SECRET))})


def test_shopify_documented_example_verifies() -> None:
    params = parse_qsl(SHOPIFY_EXAMPLE)
    assert app_proxy_message(params) == (
        b"extra=1,2logged_in_customer_id=1path_prefix=/apps/awesome_reviews"
        b"shop=shop-name.myshopify.comtimestamp=1317327555"
    )
    verify_app_proxy(params, Secret("hush"), now=1317327555 + 30)
    with pytest.raises(SignatureExpired):
        verify_app_proxy(params, Secret("hush"), now=1317327555 + 91)
    with pytest.raises(InvalidSignature):
        verify_app_proxy(params, Secret("hush!"), now=1317327555)


@given(st.data())
def test_any_changed_parameter_breaks_the_signature(data: st.DataObject) -> None:
    clock = Clock()
    params = proxied_query(clock)
    index = data.draw(st.integers(0, len(params) - 2))  # not the signature itself
    name, value = params[index]
    changed = data.draw(st.text(min_size=1, max_size=5).filter(lambda v: v != value))
    tampered = [*params[:index], (name, changed), *params[index + 1 :]]
    with pytest.raises(InvalidSignature):
        verify_app_proxy(tampered, Secret(PROXY_SECRET), now=clock())


@pytest.mark.parametrize(
    "added",
    [("logged_in_customer_id", "43"), ("extra", "1"), ("shop", SHOP), ("signature", "0" * 64)],
)
def test_duplicate_or_added_parameters_break_the_signature(added: tuple[str, str]) -> None:
    clock = Clock()
    with pytest.raises(InvalidSignature):
        verify_app_proxy([*proxied_query(clock), added], Secret(PROXY_SECRET), now=clock())


@given(offset=st.integers(min_value=-100_000, max_value=100_000))
def test_timestamp_window_is_90_seconds(offset: int) -> None:
    clock = Clock()
    params = proxied_query(clock)
    if abs(offset) <= 90:
        verify_app_proxy(params, Secret(PROXY_SECRET), now=clock() + offset)
    else:
        with pytest.raises(SignatureExpired):
            verify_app_proxy(params, Secret(PROXY_SECRET), now=clock() + offset)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_signed_proxy_request_gets_a_token(
    proxy_client: TestClient, clock: Clock, method: str
) -> None:
    response = proxy_client.request(method, f"{URL}?{urlencode(proxied_query(clock))}")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "42" and claims["shop"] == SHOP
    assert body["identifier"] == "customer" and body["token"] == body["access_token"]
    assert "access-control-allow-origin" not in response.headers


def test_extra_parameters_signed_by_shopify_are_fine(
    proxy_client: TestClient, clock: Clock
) -> None:
    query = proxied_query(clock, extra=[("extra", "1"), ("extra", "2")])
    assert proxy_client.get(f"{URL}?{urlencode(query)}").status_code == 200


def test_a_guest_gets_login_required(proxy_client: TestClient, clock: Clock) -> None:
    response = proxy_client.get(f"{URL}?{urlencode(proxied_query(clock, customer=''))}")
    assert_error(response, 401, "login_required")


@pytest.mark.parametrize(
    "change",
    ["missing", "wrong", "customer", "added", "duplicate-signature", "uppercase"],
)
def test_bad_signatures_get_401(proxy_client: TestClient, clock: Clock, change: str) -> None:
    params = proxied_query(clock)
    signature = params[-1][1]
    if change == "missing":
        params = params[:-1]
    elif change == "wrong":
        params[-1] = ("signature", "0" * 64)
    elif change == "customer":
        params[1] = ("logged_in_customer_id", "43")
    elif change == "added":
        params.append(("logged_in_customer_id", "43"))
    elif change == "duplicate-signature":
        params.append(("signature", signature))
    else:
        params[-1] = ("signature", signature.upper())
    response = proxy_client.get(f"{URL}?{urlencode(params)}")
    body = assert_error(response, 401, "invalid_signature")
    assert signature not in str(body)


@pytest.mark.parametrize("offset", [-91, 91, -3600])
def test_an_old_or_future_timestamp_gets_signature_expired(
    proxy_client: TestClient, clock: Clock, offset: int
) -> None:
    query = urlencode(proxied_query(clock))
    clock.advance(-offset)
    assert_error(proxy_client.get(f"{URL}?{query}"), 401, "signature_expired")


def test_unknown_shop_or_no_proxy_secret_gets_404(
    client_factory: ClientFactory, clock: Clock
) -> None:
    query = proxied_query(clock)
    without_secret = client_factory()  # the shop exists but has no app_proxy_secret
    assert_error(without_secret.get(f"{URL}?{urlencode(query)}"), 404, "unknown_shop")
    other = [(k, "other.myshopify.com" if k == "shop" else v) for k, v in query]
    with_secret = client_factory(shops={SHOP: make_shop(app_proxy_secret=Secret(PROXY_SECRET))})
    assert_error(with_secret.get(f"{URL}?{urlencode(other)}"), 404, "unknown_shop")
    assert_error(with_secret.get(URL), 404, "unknown_shop")


@pytest.fixture
def proxy_only_client(client_factory: ClientFactory) -> TestClient:
    shop = make_shop(id_secrets=(), app_proxy_secret=Secret(PROXY_SECRET))
    return client_factory(shops={SHOP: shop})


@pytest.mark.parametrize(
    "body",
    [
        {"id": "42", "signature": "a" * 64},
        {"id": "42", "signature": "a" * 64, "ts": "1800000000"},
        {"id": "not a customer"},
    ],
    ids=["plain", "timestamped", "malformed"],
)
def test_an_app_proxy_only_shop_refuses_signed_ids(
    proxy_only_client: TestClient, body: dict[str, str]
) -> None:
    # Plain signatures never expire: a shop that moved to the App Proxy must be able
    # to turn them off, whatever a copied signature (or a garbage body) says.
    response = proxy_only_client.post(f"/v1/shops/{SHOP}/customer-token", json=body)
    assert_error(response, 403, "signed_ids_disabled")


def test_an_app_proxy_only_shop_still_mints_through_the_proxy(
    proxy_only_client: TestClient, clock: Clock
) -> None:
    response = proxy_only_client.get(f"{URL}?{urlencode(proxied_query(clock))}")
    assert response.status_code == 200, response.text


def test_the_re_split_attack_is_refused(proxy_client: TestClient, clock: Clock) -> None:
    # A guest URL that Shopify signed, carrying an extra parameter of the attacker's.
    guest = [
        ("extra", "Ylogged_in_customer_id=1234"),
        ("shop", SHOP),
        ("logged_in_customer_id", ""),
        ("path_prefix", "/apps/shapes"),
        ("timestamp", str(int(clock()))),
    ]
    signature = shopify_sign(guest)
    # Re-split: a name holding `=` (sent as %3D) swallows the guest's empty id.
    resplit = [
        ("extra", "Y"),
        ("logged_in_customer_id", "1234"),
        ("logged_in_customer_id=path_prefix", "/apps/shapes"),
        ("shop", SHOP),
        ("timestamp", str(int(clock()))),
        ("signature", signature),
    ]
    # The attack is real: both concatenate to the bytes Shopify signed.
    assert app_proxy_message(resplit) == app_proxy_message(guest)
    query = urlencode(resplit)
    assert "logged_in_customer_id%3Dpath_prefix=" in query
    body = assert_error(proxy_client.get(f"{URL}?{query}"), 401, "invalid_signature")
    assert "'='" in body["error_description"]
    with pytest.raises(InvalidSignature):
        verify_app_proxy(resplit, Secret(PROXY_SECRET), now=clock())


@pytest.mark.parametrize(
    "name",
    ["a=b", "a&b", "&", "x\x00", "x\n", "\r", "x\x7f", "x\x85", ""],
    ids=["equals", "ampersand", "lone-ampersand", "nul", "lf", "cr", "del", "c1", "empty"],
)
def test_names_that_could_re_split_are_refused_even_when_signed(
    proxy_client: TestClient, clock: Clock, name: str
) -> None:
    params = proxied_query(clock, extra=[(name, "1")])  # Shopify's signature covers it
    response = proxy_client.get(f"{URL}?{urlencode(params)}")
    assert_error(response, 401, "invalid_signature")


def test_a_signed_proxy_url_works_once(proxy_client: TestClient, clock: Clock) -> None:
    # Whoever sees a proxied URL (a log, a shared HAR file) cannot replay it within
    # its 90 s: its signature is remembered, in the state backend, until it expires.
    url = f"{URL}?{urlencode(proxied_query(clock))}"
    assert proxy_client.get(url).status_code == 200
    clock.advance(30)
    body = assert_error(proxy_client.get(url), 401, "invalid_signature")
    assert "already used" in body["error_description"]
    assert_error(proxy_client.post(url), 401, "invalid_signature")
    clock.advance(61)  # past the window: now it is simply too old
    assert_error(proxy_client.get(url), 401, "signature_expired")
    # Another request Shopify signed for the same customer is fine.
    assert proxy_client.get(f"{URL}?{urlencode(proxied_query(clock))}").status_code == 200


def test_a_refused_proxy_request_does_not_use_up_its_signature(
    client_factory: ClientFactory, clock: Clock
) -> None:
    limits = RateLimits(per_customer=Rate(1, 60), per_ip=Rate(100, 60))
    client = client_factory(
        shops={SHOP: make_shop(app_proxy_secret=Secret(PROXY_SECRET))}, rate_limits=limits
    )
    assert client.get(f"{URL}?{urlencode(proxied_query(clock))}").status_code == 200
    url = f"{URL}?{urlencode(proxied_query(clock, extra=[('n', '2')]))}"
    assert_error(client.get(url), 429, "rate_limited")  # the customer's budget, not a replay
    clock.advance(60)
    assert client.get(url).status_code == 200


def test_proxy_failures_are_limited_per_address(
    client_factory: ClientFactory, clock: Clock
) -> None:
    limits = RateLimits(per_customer=Rate(100, 60), per_ip=Rate(3, 60))
    client = client_factory(
        shops={SHOP: make_shop(app_proxy_secret=Secret(PROXY_SECRET))}, rate_limits=limits
    )
    forged = [*proxied_query(clock)[:-1], ("signature", "0" * 64)]
    for _ in range(3):
        assert_error(client.get(f"{URL}?{urlencode(forged)}"), 401, "invalid_signature")
    # A fourth guess from the same address is not even checked.
    response = client.get(f"{URL}?{urlencode(forged)}")
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) >= 1
    # Genuine requests are not counted per address (Shopify's proxy sends them all).
    for n in range(5):
        query = proxied_query(clock, customer=str(100 + n))
        assert client.get(f"{URL}?{urlencode(query)}").status_code == 200
