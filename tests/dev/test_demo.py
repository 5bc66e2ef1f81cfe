"""``/demo`` over HTTP: the views it serves, the snippet it renders, the views it refuses."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from service.config import Settings
from service.dev.settings import DEMO_CUSTOMER, DEMO_SHOP, development_settings
from service.web.app import create_app
from tests.conftest import ClientFactory
from tests.shopify_theme import hmac_sha256, read_config, scripts


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return development_settings(8123, state_dir=tmp_path)


@pytest.fixture
def demo(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url=settings.issuer) as client:
        yield client


def secret_of(settings: Settings) -> str:
    return settings.shops[DEMO_SHOP].id_secrets[0].reveal().decode()


def current_view(page: str) -> str:
    """The label of the navigation link marked as the current page."""
    (label,) = re.findall(r'<a href="[^"]*" aria-current="page">([^<]*)</a>', page)
    return html.unescape(label)


def test_the_demo_renders_the_real_snippet_with_a_signature_that_mints(
    demo: TestClient, settings: Settings
) -> None:
    response = demo.get("/demo")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    config = read_config(response.text)
    assert config["customerId"] == DEMO_CUSTOMER
    assert config["endpoint"] == f"{settings.issuer}/v1/shops/{DEMO_SHOP}/customer-token"
    assert config["signature"] == hmac_sha256(DEMO_CUSTOMER, secret_of(settings))
    assert secret_of(settings) not in response.text
    assert current_view(response.text) == f"Customer {DEMO_CUSTOMER}"

    minted = demo.post(
        config["endpoint"], json={"id": config["customerId"], "signature": config["signature"]}
    )
    assert minted.status_code == 200, minted.text


def test_the_snippet_runs_in_the_head_and_is_shown_as_rendered(demo: TestClient) -> None:
    page = demo.get("/demo").text
    head, body = page.split("</head>", 1)
    assert 'id="shapes-token-config"' in head and "/static/js/shapes-token.js" in head
    rendered = body.split('<pre id="rendered">', 1)[1].split("</pre>", 1)[0]
    # What the page shows is exactly what it runs.
    assert html.unescape(rendered).strip() in head
    assert "{% render 'shapes-token'" in html.unescape(body)


def test_a_guest_view_renders_a_null_customer_and_the_guest_client(
    demo: TestClient, settings: Settings
) -> None:
    response = demo.get("/demo", params={"customer": "guest"})
    config = read_config(response.text)
    assert config["customerId"] is None and config["signature"] is None
    assert config["guestClientId"] == "storefront-web"
    assert config["guestEndpoint"] == f"{settings.issuer}/oauth/token"
    assert current_view(response.text) == "Guest"


def test_the_guest_view_s_client_gets_an_anonymous_token(demo: TestClient) -> None:
    origin = demo.base_url.scheme + "://" + demo.base_url.netloc.decode()
    config = read_config(demo.get("/demo", params={"customer": "guest"}).text)
    response = demo.post(
        config["guestEndpoint"],
        data={"grant_type": "implicit", "client_id": config["guestClientId"]},
        headers={"Origin": origin},
    )
    assert response.status_code == 200, response.text
    assert response.json()["identifier"] == "implicit"
    assert response.headers["access-control-allow-origin"] == origin


def test_a_timestamped_view_signs_id_and_time(demo: TestClient, settings: Settings) -> None:
    response = demo.get("/demo", params={"mode": "timestamped"})
    config = read_config(response.text)
    assert config["mode"] == "timestamped"
    signed = f"{DEMO_CUSTOMER}:{config['ts']}"
    assert config["signature"] == hmac_sha256(signed, secret_of(settings))
    assert current_view(response.text) == f"Customer {DEMO_CUSTOMER}, timestamped"


def test_another_customer_is_signed_for_and_named_in_the_navigation(
    demo: TestClient, settings: Settings
) -> None:
    response = demo.get("/demo", params={"customer": "4242"})
    config = read_config(response.text)
    assert config["customerId"] == "4242"
    assert config["signature"] == hmac_sha256("4242", secret_of(settings))
    assert current_view(response.text) == "Customer 4242"
    assert 'href="/demo?customer=guest"' in response.text


@pytest.mark.parametrize(
    "query, says",
    [
        ({"customer": "abc"}, "?customer= must be a Shopify customer ID"),
        ({"customer": "0123"}, "?customer= must be a Shopify customer ID"),
        ({"customer": "1" * 21}, "?customer= must be a Shopify customer ID"),
        ({"customer": "<script>alert(1)</script>"}, "?customer= must be"),
        ({"customer": ""}, "?customer= must be"),
        ({"mode": "app-proxy"}, "?mode= must be one of: signed, timestamped"),
    ],
)
def test_a_view_that_does_not_exist_is_refused_on_the_page(
    demo: TestClient, query: dict[str, str], says: str
) -> None:
    response = demo.get("/demo", params=query)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in response.text and says in html.unescape(response.text)
    # Nothing runs: no snippet, no script, and nothing the query said is echoed.
    assert scripts(response.text) == []
    assert "<script>alert" not in response.text
    assert 'aria-current="page">' not in response.text


def test_the_demo_has_an_icon_so_the_browser_asks_for_no_favicon(demo: TestClient) -> None:
    for query in ({}, {"customer": "guest"}, {"customer": "x"}):
        assert '<link rel="icon" href="data:image/svg+xml,' in demo.get("/demo", params=query).text


def test_the_demo_does_not_exist_outside_development_mode(client_factory: ClientFactory) -> None:
    response = client_factory().get("/demo")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "not_found"
