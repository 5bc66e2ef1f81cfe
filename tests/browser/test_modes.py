"""The stronger customer proofs in a real Chromium: timestamped signatures and the App Proxy.

One real server whose shop has both ``signature_max_age`` and ``app_proxy_secret``, and a
storefront on another origin that renders the real snippet in each mode. The storefront
also plays Shopify's App Proxy: ``/apps/shapes/<rest>`` on the shop's own origin is
forwarded to the service's ``/v1/app-proxy/<rest>``, signed as Shopify signs it.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.conftest import SECRET, SHOP
from tests.helpers import PROXY_SECRET, shopify_sign
from tests.servers import Server, config_toml, free_port, start_server, verify
from tests.shopify_theme import hmac_sha256, read_config
from tests.storefront import (
    CUSTOMER,
    HTTP_ERROR,
    KEY,
    KEY_PREFIX,
    LOADED,
    PageErrors,
    Storefront,
    StorefrontHandler,
    Traffic,
    ready,
    seed,
    storage,
    visit,
)

pytestmark = pytest.mark.browser

MAX_AGE = 86400
APP_PREFIX = "/apps/shapes"
#: The snippet's default endpoint in app-proxy mode.
APP_ENDPOINT = f"{APP_PREFIX}/customer-token"
HMAC_HEX = re.compile(r"[0-9a-f]{64}")
CONFIG = "() => JSON.parse(document.getElementById('shapes-token-config').textContent)"

Params = list[tuple[str, str]]


class AppProxy:
    """Shopify's App Proxy, as a storefront route for ``/apps/shapes/``.

    Like Shopify: appends ``shop``, ``logged_in_customer_id`` (from the storefront's
    session, empty for a guest), ``path_prefix`` and ``timestamp`` to the request's own
    query, signs them with the app's secret, and forwards the request server to server.
    ``tamper`` changes the parameters after signing (a forged request).
    """

    def __init__(self, service: str, *, tamper: Callable[[Params], Params] | None = None) -> None:
        self.service = service
        self.tamper = tamper
        self.signatures: list[str] = []

    def __call__(self, handler: StorefrontHandler) -> None:
        url = urlsplit(handler.path)
        rest = url.path.removeprefix(f"{APP_PREFIX}/")
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        params = [
            *parse_qsl(url.query, keep_blank_values=True),
            ("shop", SHOP),
            ("logged_in_customer_id", handler.logged_in_customer()),
            ("path_prefix", APP_PREFIX),
            ("timestamp", str(int(time.time()))),
        ]
        signature = shopify_sign(params, PROXY_SECRET)
        self.signatures.append(signature)
        params.append(("signature", signature))
        if self.tamper is not None:
            params = self.tamper(params)
        forwarded = urllib.request.Request(
            f"{self.service}/v1/app-proxy/{rest}?{urlencode(params)}",
            data=body,
            method=handler.command,
            headers={"Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(forwarded, timeout=10) as response:
                status, headers, content = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, content = error.code, error.headers, error.read()
        handler.respond(status, content, headers.get("Content-Type", "application/json"))


@dataclass
class Site:
    server: Server
    storefront: Storefront  # in the shop's allowed_origins; serves the App Proxy
    proxy: AppProxy

    @property
    def endpoint(self) -> str:
        return f"{self.server.url}/v1/shops/{SHOP}/customer-token"

    def storefront_with_proxy(self, proxy: AppProxy) -> Storefront:
        storefront = Storefront(endpoint=self.endpoint, script_src=self.storefront.script_src)
        storefront.routes[f"{APP_PREFIX}/"] = proxy
        return storefront


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    storefront = Storefront(
        endpoint=f"{api}/v1/shops/{SHOP}/customer-token",
        script_src=f"{api}/static/js/shapes-token.js",
    )
    proxy = AppProxy(api)
    storefront.routes[f"{APP_PREFIX}/"] = proxy
    extra_shop = f'signature_max_age = {MAX_AGE}\napp_proxy_secret = "env:APP_PROXY_SECRET"'
    try:
        server = start_server(
            tmp_path_factory.mktemp("browser-modes"),
            config_toml(api, origins=[storefront.origin], extra_shop=extra_shop),
            env={"APP_PROXY_SECRET": PROXY_SECRET},
            port=port,
        )
    except BaseException:
        storefront.close()
        raise
    yield Site(server, storefront, proxy)
    storefront.close()
    log = server.stop()
    # Whatever the browser and the proxy sent, no secret or token reached the server's log.
    assert SECRET not in log
    assert PROXY_SECRET not in log
    assert "eyJ" not in log


def page_config(page: Page) -> dict[str, Any]:
    config: dict[str, Any] = page.evaluate(CONFIG)
    return config


# -- timestamped signatures -------------------------------------------------------------


def test_a_timestamped_page_posts_its_ts_and_stores_a_token_that_verifies(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    rendered = time.time()
    page = visit(context, site.storefront.url(customer=CUSTOMER, mode="timestamped"))
    token = ready(page)["token"]
    assert storage(page) == {KEY: token}
    claims = verify(token, site.server)
    assert claims["sub"] == CUSTOMER and claims["shop"] == SHOP

    config = page_config(page)
    assert abs(int(config["ts"]) - rendered) < 60
    assert config["signature"] == hmac_sha256(f"{CUSTOMER}:{config['ts']}", SECRET)
    (post,) = [request for request in traffic.to("/customer-token") if request.method == "POST"]
    assert post.url == site.endpoint
    assert post.post_data_json == {
        "id": CUSTOMER,
        "signature": config["signature"],
        "ts": config["ts"],
    }
    assert traffic.statuses("POST", site.endpoint) == [200]


def test_a_stale_timestamped_page_is_refused_once_and_asks_for_a_reload(
    site: Site, context: BrowserContext, traffic: Traffic, page_errors: PageErrors
) -> None:
    page_errors.allow(HTTP_ERROR.format(status=401), "ShapesToken: .* signature_expired")
    # A page rendered (cached, or copied) an hour past signature_max_age ago.
    rendered = int(time.time()) - MAX_AGE - 3600
    # The page's timers run on a clock the test moves, so "no retry" is checked for
    # every timer the script could have set, not only those due within a wait.
    page = context.new_page()
    page.clock.install()
    visit(
        context,
        site.storefront.url(customer=CUSTOMER, mode="timestamped", at=str(rendered)),
        page=page,
    )
    config = page_config(page)
    # Genuine, only old: the HMAC of "<id>:<ts>" with the shop's secret.
    assert config["ts"] == str(rendered)
    assert config["signature"] == hmac_sha256(f"{CUSTOMER}:{rendered}", SECRET)

    outcome = ready(page)
    assert outcome["error"] == "signature_expired", outcome
    assert "reload the page" in outcome["message"]
    page.clock.run_for(10 * 60 * 1000)  # ten minutes: any retry or refresh timer fires
    assert traffic.count("POST", site.endpoint) == 1
    assert traffic.statuses("POST", site.endpoint) == [401]
    assert storage(page) == {}


# -- the Shopify App Proxy --------------------------------------------------------------


def test_an_app_proxy_page_gets_its_token_same_origin_and_holds_no_secret(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    page = context.new_page()
    response = page.goto(site.storefront.url(customer=CUSTOMER, mode="app-proxy"))
    assert response is not None
    html = response.text()
    page.wait_for_function(LOADED)
    token = ready(page)["token"]
    assert storage(page) == {KEY: token}
    assert verify(token, site.server)["sub"] == CUSTOMER

    # One GET, to the storefront's own origin; Shopify's proxy did the signing.
    (request,) = traffic.to("/customer-token")
    assert request.method == "GET"
    assert request.url == site.storefront.url(APP_ENDPOINT)
    assert traffic.statuses("GET", request.url) == [200]
    signature = site.proxy.signatures[-1]

    config = read_config(html)
    assert config["endpoint"] == APP_ENDPOINT
    assert config["signature"] is None and config["ts"] is None
    for text in (html, page.content()):
        assert PROXY_SECRET not in text and SECRET not in text
        assert signature not in text
        assert not HMAC_HEX.search(text), "the page carries a signature"
    log = site.server.output()
    assert PROXY_SECRET not in log and signature not in log


@pytest.fixture
def tampering_storefront(site: Site) -> Iterator[Storefront]:
    """A storefront whose proxy changes the customer after Shopify signed the request."""

    def other_customer(params: Params) -> Params:
        return [(name, "7" if name == "logged_in_customer_id" else value) for name, value in params]

    storefront = site.storefront_with_proxy(AppProxy(site.server.url, tamper=other_customer))
    yield storefront
    storefront.close()


def test_a_tampered_app_proxy_request_gets_no_token(
    tampering_storefront: Storefront,
    context: BrowserContext,
    traffic: Traffic,
    page_errors: PageErrors,
) -> None:
    page_errors.allow(HTTP_ERROR.format(status=401), "ShapesToken: .* invalid_signature")
    page = visit(context, tampering_storefront.url(customer=CUSTOMER, mode="app-proxy"))
    outcome = ready(page)
    assert outcome["error"] == "invalid_signature", outcome
    assert [request.method for request in traffic.to("/customer-token")] == ["GET"]
    assert traffic.statuses("GET", tampering_storefront.url(APP_ENDPOINT)) == [401]
    assert storage(page) == {}


def test_a_guest_app_proxy_page_makes_no_request_and_clears_tokens(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    page = seed(context, site.storefront, {KEY: "x.y.z", f"{KEY_PREFIX}7": "x.y.z", "cart": "1"})
    visit(context, site.storefront.url(customer="guest", mode="app-proxy"), page)
    assert page_config(page)["customerId"] is None
    assert ready(page) == {"token": None}
    assert storage(page) == {"cart": "1"}
    assert traffic.to("/customer-token") == []
