"""shapes-token.js in a real Chromium, against a real server, from a storefront on another origin.

The storefront pages are rendered from the real snippet (tests/shopify_theme.py) and
served from their own origin, so the browser enforces CORS exactly as on a shop.
Each test gets a fresh browser context: its own localStorage and Web Locks.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.conftest import SECRET, SHOP
from tests.servers import Server, config_toml, free_port, start_server, wait_ready
from tests.shopify_theme import render_snippet

pytestmark = pytest.mark.browser

CUSTOMER = "4242"
KEY_PREFIX = "shapes:omneo:shapestoken:"
KEY = KEY_PREFIX + CUSTOMER
# The machine has no network: nothing in the browser may try to reach out.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

BLANK = b"<!doctype html><meta charset='utf-8'><title>Storefront</title><p>blank</p>"
PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Storefront</title></head>
<body>
<h1>Storefront</h1>
{snippet}
</body>
</html>
"""

# window.ShapesToken.ready as a value: {token} or {error, message}, never a thrown error.
READY = """() => window.ShapesToken.ready.then(
  (token) => ({ token }),
  (err) => ({ error: String(err && err.code), message: String(err && err.message) }))"""
STORAGE = "() => Object.fromEntries(Object.entries(localStorage))"


def chromium_executable() -> str:
    """The system Chromium: ``$CHROMIUM``, else ``chromium`` on the PATH. Missing is a failure."""
    wanted = os.environ.get("CHROMIUM") or "chromium"
    path = shutil.which(wanted)
    if path is None:
        pytest.fail(
            f"Chromium not found ({wanted!r}): the browser tests drive the system Chromium. "
            "The test command installs it (apt-get install -y chromium); "
            "or set CHROMIUM to its path.",
            pytrace=False,
        )
    return path


# -- the storefront: a shop's pages on their own origin ---------------------------------

Handler = Callable[["StorefrontHandler"], None]


class Storefront(ThreadingHTTPServer):
    """A storefront on its own 127.0.0.1 port (its own origin).

    ``/?customer=<id>|guest[&mode=...]`` renders the real snippet as a theme would;
    ``/blank`` is a plain page of the same origin, to seed storage before a visit.
    ``routes`` adds handlers by path (a test App Proxy, say).
    """

    daemon_threads = True

    def __init__(self, *, endpoint: str, script_src: str, secret: str = SECRET) -> None:
        super().__init__(("127.0.0.1", 0), StorefrontHandler)
        self.endpoint = endpoint
        self.script_src = script_src
        self.secret = secret
        self.routes: dict[str, Handler] = {}
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def url(self, path: str = "/", **query: str) -> str:
        return f"{self.origin}{path}" + (f"?{urlencode(query)}" if query else "")

    def page(self, query: Mapping[str, str]) -> str:
        customer = query.get("customer", "guest")
        mode = query.get("mode")
        snippet = render_snippet(
            customer_id=None if customer == "guest" else int(customer),
            secret=self.secret,
            # Shopify's App Proxy path is the snippet's default endpoint in that mode.
            endpoint=None if mode == "app-proxy" else self.endpoint,
            mode=mode,
            script_src=self.script_src,
        )
        return PAGE.format(snippet=snippet)

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=10)


