"""The application factory: ``create_app(settings)`` builds everything once."""

from __future__ import annotations

import gc
import time
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from service import keys
from service.assets import asset_dir
from service.config import Settings
from service.errors import (
    ConfigError,
    MethodNotAllowed,
    NotFound,
    ServerError,
    ServiceError,
    ServiceUnavailable,
)
from service.http import error_response
from service.logs import log
from service.metrics import Metrics
from service.middleware import RequestLog, StaticHeaders
from service.ratelimit import RateLimiter
from service.routes import Endpoints, Services, Shop
from service.tokens import TokenIssuer, TokenVerifier


def load_keyring(settings: Settings, *, now: Callable[[], float] = time.time) -> keys.KeyRing:
    """The signing keys from the environment bundle or the key directory.

    Refuses to start without one: replicas must share keys, and a key made up
    per replica would sign tokens the other replicas' JWKS does not publish.
    """
    if settings.signing_keys_pem is not None:
        found = keys.load_bundle(settings.signing_keys_pem.reveal().decode("ascii", "replace"))
        where = "SHAPESTOKEN_SIGNING_KEYS"
    else:
        found = keys.load_dir(settings.signing_key_dir)
        where = str(settings.signing_key_dir)
    if not found:
        raise ConfigError(f"no signing key in {where}; create one with `shapestoken keys generate`")
    ring = keys.KeyRing(found, window=keys.publish_window(settings.max_token_ttl), now=now)
    if ring.active.alg != settings.signing_alg:
        raise ConfigError(
            f"the active signing key is {ring.active.alg} but signing_alg is "
            f"{settings.signing_alg}; run `shapestoken keys rotate` to add one"
        )
    return ring


def build_services(
    settings: Settings,
    *,
    keyring: keys.KeyRing | None = None,
    now: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> Services:
    keyring = keyring or load_keyring(settings, now=now)
    limits = settings.rate_limits
    per_customer = RateLimiter(limits.per_customer, max_entries=limits.max_entries, timer=monotonic)
    per_ip = RateLimiter(limits.per_ip, max_entries=limits.max_entries, timer=monotonic)
    metrics = Metrics(
        [
            (
                "shapestoken_ratelimit_tracked_keys",
                "Keys a rate limiter tracks.",
                {"limiter": "per_customer"},
                lambda: len(per_customer),
            ),
            (
                "shapestoken_ratelimit_tracked_keys",
                "Keys a rate limiter tracks.",
                {"limiter": "per_ip"},
                lambda: len(per_ip),
            ),
            (
                "shapestoken_signing_keys_published",
                "Keys in the JWKS.",
                {},
                lambda: len(keyring.published()),
            ),
        ]
    )
    return Services(
        settings=settings,
        keyring=keyring,
        issuer=TokenIssuer(keyring, settings.issuer, now=now),
        verifier=TokenVerifier(keyring, settings.issuer, now=now),
        per_customer=per_customer,
        per_ip=per_ip,
        metrics=metrics,
        now=now,
        shops={domain: Shop.build(shop) for domain, shop in settings.shops.items()},
    )


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error: ServiceError
    if exc.status_code == 404:
        error = NotFound()
    elif exc.status_code == 405:
        error = MethodNotAllowed(headers=exc.headers)
    else:
        error = ServiceError(str(exc.detail))
        error.status_code = exc.status_code
    return error_response(error)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # Logged with its traceback for the operator; the client sees no detail.
    log.error("unhandled error", exc_info=exc)
    return error_response(ServerError())


def _demo_page(settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    try:
        from service.demo import DemoPage
    except ImportError:  # python-liquid is the optional `demo` extra

        async def missing(request: Request) -> Response:
            raise ServiceUnavailable(
                "The demo page renders the Liquid snippet: pip install 'shapestoken[demo]'."
            )

        return missing
    return DemoPage(settings).page


def create_app(settings: Settings, *, services: Services | None = None) -> Starlette:
    """Build the ASGI application for ``settings``."""
    services = services or build_services(settings)
    endpoints = Endpoints(services)
    routes = [
        Route("/v1/shops/{shop}/customer-token", endpoints.customer_token, methods=["POST"]),
        Route(
            "/v1/shops/{shop}/customer-token",
            endpoints.customer_token_preflight,
            methods=["OPTIONS"],
        ),
        Route("/v1/app-proxy/customer-token", endpoints.app_proxy_token, methods=["GET", "POST"]),
        Route("/v1/me", endpoints.me, methods=["GET"]),
        Route("/v1/me", endpoints.me_preflight, methods=["OPTIONS"]),
        Route("/.well-known/jwks.json", endpoints.jwks, methods=["GET"]),
        Route("/healthz", endpoints.healthz, methods=["GET"]),
        Route("/metrics", endpoints.metrics, methods=["GET"]),
        Route("/readyz", endpoints.readyz, methods=["GET"]),
        Mount(
            "/static/js",
            app=StaticHeaders(StaticFiles(directory=asset_dir("static/js"), check_dir=False)),
            name="static",
        ),
    ]
    if settings.development:
        routes.append(Route("/demo", _demo_page(settings), methods=["GET"]))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestLog, metrics=services.metrics)],
        exception_handlers={
            ServiceError: _service_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
    )
    app.state.services = services
    return app


def settle_heap() -> None:
    """Move start-up objects out of the garbage collector's way (server processes only).

    Modules, routes, keys and settings live as long as the process; frozen, they
    are no longer traversed by every full collection, which halves its pauses
    (the p99 of a busy worker).
    """
    gc.collect()
    gc.freeze()


def app_from_environment() -> Starlette:
    """The app for ``$SHAPESTOKEN_CONFIG`` (or ./shapestoken.toml); exits on a bad config.

    A server process never falls back to the development default: that is
    ``shapestoken serve`` without a config, and it binds loopback only.
    """
    import sys

    from service import logs
    from service.config import config_path, load_settings

    try:
        path = config_path()
        if path is None:
            raise ConfigError(
                "no config: set SHAPESTOKEN_CONFIG (or add ./shapestoken.toml); "
                "`shapestoken serve` without one runs the development default"
            )
        settings = load_settings(path)
        logs.configure(settings.log_format)
        app = create_app(settings)
    except ConfigError as exc:
        print(f"shapestoken: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    settle_heap()
    return app
