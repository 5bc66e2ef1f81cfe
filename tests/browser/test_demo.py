"""``/demo`` in a real Chromium: `shapestoken serve` with no config, step by step.

The page shows the rendered Liquid, the request, the response, the localStorage entry
and a call with the token; these tests read each step as a person would and check it
against the real server, at a desktop and at a phone width, with no console error.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.servers import Server, start_dev_server, verify
from tests.shopify_theme import hmac_sha256
from tests.storefront import HTTP_ERROR, KEY_PREFIX, PageErrors, storage, visit

pytestmark = pytest.mark.browser

DEMO_KEY = f"{KEY_PREFIX}1001"
ANONYMOUS_KEY = f"{KEY_PREFIX}anonymous"
WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`shapestoken serve` in a directory without a config: the development default."""
    server = start_dev_server(tmp_path_factory.mktemp("dev"))
    try:
        yield server
    finally:
        server.stop()


def demo_secret(server: Server) -> str:
    return (server.config.parent / ".shapestoken" / "demo-id-secret").read_text().strip()


def step(page: Page, name: str) -> str:
    text: str = page.locator(f"#step-{name}").inner_text()
    return text


def pre_json(page: Page, selector: str, index: int = 0) -> dict[str, object]:
    """The first JSON object in the ``index``-th <pre> of ``selector``."""
    text = page.locator(f"{selector} pre").nth(index).inner_text()
    value, _ = json.JSONDecoder().raw_decode(text[text.index("{") :])
    assert isinstance(value, dict)
    return value