class StorefrontHandler(BaseHTTPRequestHandler):
    server: Storefront

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        route = self.server.routes.get(url.path)
        if route is not None:
            route(self)
        elif url.path == "/":
            page = self.server.page(dict(parse_qsl(url.query)))
            self.respond(200, page.encode("utf-8"))
        elif url.path == "/blank":
            self.respond(200, BLANK)
        else:
            self.respond(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        route = self.server.routes.get(urlsplit(self.path).path)
        if route is None:
            self.respond(404, b"not found", "text/plain")
        else:
            route(self)

    def respond(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/html; charset=utf-8",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest shows failures, not every page view


# -- the deployment: a real token server and two storefronts ----------------------------


@dataclass
class Site:
    server: Server
    storefront: Storefront  # in the shop's allowed_origins
    foreign: Storefront  # another origin, not allowed

    @property
    def endpoint(self) -> str:
        return f"{self.server.url}/v1/shops/{SHOP}/customer-token"

    @property
    def me(self) -> str:
        return f"{self.server.url}/v1/me"


@dataclass
class Traffic:
    """What a browser context sent, as the page's network saw it."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    responses: list[tuple[str, str, int]] = field(default_factory=list)

    def count(self, method: str, url: str) -> int:
        return self.requests.count((method, url))

    def statuses(self, method: str, url: str) -> list[int]:
        return [status for m, u, status in self.responses if (m, u) == (method, url)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_executable()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    endpoint = f"{api}/v1/shops/{SHOP}/customer-token"
    script_src = f"{api}/static/js/shapes-token.js"
    storefront = Storefront(endpoint=endpoint, script_src=script_src)
    foreign = Storefront(endpoint=endpoint, script_src=script_src)
    try:
        server = start_server(
            tmp_path_factory.mktemp("browser"),
            config_toml(api, origins=[storefront.origin]),
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
    # Whatever the browser sent, no secret or token reached the server's log.
    assert SECRET not in log
    assert "eyJ" not in log


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context()
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def traffic(context: BrowserContext) -> Traffic:
    seen = Traffic()
    context.on("request", lambda request: seen.requests.append((request.method, request.url)))
    context.on(
        "response",
        lambda response: seen.responses.append(
            (response.request.method, response.url, response.status)
        ),
    )
    return seen


# -- page helpers -----------------------------------------------------------------------


def visit(context: BrowserContext, url: str, page: Page | None = None) -> Page:
    """Open ``url`` and wait until shapes-token.js has started."""
    page = page or context.new_page()
    page.goto(url)
    page.wait_for_function("() => window.ShapesToken !== undefined")
    return page


def ready(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(READY)
    return result


def storage(page: Page) -> dict[str, str]:
    items: dict[str, str] = page.evaluate(STORAGE)
    return items


def blank(context: BrowserContext, storefront: Storefront) -> Page:
    """A page of the storefront's origin that does not run the snippet."""
    page = context.new_page()
    page.goto(storefront.url("/blank"))
    return page


def seed(context: BrowserContext, storefront: Storefront, items: Mapping[str, str]) -> Page:
    """Put ``items`` in the storefront origin's localStorage before any snippet page loads."""
    page = blank(context, storefront)
    page.evaluate(
        "(items) => Object.entries(items).forEach(([k, v]) => localStorage.setItem(k, v))",
        dict(items),
    )
    return page


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


def verify(token: str, server: Server) -> dict[str, Any]:
    """What a downstream API does: the JWKS, the key by kid, a full verification."""
    signing_key = jwt.PyJWKClient(f"{server.url}/.well-known/jwks.json").get_signing_key_from_jwt(
        token
    )
    claims: dict[str, Any] = jwt.decode(
        token,
        signing_key.key,
        algorithms=["ES256"],
        audience=server.url,
        issuer=server.url,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )
    return claims


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
    page.wait_for_function("() => window.ShapesToken !== undefined")
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
    site: Site, context: BrowserContext, traffic: Traffic
) -> None:
    # Well-formed and fresh, so the client uses it; signed by a foreign key, so the API refuses.
    forged = forge(exp=time.time() + 600, iss=site.server.url, aud=site.server.url)
    page = seed(context, site.storefront, {KEY: forged})
    visit(context, site.storefront.url(customer=CUSTOMER), page)
    assert ready(page) == {"token": forged}
    assert traffic.count("POST", site.endpoint) == 0

    result = page.evaluate(
        """async (url) => {
             const response = await window.ShapesToken.client.authorizedFetch(url)
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


def test_a_storefront_on_an_origin_not_allowed_gets_no_token(
    site: Site, context: BrowserContext
) -> None:
    page = visit(context, site.foreign.url(customer=CUSTOMER))
    outcome = ready(page)
    # The preflight is refused (403 without CORS headers): the page sees a network error.
    assert outcome.get("error") in {"origin_not_allowed", "network_error"}, outcome
    assert storage(page) == {}


# -- development mode: `shapestoken serve` with no config, and its /demo page -----------


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("SHAPESTOKEN_CONFIG", "SHAPESTOKEN_SIGNING_KEYS")
    }
    env["PYTHONUNBUFFERED"] = "1"
    log = tmp_path / "serve.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port", str(port)],
            cwd=tmp_path,  # no ./shapestoken.toml here: the development default
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, tmp_path / "shapestoken.toml", env, log)
    try:
        wait_ready(server)
        yield server
    finally:
        server.stop()


def test_the_development_demo_page_works_in_a_real_browser(
    dev_server: Server, context: BrowserContext
) -> None:
    key = f"{KEY_PREFIX}1001"
    page = visit(context, f"{dev_server.url}/demo")
    expect(page.locator("#expiry")).to_have_text(
        re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
    )
    assert key in storage(page)
    page.click("#call-me")
    expect(page.locator("#output")).to_contain_text('"sub": "1001"')

    visit(context, f"{dev_server.url}/demo?customer=guest", page)
    assert ready(page) == {"token": None}
    assert key not in storage(page)
