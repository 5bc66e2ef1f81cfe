"""The storefront side of the real-browser tests: shop pages on their own origin.

The pages are rendered from the real snippet (tests/shopify_theme.py) and served from
their own 127.0.0.1 port, so the browser enforces CORS exactly as on a shop. The
fixtures that drive Chromium (``browser``, ``context``, ``traffic``) are in conftest.py.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, WebError

from tests.conftest import SECRET
from tests.shopify_theme import environment, render_snippet, theme_context

#: The browser script, as a theme copies it to its assets/.
SCRIPT = Path(__file__).resolve().parent.parent / "static" / "js" / "shapes-token.js"
CUSTOMER = "4242"
KEY_PREFIX = "shapes:omneo:shapestoken:"
KEY = KEY_PREFIX + CUSTOMER
#: The storefront's login session, as Shopify's own session cookie: who is logged in.
SESSION_COOKIE = "storefront_customer"
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

# Every page names its icon, as a shop's does: otherwise Chromium asks for
# /favicon.ico and logs the 404 as a console error.
ICON = "<link rel='icon' href='data:,'>"
BLANK = f"<!doctype html><meta charset='utf-8'><title>Storefront</title>{ICON}<p>blank</p>".encode()
PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Storefront</title>{icon}</head>
<body>
<h1>Storefront</h1>
{snippet}
</body>
</html>
"""

# The page client's first token as a value: {token} (null without a client) or
# {error, message}, never a thrown error.
READY = """() => window.ShapesToken.ready
  .then((client) => (client ? client.getToken() : null))
  .then(
    (token) => ({ token }),
    (err) => ({ error: String(err && err.code), message: String(err && err.message) }))"""
#: True once shapes-token.js itself has run (the snippet's placeholder only has `ready`).
LOADED = "() => window.ShapesToken && typeof window.ShapesToken.createTokenClient === 'function'"
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

    ``/?customer=<id>|guest[&mode=...][&at=<unix time>]`` renders the real snippet as a
    theme would (as of ``at``, if given) and logs that customer in (a session cookie);
    ``/blank`` is a plain page of the same origin, to seed storage before a visit.
    ``routes`` adds handlers by path, or by path prefix for a key ending in ``/``
    (a test App Proxy, say).
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

    def route(self, path: str) -> Handler | None:
        found = self.routes.get(path)
        if found is None:
            prefixes = [key for key in self.routes if key.endswith("/") and path.startswith(key)]
            found = self.routes[max(prefixes, key=len)] if prefixes else None
        return found

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
            now=float(query["at"]) if "at" in query else None,
        )
        return PAGE.format(snippet=snippet, icon=ICON)

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=10)