def fits(page: Page) -> None:
    """Nothing sticks out sideways: the page reads without horizontal scrolling."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, width


def test_the_customer_view_shows_each_step_of_the_flow(
    dev_server: Server, context: BrowserContext
) -> None:
    page = visit(context, f"{dev_server.url}/demo")
    expect(page.locator("#request pre")).to_be_visible()
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Customer 1001")

    # 1. The Liquid as rendered for this customer, with the signature.
    signature = hmac_sha256("1001", demo_secret(dev_server))
    liquid = step(page, "liquid")
    assert "{% render 'shapes-token'" in liquid and '"customerId": "1001"' in liquid
    assert f'"signature": "{signature}"' in liquid
    assert demo_secret(dev_server) not in page.content()

    # 2. The request, as shapes-token.js sent it.
    endpoint = f"{dev_server.url}/v1/shops/demo.myshopify.com/customer-token"
    assert f"POST {endpoint}" in step(page, "request")
    assert pre_json(page, "#request") == {"id": "1001", "signature": signature}

    # 3. The response.
    response = step(page, "response")
    assert "HTTP 200" in response and "cache-control: no-store" in response
    assert pre_json(page, "#response")["identifier"] == "customer"

    # 4. The localStorage key and its value, decoded.
    token = storage(page)[DEMO_KEY]
    claims = verify(token, dev_server)
    shown = step(page, "storage")
    assert DEMO_KEY in shown and token[:24] in shown
    assert pre_json(page, "#storage")["alg"] == "ES256"
    assert f'"jti": "{claims["jti"]}"' in shown and '"sub": "1001"' in shown

    # 5. A call with the token: the demo shop runs dpop = "optional", so it is bound.
    page.click("#call-me")
    expect(page.locator("#call")).to_contain_text("HTTP 200")
    call = step(page, "call")
    assert f"GET {dev_server.url}/v1/me" in call and f"authorization: DPoP {token[:16]}" in call
    assert "dpop: eyJ" in call
    assert pre_json(page, "#call", 1)["jti"] == claims["jti"]
    fits(page)


def test_the_customer_view_shows_the_binding_and_the_copied_token_failing(
    dev_server: Server, context: BrowserContext, page_errors: PageErrors
) -> None:
    page_errors.allow(HTTP_ERROR.format(status=401))  # the page's own call without a proof
    page = visit(context, f"{dev_server.url}/demo")
    expect(page.locator("#binding dl")).to_be_visible()
    token = storage(page)[DEMO_KEY]
    jkt = verify(token, dev_server)["cnf"]["jkt"]
    binding = step(page, "binding")
    assert f"jkt\n{jkt}" in binding and "extractable\nfalse" in binding
    assert f'{{"jkt":"{jkt}"}}' in binding

    # The curl line the page prints, run from here: 401, the key stays in the browser.
    curl = page.locator("#stolen pre").inner_text()
    assert curl == f"curl -s {dev_server.url}/v1/me -H 'Authorization: Bearer {token}'"
    request = urllib.request.Request(
        f"{dev_server.url}/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401

    # The page's own call without the proof: 401 too, and it says why.
    page.click("#call-stolen")
    expect(page.locator("#stolen-call")).to_contain_text("HTTP 401")
    shown = step(page, "binding")
    assert 'www-authenticate: DPoP error="invalid_token"' in shown
    fits(page)


def test_a_reload_reuses_the_token_and_says_so_until_it_is_forgotten(
    dev_server: Server, context: BrowserContext
) -> None:
    page = visit(context, f"{dev_server.url}/demo")
    expect(page.locator("#request pre")).to_be_visible()
    first = storage(page)[DEMO_KEY]

    page.reload()
    expect(page.locator("#request")).to_contain_text("still fresh, so it was reused")
    assert storage(page)[DEMO_KEY] == first
    expect(page.locator("#storage")).to_contain_text(first[:24])

    page.click("#forget")
    expect(page.locator("#request pre")).to_be_visible()
    assert storage(page)[DEMO_KEY] != first


def test_the_guest_view_swaps_the_customer_token_for_an_anonymous_one(
    dev_server: Server, context: BrowserContext
) -> None:
    page = visit(context, f"{dev_server.url}/demo")
    expect(page.locator("#request pre")).to_be_visible()

    page.click("nav >> text=Guest")
    page.wait_for_url("**/demo?customer=guest")
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Guest")
    expect(page.locator("#request pre")).to_be_visible()
    liquid = step(page, "liquid")
    assert '"customerId": null' in liquid and '"guestClientId": "storefront-web"' in liquid

    # The implicit grant of the demo shop's public client, and its answer.
    assert f"POST {dev_server.url}/oauth/token" in step(page, "request")
    assert "grant_type=implicit&client_id=storefront-web" in step(page, "request")
    assert pre_json(page, "#response")["identifier"] == "implicit"

    # Stored under the anonymous key; the customer's token is gone, and the page says so.
    stored = storage(page)
    assert DEMO_KEY not in stored
    anonymous = stored[ANONYMOUS_KEY]
    claims = verify(anonymous, dev_server)
    assert claims["token_use"] == "implicit" and claims["sub"] == "storefront-web"
    shown = step(page, "storage")
    assert ANONYMOUS_KEY in shown and f"Removed {DEMO_KEY}" in shown
    assert '"token_use": "implicit"' in shown
    assert "/v1/me, which answers for customers only, refuses it" in step(page, "call")
    assert page.locator("#call-me").count() == 0
    fits(page)

    # Back to the customer: the anonymous token stays for the next guest page.
    visit(context, f"{dev_server.url}/demo", page)
    expect(page.locator("#request pre")).to_be_visible()
    assert storage(page)[ANONYMOUS_KEY] == anonymous and DEMO_KEY in storage(page)


def test_another_customer_and_the_timestamped_view_work(
    dev_server: Server, context: BrowserContext
) -> None:
    page = visit(context, f"{dev_server.url}/demo")
    page.fill("#other-customer", "4242")
    page.click("form.other button")
    page.wait_for_url("**/demo?customer=4242")
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Customer 4242")
    expect(page.locator("#request pre")).to_be_visible()
    assert verify(storage(page)[f"{KEY_PREFIX}4242"], dev_server)["sub"] == "4242"

    visit(context, f"{dev_server.url}/demo?mode=timestamped", page)
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Customer 1001, timestamped")
    page.click("#call-me")
    expect(page.locator("#call")).to_contain_text('"sub": "1001"')


@pytest.mark.parametrize("query", ["customer=abc", "customer=0123", "mode=app-proxy"])
def test_a_view_that_does_not_exist_is_refused_visibly(
    dev_server: Server, context: BrowserContext, page_errors: PageErrors, query: str
) -> None:
    # Chromium reports the page's own 400 status in the console; nothing else may appear.
    page_errors.allow(HTTP_ERROR.format(status=400))
    page = context.new_page()
    response = page.goto(f"{dev_server.url}/demo?{query}")
    assert response is not None and response.status == 400
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("This view does not exist")
    expect(alert).to_contain_text("must be")
    assert page.evaluate("typeof window.ShapesToken") == "undefined"
    assert page.locator("nav a[aria-current=page]").count() == 0
    fits(page)
