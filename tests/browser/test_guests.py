"""Guests in a real Chromium: an anonymous token, a login, a logout.

The server runs the theme guide's guest config (a public client named by the shop's
``guest_client``), with the storefront's origin in place of the guide's; the pages
render the guide's guest snippet and its examples, as a theme would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import SECRET, SHOP
from tests.examples import example
from tests.servers import Server, free_port, start_server, verify
from tests.storefront import (
    CUSTOMER,
    KEY,
    KEY_PREFIX,
    SDK,
    PageErrors,
    Storefront,
    Traffic,
    open_page,
    ready,
    seed,
    storage,
    theme_page,
    wait_for,
)

pytestmark = pytest.mark.browser

GUEST_CLIENT = "storefront-web"
ANONYMOUS_KEY = f"{KEY_PREFIX}anonymous"
README_ORIGINS = '"https://acme.myshopify.com", "https://www.acme.com"'


@dataclass
class Site:
    server: Server
    storefront: Storefront  # in the shop's and the guest client's allowed_origins
    foreign: Storefront  # in neither

    @property
    def oauth(self) -> str:
        return f"{self.server.url}/oauth/token"

    @property
    def endpoint(self) -> str:
        return f"{self.server.url}/v1/shops/{SHOP}/customer-token"

    def page(self, customer: str | None, storefront: Storefront | None = None) -> str:
        """A theme page with the guide's guest snippet, greeting, module and SDK recipe."""
        body = "".join([SDK, *(example(name, service=self.server.url) for name in BODY_EXAMPLES)])
        return theme_page(
            storefront or self.storefront,
            head=example("guest-snippet", service=self.server.url),
            body=body,
            customer=customer,
        )


BODY_EXAMPLES = ("shapes-sdk", "section", "module")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    storefront = Storefront(endpoint="", script_src="")
    foreign = Storefront(endpoint="", script_src="")
    readme_config = example("guest-config")
    assert readme_config.count(README_ORIGINS) == 2
    config = f"""
issuer = "{api}"
signing_key_dir = "keys"

[rate_limits]
per_customer = "1000/minute"
per_client = "1000/minute"
per_ip = "10000/minute"

{readme_config.replace(README_ORIGINS, f'"{storefront.origin}"')}
"""
    try:
        server = start_server(
            tmp_path_factory.mktemp("guests"),
            config,
            env={"ACME_ID_SECRET": SECRET},
            port=port,
        )
    except BaseException:
        storefront.close()
        foreign.close()
        raise
    yield Site(server, storefront, foreign)
    storefront.close()
    foreign.close()
    log = server.stop()
    assert SECRET not in log and "eyJ" not in log


def customer_id(page: Page) -> str | None:
    value: str | None = page.evaluate("async () => (await ShapesToken.ready).customerId")
    return value


def test_a_guest_gets_an_anonymous_token_logs_in_and_logs_out(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    guest_page, customer_page = site.page(None), site.page(CUSTOMER)

    # A guest: an implicit token of the shop's public client, under the anonymous key.
    page = open_page(context, guest_page)
    state = wait_for(page, lambda s: len(s["inits"]) == 1, key=ANONYMOUS_KEY)
    anonymous = state["stored"]
    claims = verify(anonymous, site.server)
    assert claims["token_use"] == "implicit" and claims["sub"] == GUEST_CLIENT
    assert claims["scope"] == "catalog:read" and "shop" not in claims
    assert customer_id(page) is None
    assert state["inits"] == [{"url": "https://api.acme.example", "token": anonymous}]
    assert state["changes"] == [{"customerId": None, "expiresAt": claims["exp"]}]
    expect(page.locator("#shapes-greeting")).to_have_text("Log in to see your account.")
    expect(page.locator("#shapes-module")).to_have_text("Log in to see your account.")
    (grant,) = traffic.to("/oauth/token")
    assert grant.post_data == f"grant_type=implicit&client_id={GUEST_CLIENT}"
    assert traffic.count("POST", site.endpoint) == 0
    assert traffic.to("/v1/me") == []

    # A login: the customer's own token and key; the anonymous one stays as it was.
    page.goto(customer_page)
    state = wait_for(page, lambda s: len(s["inits"]) == 1)
    assert customer_id(page) == CUSTOMER
    assert verify(state["stored"], site.server)["sub"] == CUSTOMER
    assert state["inits"][0]["token"] == state["stored"]
    expect(page.locator("#shapes-greeting")).to_have_text(f"Signed in as customer {CUSTOMER}")
    assert storage(page) == {KEY: state["stored"], ANONYMOUS_KEY: anonymous}
    assert traffic.count("POST", site.endpoint) == 1

    # A logout: no customer token is left; the anonymous token is reused, not fetched.
    page.goto(guest_page)
    state = wait_for(page, lambda s: len(s["inits"]) == 1, key=ANONYMOUS_KEY)
    assert state["inits"][0]["token"] == anonymous
    assert storage(page) == {ANONYMOUS_KEY: anonymous}
    assert customer_id(page) is None
    assert len(traffic.to("/oauth/token")) == 1


def test_an_expired_anonymous_token_is_fetched_again(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    now = int(time.time())
    expired = jwt.encode(
        {"sub": GUEST_CLIENT, "iat": now - 4000, "exp": now - 400},
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
    )
    page = seed(context, site.storefront, {ANONYMOUS_KEY: expired, KEY: "x.y.z"})
    page.goto(site.page(None))

    token = ready(page)["token"]
    assert token != expired and verify(token, site.server)["token_use"] == "implicit"
    assert storage(page) == {ANONYMOUS_KEY: token}
    assert len(traffic.to("/oauth/token")) == 1


def test_a_guest_page_on_a_foreign_origin_gets_a_network_error_naming_the_clients_origins(
    site: Site, context: BrowserContext, page_errors: PageErrors
) -> None:
    page_errors.allow(
        "blocked by CORS policy", "net::ERR_FAILED", "ShapesToken: .* got no response"
    )
    page = open_page(context, site.page(None, site.foreign))

    outcome = ready(page)
    assert outcome["error"] == "network_error", outcome
    assert (
        f"this page's origin ({site.foreign.origin}) is missing from allowed_origins of "
        f'[clients."{GUEST_CLIENT}"]'
    ) in outcome["message"]
    assert storage(page) == {}
    assert f"error=origin_not_allowed origin={site.foreign.origin}" in site.server.output()
