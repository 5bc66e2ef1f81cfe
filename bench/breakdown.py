"""Where a mint's microseconds go, in-process: ``python -m bench.breakdown``.

The real app (``create_app``: one shop, an ES256 key, limits raised so nothing
is refused, request lines written to a file as ``shapestoken serve`` writes
them) mints for a new signed customer on every request, called with raw ASGI
messages: no server, no socket. Each part's cost is what one request's CPU time
loses when that part is switched off (a stub answering as it would), so the
parts are measured where they run, with the rest of the request around them
in the CPU's caches; timed alone in a loop, most cost half as much. The bare
Starlette app (read the body, answer a small JSON) is timed the same way.

Not included: the server's HTTP handling and the socket work, which every app
pays (``python -m bench`` measures the whole server's CPU per request).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import hmac
import logging
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message

if TYPE_CHECKING:
    from service.config.values import DPoPMode

SHOP = "bench.myshopify.com"
PATH = f"/v1/shops/{SHOP}/customer-token"
ISSUER = "https://tokens.bench.example"
FIRST_CUSTOMER = 7_000_000_000_000


class Mints:
    """Signed bodies of customers never seen before, and the ASGI calls that send them."""

    def __init__(self, secret: str) -> None:
        self._keyed = hmac.new(secret.encode(), digestmod=hashlib.sha256)
        self._next = FIRST_CUSTOMER

    def bodies(self, count: int) -> list[bytes]:
        bodies = []
        for customer in range(self._next, self._next + count):
            mac = self._keyed.copy()
            mac.update(str(customer).encode())
            bodies.append(f'{{"id":"{customer}","signature":"{mac.hexdigest()}"}}'.encode())
        self._next += count
        return bodies

    async def cpu_per_request(self, app: ASGIApp, count: int, **scope: Any) -> float:
        """CPU µs per request for ``count`` mints through ``app``."""
        bodies = self.bodies(count)
        statuses: list[int] = []

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        start = time.process_time()
        for body in bodies:
            await app(request_scope(body, **scope), Body(body), send)
        spent = time.process_time() - start
        if set(statuses) != {200}:
            raise RuntimeError(f"the app answered {sorted(set(statuses))}, not only 200")
        return spent / count * 1e6


class Body:
    """``receive`` for one request: its whole body, then the client leaving."""

    def __init__(self, body: bytes) -> None:
        self.messages: list[Message] = [{"type": "http.request", "body": body}]

    async def __call__(self) -> Message:
        return self.messages.pop() if self.messages else {"type": "http.disconnect"}


def request_scope(body: bytes, **extra: Any) -> dict[str, Any]:
    """What uvicorn hands an app for a keep-alive JSON POST from a local client."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "state": {},
        **extra,
    }


def bare_app() -> Starlette:
    """The framework's ceiling, as ``bench/baseline.py``."""

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        return JSONResponse({"ok": True, "bytes": len(body)})

    return Starlette(routes=[Route("/v1/shops/{shop}/customer-token", endpoint, methods=["POST"])])


def service_app(directory: Path, secret: str, *, dpop: DPoPMode = "off") -> Starlette:
    """The real app for one shop (``dpop`` its DPoP setting), logging to ``directory``."""
    from service.config import Rate, RateLimits, Settings, ShopConfig
    from service.observability import logs
    from service.signing import keys
    from service.support.secret import Secret
    from service.web.app import create_app, settle_heap
    from service.wiring import build_components

    shop = ShopConfig(
        domain=SHOP,
        id_secrets=(Secret(secret),),
        allowed_origins=frozenset({f"https://{SHOP}"}),
        audience="https://api.bench.example",
        dpop=dpop,
    )
    settings = Settings(
        issuer=ISSUER,
        shops={SHOP: shop},
        # Far above the load: nothing is refused, and both limiters still run.
        rate_limits=RateLimits(per_customer=Rate(10**6, 1), per_ip=Rate(10**9, 1)),
    )
    keyring = keys.KeyRing([keys.generate("ES256")], window=3600)
    app = create_app(settings, components=build_components(settings, keyring=keyring))
    # As a server logs: one line per request, here to a file.
    logs.configure("text")
    handler = logs.log.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(directory / "requests.log", "w", encoding="utf-8"))
    settle_heap()
    return app


