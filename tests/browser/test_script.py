"""shapes-token.js in a real Chromium, against a real server, from a storefront on another origin.

The storefront pages are rendered from the real snippet (tests/storefront.py) and
served from their own origin, so the browser enforces CORS exactly as on a shop.
Each test gets a fresh browser context: its own localStorage and Web Locks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import BrowserContext, Page

from tests.conftest import SECRET, SHOP
from tests.servers import Server, config_toml, free_port, start_server, verify
from tests.storefront import (
    CUSTOMER,
    HTTP_ERROR,
    KEY,
    KEY_PREFIX,
    LOADED,
    PageErrors,
    Storefront,
    Traffic,
    blank,
    ready,
    seed,
    storage,
    visit,
)

pytestmark = pytest.mark.browser


# -- the deployment: a real token server and a storefront on its own origin --------------


@dataclass
class Site:
    server: Server
    storefront: Storefront  # in the shop's allowed_origins

    @property
    def endpoint(self) -> str:
        return f"{self.server.url}/v1/shops/{SHOP}/customer-token"

    @property
    def me(self) -> str:
        return f"{self.server.url}/v1/me"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    endpoint = f"{api}/v1/shops/{SHOP}/customer-token"
    script_src = f"{api}/static/js/shapes-token.js"
    storefront = Storefront(endpoint=endpoint, script_src=script_src)
    try:
        server = start_server(
            tmp_path_factory.mktemp("browser"),
            config_toml(api, origins=[storefront.origin]),
            port=port,
        )
    except BaseException:
        storefront.close()
        raise
    yield Site(server, storefront)
    storefront.close()
    log = server.stop()
    # Whatever the browser sent, no secret or token reached the server's log.
    assert SECRET not in log
    assert "eyJ" not in log


# -- page helpers -----------------------------------------------------------------------


def waiting_for_lock(page: Page, name: str) -> int:
    """How many requests for the Web Lock ``name`` are queued in the page's origin."""
    count: int = page.evaluate(
        """async (name) => (await navigator.locks.query()).pending
             .filter((lock) => lock.name === name).length""",
        name,
    )
    return count