class StorefrontHandler(BaseHTTPRequestHandler):
    server: Storefront

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        route = self.server.route(url.path)
        if route is not None:
            route(self)
        elif url.path == "/":
            query = dict(parse_qsl(url.query))
            customer = query.get("customer", "guest")
            session = "" if customer == "guest" else customer
            page = self.server.page(query)
            self.respond(
                200,
                page.encode("utf-8"),
                headers={"Set-Cookie": f"{SESSION_COOKIE}={session}; Path=/; HttpOnly"},
            )
        elif url.path == "/blank":
            self.respond(200, BLANK)
        else:
            self.respond(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        route = self.server.route(urlsplit(self.path).path)
        if route is None:
            self.respond(404, b"not found", "text/plain")
        else:
            route(self)

    def logged_in_customer(self) -> str:
        """The customer of this browser's storefront session; empty for a guest."""
        cookies = SimpleCookie(self.headers.get("Cookie", ""))
        morsel = cookies.get(SESSION_COOKIE)
        return morsel.value if morsel is not None else ""

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


@dataclass
class Traffic:
    """What a browser context sent, as the page's network saw it."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    responses: list[tuple[str, str, int]] = field(default_factory=list)
    sent: list[Request] = field(default_factory=list)

    def record(self, request: Request) -> None:
        self.requests.append((request.method, request.url))
        self.sent.append(request)

    def count(self, method: str, url: str) -> int:
        return self.requests.count((method, url))

    def statuses(self, method: str, url: str) -> list[int]:
        return [status for m, u, status in self.responses if (m, u) == (method, url)]

    def to(self, path_suffix: str) -> list[Request]:
        """The requests whose URL path ends with ``path_suffix``, in order."""
        return [r for r in self.sent if urlsplit(r.url).path.endswith(path_suffix)]


class PageErrors:
    """Uncaught errors and console errors of every page of a browser context.

    A browser test fails on any of them unless it said it expects it (``allow``): a
    page that works must not log an error, and one that fails must fail as designed.
    """

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def watch(self, context: BrowserContext) -> None:
        context.on("console", self.console)
        context.on("weberror", self.uncaught)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.seen.append(f"console.error: {message.text}")

    def uncaught(self, error: WebError) -> None:
        self.seen.append(f"uncaught: {error.error}")

    def allow(self, *patterns: str) -> None:
        """Expect errors matching these regular expressions (searched anywhere)."""
        self.allowed += [re.compile(pattern) for pattern in patterns]

    def unexpected(self) -> list[str]:
        return [e for e in self.seen if not any(p.search(e) for p in self.allowed)]


#: What Chromium logs for a response the page's code handles (an API's 401, say).
HTTP_ERROR = r"Failed to load resource: the server responded with a status of {status}"


# -- page helpers -----------------------------------------------------------------------


def visit(context: BrowserContext, url: str, page: Page | None = None) -> Page:
    """Open ``url`` and wait until shapes-token.js has started."""
    page = page or context.new_page()
    page.goto(url)
    page.wait_for_function(LOADED)
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


# -- theme pages: a layout with the theme guide's Liquid where a theme puts it -------------

_pages = count()


@dataclass
class Assets:
    """The theme's assets/ on the storefront's origin, as Shopify's CDN serves them."""

    files: dict[str, str] = field(default_factory=dict)

    def __call__(self, handler: StorefrontHandler) -> None:
        body = self.files.get(handler.path.split("?", 1)[0].removeprefix("/assets/"))
        if body is None:
            handler.respond(404, b"not found", "text/plain")
        else:
            handler.respond(200, body.encode(), "text/javascript; charset=utf-8")


def theme_page(
    storefront: Storefront, *, head: str, body: str = "", customer: str | None = CUSTOMER
) -> str:
    """Render a layout with ``head`` and ``body`` (Liquid) and serve it; returns its URL."""
    source = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Storefront</title>{ICON}\n{head}\n</head>\n<body>\n<h1>Storefront</h1>\n"
        f"{body}\n</body>\n</html>\n"
    )
    env = environment(assets=f"{storefront.origin}/assets")
    html = env.from_string(source).render(**theme_context(customer, SECRET)).encode()
    path = f"/page-{next(_pages)}"
    storefront.routes[path] = lambda handler: handler.respond(200, html)
    return storefront.url(path)


def open_page(context: BrowserContext, url: str) -> Page:
    """A new tab at ``url``, once shapes-token.js has run."""
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(LOADED)
    return page


# Stands in for Omneo's SDK, recording every init; and records every change event.
SDK = """<script>
  window.inits = []
  window.changes = []
  window.ShapesSDK = { init: (options) => window.inits.push(options) }
  window.addEventListener('shapes-token:change', (event) => window.changes.push(event.detail))
</script>"""


def sdk_state(page: Page, key: str = KEY) -> dict[str, Any]:
    """What the SDK stand-in saw (``inits``, ``changes``) and the token ``stored`` at ``key``."""
    state: dict[str, Any] = page.evaluate(
        """(key) => ({ inits: window.inits, changes: window.changes,
                       stored: localStorage.getItem(key) })""",
        key,
    )
    return state


def wait_for(
    page: Page, condition: Callable[[dict[str, Any]], bool], key: str = KEY
) -> dict[str, Any]:
    """:func:`sdk_state` once ``condition`` holds; at most 5 s."""
    for _ in range(100):
        state = sdk_state(page, key)
        if condition(state):
            return state
        page.wait_for_timeout(50)
    raise AssertionError(f"never reached: {sdk_state(page, key)}")
