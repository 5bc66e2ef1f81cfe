"""The theme guide's "Where to put the code", run as written in a real Chromium.

Each page is a theme layout rendered by the real Liquid engine: the snippet in <head>,
the guide's example where a theme would put it, and shapes-token.js loaded the way
the example says (Shopify's script_tag, defer, or as a module), from a storefront on its
own origin against a real server. The service's URL in the examples is replaced by the
test server's; nothing else is changed.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.conftest import SECRET, SHOP
from tests.examples import example
from tests.servers import Server, config_toml, free_port, start_server, verify
from tests.storefront import (
    CUSTOMER,
    KEY,
    SCRIPT,
    SDK,
    Assets,
    PageErrors,
    Storefront,
    Traffic,
    open_page,
    ready,
    storage,
    theme_page,
    wait_for,
)

pytestmark = pytest.mark.browser


@dataclass
class Site:
    server: Server
    storefront: Storefront  # in the shop's allowed_origins; serves the theme's assets
    foreign: Storefront  # another origin, not allowed
    assets: Assets

    @property
    def endpoint(self) -> str:
        return f"{self.server.url}/v1/shops/{SHOP}/customer-token"

    def readme(self, name: str) -> str:
        return example(name, service=self.server.url)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    endpoint = f"{api}/v1/shops/{SHOP}/customer-token"
    script_src = f"{api}/static/js/shapes-token.js"
    storefront = Storefront(endpoint=endpoint, script_src=script_src)
    foreign = Storefront(endpoint=endpoint, script_src=script_src)
    assets = Assets({"shapes-token.js": SCRIPT.read_text(encoding="utf-8")})
    storefront.routes["/assets/"] = assets
    try:
        server = start_server(
            tmp_path_factory.mktemp("placement"),
            config_toml(api, origins=[storefront.origin]),
            port=port,
        )
    except BaseException:
        storefront.close()
        foreign.close()
        raise
    yield Site(server, storefront, foreign, assets)
    storefront.close()
    foreign.close()
    log = server.stop()
    assert SECRET not in log and "eyJ" not in log


def split_script_tag(code: str) -> tuple[str, str]:
    """The guide's script-tag example: its render line, and its script_tag line."""
    render, script_tag = code.strip().rsplit("\n", 1)
    assert script_tag.startswith("{{ 'shapes-token.js' | asset_url | script_tag")
    return render, script_tag


# Notes what the page had when a section's inline script ran (before the section example).
PROBE = """<script>
  window.probe = { loadedBeforeSection: typeof ShapesToken.createTokenClient === 'function' }
</script>"""