@contextlib.contextmanager
def patched(target: Any, name: str, value: Any) -> Iterator[None]:
    saved = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, saved)


Switches = dict[str, Callable[[], contextlib.AbstractContextManager[None]]]


def switches(app: Starlette) -> tuple[Switches, Switches]:
    """The endpoint's parts and the middleware's, and how to switch each off."""
    from service.customers import signatures
    from service.observability.accesslog import access_log
    from service.web import customer
    from service.web.http import Reply

    components = app.state.components
    signer = components.issuer._signer  # prepared by the warm-up's first mint
    issued = components.customers.mint(components.customers.shop(SHOP), "42")
    fixed = Reply(200, b"{}", [])

    async def allowed(checks: object) -> None:
        return None

    def unsigned(message: bytes) -> bytes:
        return bytes(64)

    def verified(self: object, customer_id: str, signature: object, ts: int | None = None) -> None:
        return None

    endpoint: Switches = {
        "ES256 signature (OpenSSL, and DER to R||S)": lambda: patched(
            signer, "_signature", unsigned
        ),
        # The mint without its signature (switched off just before).
        "JWT claims, jti, JSON, base64url": lambda: patched(
            components.customers, "mint", lambda shop, customer_id, jkt=None: issued
        ),
        "HMAC-SHA256 check of the id": lambda: patched(
            signatures.CustomerSigner, "verify", verified
        ),
        "limits and blocks (one state call)": lambda: patched(components.state, "check", allowed),
        "token response body (JSON)": lambda: patched(
            customer, "token_reply", lambda issued, cors=None: fixed
        ),
    }
    middleware: Switches = {
        "request line (access log)": lambda: patched(access_log, "enabled", False),
        "metrics (prometheus-client)": lambda: patched(
            components.metrics, "observe", lambda *args: None
        ),
    }
    return endpoint, middleware


async def measure(requests: int, rounds: int) -> str:
    secret = secrets.token_hex(32)
    mints = Mints(secret)
    with tempfile.TemporaryDirectory(prefix="shapestoken-breakdown-") as tmp:
        app = service_app(Path(tmp), secret)
        bare = bare_app()
        route = next(
            r
            for r in app.routes
            if isinstance(r, Route)
            and r.path == "/v1/shops/{shop}/customer-token"
            and "POST" in (r.methods or ())
        )

        async def best(target: ASGIApp, **scope: Any) -> float:
            runs = [await mints.cpu_per_request(target, requests, **scope) for _ in range(rounds)]
            return min(runs)

        await mints.cpu_per_request(app, 2_000)  # warm-up: caches, the signer, the limiters
        await mints.cpu_per_request(bare, 2_000)
        whole = await best(app)
        in_endpoint, in_middleware = switches(app)
        # Parts are switched off one after another: each costs what the request
        # lost when it went, and what is left at the end is the request's frame.
        costs: list[tuple[str, float]] = []
        with contextlib.ExitStack() as off:
            before = whole
            for name, switch in [*in_endpoint.items(), *in_middleware.items()]:
                off.enter_context(switch())
                after = await best(app)
                costs.append((name, before - after))
                before = after
            # The frame: the endpoint alone as the middleware calls it, and the rest.
            endpoint = await best(route.app, route=route, path_params={"shop": SHOP})
        bare_cost = await best(bare)
    rows = [
        *costs[: len(in_endpoint)],
        ("body read, strict JSON, field checks, CORS, endpoint glue", endpoint),
        *costs[len(in_endpoint) :],
        ("middleware: proxy headers, request id, routing, 499s", before - endpoint),
    ]
    lines = [
        f"In-process CPU per mint, best of {rounds} x {requests:,} requests "
        f"(each a new customer); each part is what a request lost when it was "
        "switched off, one after another, down to the request's frame:",
        "",
        "| part | µs |",
        "|---|--:|",
        *(f"| {name} | {cost:.1f} |" for name, cost in rows),
        f"| **total** | **{whole:.1f}** |",
        "",
        f"The bare Starlette POST, timed the same way: {bare_cost:.1f} µs per request.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.breakdown", description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000, help="mints per round (10000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure, best kept (3)")
    args = parser.parse_args(argv)
    gc.collect()
    print(asyncio.run(measure(args.requests, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