def forge(*, exp: float, **claims: object) -> str:
    """A well-formed ES256 JWT signed by a key the server has never seen."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    payload = {"sub": CUSTOMER, "shop": SHOP, "iat": now, "nbf": now, "exp": int(exp), **claims}
    return jwt.encode(payload, key, algorithm="ES256", headers={"typ": "at+jwt", "kid": "forged"})


# -- the tests --------------------------------------------------------------------------


def test_a_first_visit_stores_a_token_that_verifies_against_the_jwks(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    page = visit(context, site.storefront.url(customer=CUSTOMER))
    token = ready(page)["token"]
    assert storage(page) == {KEY: token}
    claims = verify(token, site.server)
    assert claims["sub"] == CUSTOMER and claims["shop"] == SHOP
    assert traffic.count("POST", site.endpoint) == 1


def test_a_reload_reuses_the_stored_token(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    page = visit(context, site.storefront.url(customer=CUSTOMER))
    token = ready(page)["token"]
    assert traffic.count("POST", site.endpoint) == 1

    page.reload()
    page.wait_for_function(LOADED)
    assert ready(page) == {"token": token}
    assert traffic.count("POST", site.endpoint) == 1


def test_an_expired_stored_token_is_replaced(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    expired = forge(exp=time.time() - 3600, iat=int(time.time()) - 4500)
    page = seed(context, site.storefront, {KEY: expired})
    visit(context, site.storefront.url(customer=CUSTOMER), page)
    token = ready(page)["token"]
    assert token != expired
    assert storage(page) == {KEY: token}
    assert verify(token, site.server)["exp"] > time.time()
    assert traffic.count("POST", site.endpoint) == 1


def test_a_guest_page_removes_every_stored_token_and_nothing_else(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    others = {"shapes:omneo:other": "kept", "cart": "kept", "shapes:omneo:shapestoken": "kept"}
    tokens = {KEY: forge(exp=time.time() + 600), f"{KEY_PREFIX}7": "x.y.z"}
    page = seed(context, site.storefront, {**tokens, **others})
    visit(context, site.storefront.url(customer="guest"), page)
    assert ready(page) == {"token": None}
    assert storage(page) == others
    assert traffic.count("POST", site.endpoint) == 0


def test_four_tabs_at_once_make_exactly_one_token_request(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    # Hold the customer's Web Lock, so all four tabs start before any can fetch.
    gate = blank(context, site.storefront)
    gate.evaluate(
        """(name) => new Promise((held) => navigator.locks.request(name, () => {
             held()
             return new Promise((release) => { window.releaseLock = release })
           }))""",
        KEY,
    )
    tabs = [visit(context, site.storefront.url(customer=CUSTOMER)) for _ in range(4)]
    # Every tab is queued behind the gate for the customer's lock; none has fetched.
    deadline = time.monotonic() + 10
    while waiting_for_lock(gate, KEY) < 4 and time.monotonic() < deadline:
        gate.wait_for_timeout(20)
    assert waiting_for_lock(gate, KEY) == 4
    assert traffic.count("POST", site.endpoint) == 0

    gate.evaluate("() => window.releaseLock()")
    tokens = {ready(tab)["token"] for tab in tabs}
    assert len(tokens) == 1 and None not in tokens
    assert storage(gate) == {KEY: tokens.pop()}
    assert traffic.count("POST", site.endpoint) == 1


def test_a_401_from_an_api_refreshes_the_token_once_and_retries(
    site: Site, context: BrowserContext, traffic: Traffic, page_errors: PageErrors
) -> None:
    page_errors.allow(HTTP_ERROR.format(status=401))  # the API refuses the forged token
    # Well-formed and fresh, so the client uses it; signed by a foreign key, so the API refuses.
    forged = forge(exp=time.time() + 600, iss=site.server.url, aud=site.server.url)
    page = seed(context, site.storefront, {KEY: forged})
    visit(context, site.storefront.url(customer=CUSTOMER), page)
    assert ready(page) == {"token": forged}
    assert traffic.count("POST", site.endpoint) == 0

    result = page.evaluate(
        """async (url) => {
             const client = await window.ShapesToken.ready
             const response = await client.authorizedFetch(url)
             return { status: response.status, body: await response.json() }
           }""",
        site.me,
    )
    assert result["status"] == 200, result
    assert result["body"]["sub"] == CUSTOMER
    assert traffic.statuses("GET", site.me) == [401, 200]
    assert traffic.count("POST", site.endpoint) == 1
    token = storage(page)[KEY]
    assert token != forged
    assert verify(token, site.server)["jti"] == result["body"]["jti"]


# -- what the client refuses to trust ---------------------------------------------------


def test_a_401_from_an_api_not_in_api_origins_is_returned_without_a_new_token(
    site: Site, context: BrowserContext, traffic: Traffic, page_errors: PageErrors
) -> None:
    page_errors.allow(HTTP_ERROR.format(status=401))
    # Some other API on another origin (here the storefront's own) that refuses the token.
    site.storefront.routes["/third-party"] = lambda handler: handler.respond(
        401, b'{"error": "unauthorized"}', "application/json"
    )
    page = visit(context, site.storefront.url(customer=CUSTOMER))
    token = ready(page)["token"]

    status = page.evaluate(
        "async (url) => (await (await ShapesToken.ready).authorizedFetch(url)).status",
        site.storefront.url("/third-party"),
    )
    assert status == 401
    assert traffic.statuses("GET", site.storefront.url("/third-party")) == [401]
    assert traffic.count("POST", site.endpoint) == 1  # the first token only
    assert storage(page) == {KEY: token}


def test_a_page_with_a_second_config_tag_is_refused(
    site: Site, context: BrowserContext, traffic: Traffic, page_errors: PageErrors
) -> None:
    page_errors.allow("ShapesToken: .*2 #shapes-token-config elements")
    injected = (
        '<script type="application/json" id="shapes-token-config">'
        '{"customerId": "7", "signature": "' + "0" * 64 + '", "endpoint": "https://evil.example"}'
        "</script>"
    )
    page_html = site.storefront.page({"customer": CUSTOMER}).replace(
        "</body>", injected + "</body>"
    )
    site.storefront.routes["/injected"] = lambda handler: handler.respond(200, page_html.encode())
    page = visit(context, site.storefront.url("/injected"))

    outcome = ready(page)
    assert outcome["error"] == "invalid_config", outcome
    assert "render the shapes-token snippet once per page" in outcome["message"]
    assert traffic.count("POST", site.endpoint) == 0
    assert not [request for request in traffic.sent if "evil.example" in request.url]
    assert storage(page) == {}


@pytest.mark.parametrize(
    "sub, lifetime",
    [
        ("7", 600),  # another customer's token under this customer's key
        (CUSTOMER, 10 * 365 * 86400),  # a lifetime the service never gives
    ],
    ids=["another-customer", "absurd-exp"],
)
def test_a_stored_token_the_service_could_not_have_issued_here_is_replaced(
    site: Site, context: BrowserContext, traffic: Traffic, sub: str, lifetime: int
) -> None:
    planted = forge(exp=time.time() + lifetime, sub=sub)
    page = seed(context, site.storefront, {KEY: planted})
    visit(context, site.storefront.url(customer=CUSTOMER), page)

    token = ready(page)["token"]
    assert token != planted
    assert storage(page) == {KEY: token}
    assert verify(token, site.server)["sub"] == CUSTOMER
    assert traffic.count("POST", site.endpoint) == 1