def test_code_in_a_section_before_a_classic_script_tag_load_gets_a_token(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    render, script_tag = split_script_tag(site.readme("script-tag"))
    url = theme_page(site.storefront, head=render, body=PROBE + site.readme("section") + script_tag)
    page = open_page(context, url)

    expect(page.locator("#shapes-greeting")).to_have_text(f"Signed in as customer {CUSTOMER}")
    assert page.evaluate("window.probe") == {"loadedBeforeSection": False}
    verify(storage(page)[KEY], site.server)
    assert traffic.count("POST", site.endpoint) == 1


def test_a_script_tag_in_head_before_the_snippet_still_finds_the_config(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    # Themes often put every script at the top of <head>: it runs before the snippet.
    render, script_tag = split_script_tag(site.readme("script-tag"))
    url = theme_page(site.storefront, head=script_tag + "\n" + render, body=site.readme("section"))
    page = open_page(context, url)

    expect(page.locator("#shapes-greeting")).to_have_text(f"Signed in as customer {CUSTOMER}")
    assert traffic.count("POST", site.endpoint) == 1


def test_a_deferred_theme_script_and_the_service_hosted_script(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    site.assets.files["account.js"] = site.readme("theme-script")
    body = (
        '<p id="shapes-account">Loading…</p>\n'
        "{{ 'account.js' | asset_url | script_tag: defer: true }}"
    )
    page = open_page(context, theme_page(site.storefront, head=site.readme("head"), body=body))

    expect(page.locator("#shapes-account")).to_have_text(f"Customer {CUSTOMER}")
    assert traffic.count("POST", site.endpoint) == 1


def test_a_guest_page_says_so_in_every_placement(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    site.assets.files["account.js"] = site.readme("theme-script")
    body = (
        site.readme("section")
        + site.readme("module")
        + '<p id="shapes-account"></p>'
        + "{{ 'account.js' | asset_url | script_tag: defer: true }}"
    )
    page = open_page(
        context, theme_page(site.storefront, head=site.readme("head"), body=body, customer=None)
    )

    for element in ("#shapes-greeting", "#shapes-account", "#shapes-module"):
        expect(page.locator(element)).to_have_text("Log in to see your account.")
    assert traffic.count("POST", site.endpoint) == 0


def test_a_module_imports_the_named_exports_from_the_mjs(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    # Without any classic <script>: the module loads shapes-token.js itself.
    render, _ = split_script_tag(site.readme("script-tag"))
    page = open_page(context, theme_page(site.storefront, head=render, body=site.readme("module")))

    expect(page.locator("#shapes-module")).to_have_text(f"Customer {CUSTOMER}")
    exports = page.evaluate(
        """async (url) => Object.keys(await import(url)).sort()""",
        f"{site.server.url}/static/js/shapes-token.mjs",
    )
    assert exports == [
        "ANONYMOUS_KEY",
        "clearAllTokens",
        "clearCustomerTokens",
        "createTokenClient",
        "default",
        "ready",
        "storageKey",
    ]
    assert traffic.count("POST", site.endpoint) == 1


def test_a_module_next_to_a_classic_script_shares_its_one_client(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    page = open_page(
        context, theme_page(site.storefront, head=site.readme("head"), body=site.readme("module"))
    )

    expect(page.locator("#shapes-module")).to_have_text(f"Customer {CUSTOMER}")
    same = page.evaluate(
        """async (url) => {
             const module = await import(url)
             return module.default === window.ShapesToken && module.ready === ShapesToken.ready &&
               (await module.ready) === (await ShapesToken.ready)
           }""",
        f"{site.server.url}/static/js/shapes-token.mjs",
    )
    assert same is True
    # shapes-token.js ran twice (a classic script and a module): one client, one request.
    assert len(traffic.to("/shapes-token.js")) == 2
    assert traffic.count("POST", site.endpoint) == 1


def test_shapes_token_change_fires_and_the_sdk_recipe_follows_it(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    url = theme_page(
        site.storefront, head=site.readme("head"), body=SDK + site.readme("shapes-sdk")
    )
    page = open_page(context, url)

    first = wait_for(page, lambda s: len(s["inits"]) == 1)
    token = first["stored"]
    assert first["inits"] == [{"url": "https://api.acme.example", "token": token}]
    exp = verify(token, site.server)["exp"]
    assert first["changes"] == [{"customerId": CUSTOMER, "expiresAt": exp}]

    # Cleared: announced with expiresAt null; the SDK keeps its token until a new one.
    page.evaluate("async () => (await ShapesToken.ready).clear()")
    cleared = wait_for(page, lambda s: len(s["changes"]) == 2)
    assert cleared["changes"][1] == {"customerId": CUSTOMER, "expiresAt": None}
    assert len(cleared["inits"]) == 1

    # A new token: announced, and the SDK is initialised again with it.
    page.evaluate("async () => (await ShapesToken.ready).getToken()")
    renewed = wait_for(page, lambda s: len(s["inits"]) == 2)
    assert renewed["inits"][1]["token"] == renewed["stored"] != token
    assert renewed["changes"][2]["expiresAt"] == verify(renewed["stored"], site.server)["exp"]
    assert traffic.count("POST", site.endpoint) == 2


def test_a_token_changed_in_another_tab_reaches_this_tabs_sdk(
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    url = theme_page(
        site.storefront, head=site.readme("head"), body=SDK + site.readme("shapes-sdk")
    )
    first = open_page(context, url)
    token = wait_for(first, lambda s: len(s["inits"]) == 1)["stored"]
    second = open_page(context, url)
    assert ready(second) == {"token": token}  # the other tab reused it: no request
    assert traffic.count("POST", site.endpoint) == 1

    second.evaluate(
        """async () => {
             const client = await ShapesToken.ready
             client.clear()
             await client.getToken()
           }"""
    )
    state = wait_for(first, lambda s: len(s["inits"]) == 2)
    assert state["inits"][1]["token"] == state["stored"] != token
    assert [change["expiresAt"] is None for change in state["changes"]] == [False, True, False]


def test_a_page_on_a_foreign_origin_gets_a_network_error_naming_allowed_origins(
    site: Site, context: BrowserContext, page_errors: PageErrors
) -> None:
    page_errors.allow(
        "blocked by CORS policy", "net::ERR_FAILED", "ShapesToken: .* got no response"
    )
    page = open_page(
        context, theme_page(site.foreign, head=site.readme("head"), body=site.readme("section"))
    )

    # The example's .catch() says so on the page, instead of "Loading…" forever.
    expect(page.locator("#shapes-greeting")).to_have_text("Your account could not be loaded.")
    outcome = ready(page)
    assert outcome["error"] == "network_error", outcome
    message = outcome["message"]
    assert f"this page's origin ({site.foreign.origin}) is missing from allowed_origins" in message
    assert f'[shops."{SHOP}"]' in message and "the endpoint is wrong" in message
    assert "the service is down" in message and site.endpoint in message
    assert storage(page) == {}

    # The service says why in its log; CORS itself stays strict.
    log = site.server.output()
    assert f"error=origin_not_allowed origin={site.foreign.origin}" in log
    preflight = urllib.request.Request(
        site.endpoint,
        method="OPTIONS",
        headers={"Origin": site.foreign.origin, "Access-Control-Request-Method": "POST"},
    )
    try:
        urllib.request.urlopen(preflight, timeout=10)
        raise AssertionError("the preflight of a foreign origin was accepted")
    except urllib.error.HTTPError as refused:
        assert refused.code == 403
        assert refused.headers.get("Access-Control-Allow-Origin") is None
