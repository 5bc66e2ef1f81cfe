"""The application factory: ``create_app(settings)`` builds everything once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from service.config import Settings
from service.errors import (
    ConfigError,
    MethodNotAllowed,
    NotFound,
    ServerError,
    ServiceError,
    ServiceUnavailable,
)
from service.observability.logs import log
from service.signing import keyfiles
from service.signing.keyreload import KeyReloader
from service.support.assets import asset_dir
from service.web.customer import CustomerEndpoints
from service.web.dispatch import Dispatch
from service.web.http import error_response
from service.web.middleware import LoopbackHostOnly, NoWebSockets, RequestLog, StaticHeaders
from service.web.oauth import OAuthEndpoints
from service.web.openapi.document import OpenAPIEndpoint
from service.web.ops import OpsEndpoints
from service.web.wellknown import WellKnownEndpoints
from service.wiring import (
    Components,
    build_components,
    log_startup,
    prepare_database,
    startup_warnings,
    warn_if_state_per_process,
)


def _refuse(request: Request, error: ServiceError) -> Response:
    # The request log line names the error (RequestLog): the one place an operator
    # sees why a browser, which hides a CORS refusal from the page, was turned away.
    request.state.error = error.error
    return error_response(error)


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return _refuse(request, exc)


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
    return _refuse(request, error)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # Logged with its traceback for the operator; the client sees no detail.
    log.error("unhandled error", exc_info=exc)
    return _refuse(request, ServerError())


def _demo_page(settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    try:
        from service.dev.demo import DemoPage
    except ImportError:  # python-liquid is the optional `demo` extra

        async def missing(request: Request) -> Response:
            raise ServiceUnavailable(
                "The demo page renders the Liquid snippet: pip install 'shapestoken[demo]'."
            )

        return missing
    return DemoPage(settings).page


def create_app(settings: Settings, *, components: Components | None = None) -> Starlette:
    """Build the ASGI application for ``settings``."""
    components = components or build_components(settings)
    routes: list[BaseRoute] = [
        *CustomerEndpoints(components).routes(),
        *OAuthEndpoints(components).routes(),
        *WellKnownEndpoints(components).routes(),
        *OpsEndpoints(components).routes(),
        *OpenAPIEndpoint(
            settings.issuer, list(settings.shops), admin=components.admin is not None
        ).routes(),
        Mount(
            "/static/js",
            app=StaticHeaders(StaticFiles(directory=asset_dir("static/js"), check_dir=False)),
            name="static",
        ),
    ]
    if settings.development:
        routes.append(Route("/demo", _demo_page(settings), methods=["GET"]))
    if components.admin is not None:
        from service.web.adminapi import AdminAPI

        routes += AdminAPI(components).routes()
    if settings.store.admin_enabled:
        from service.web.admin.endpoints import AdminEndpoints

        routes += AdminEndpoints(components).routes()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Keys from a directory are read again while the process runs (rotation
        # needs no restart); the environment bundle cannot change under it.
        reloader = reloading = None
        if components.key_source is not None:
            reloader = KeyReloader(
                components.keyring,
                components.key_source,
                # Every worker sees `keys rotate` and `keys reload` within a second.
                stamp=functools.partial(keyfiles.stamp, settings.signing_key_dir),
            )
            reloader.listen_for_sighup()
            reloading = asyncio.create_task(reloader.run())
        # With several workers, each keeps its gauges current for the scrapes that
        # the others answer.
        refreshing = None
        if components.metrics.shared_dir is not None:
            refreshing = asyncio.create_task(components.metrics.refresh_forever())
        # Listeners for what other replicas announce (a revoked API token).
        background = [asyncio.create_task(run()) for run in components.background]
        # Runtime clients: read now, then whenever the database's change counter moves.
        polling = None
        if components.admin is not None:
            polling = asyncio.create_task(components.admin.runtime.run())
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if reloader is not None and reloading is not None:
                reloading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reloading
                reloader.close()
            for job in (refreshing, polling):
                if job is not None:
                    job.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await job
            await components.aclose()

    middleware = [
        Middleware(NoWebSockets),
        # The client address from trusted proxies only, whatever server runs the app.
        Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.forwarded_allow_ips)),
        Middleware(RequestLog, metrics=components.metrics),
    ]
    if settings.development:
        # Checked before anything answers (a rebound DNS name must not read /demo).
        port = urlsplit(settings.issuer).port or 80
        middleware.append(Middleware(LoopbackHostOnly, port=port))
    # Innermost: the token endpoints answer here, without the router's wrapping.
    middleware.append(Middleware(Dispatch, routes=routes))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            ServiceError: _service_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        lifespan=lifespan,
    )
    # `/healthz/` is a JSON 404, not a 307 to a URL built from the Host header.
    app.router.redirect_slashes = False
    app.state.components = components
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
    from service.config import load_settings, require_config_path
    from service.observability import logs

    try:
        settings = load_settings(require_config_path())
        logs.configure(settings.log_format, access_log=settings.access_log)
        warn_if_state_per_process(settings)
        prepare_database(settings)
        app = create_app(settings)
        log_startup(settings, app.state.components.keyring)
        for warning in startup_warnings(settings):
            log.warning(warning)
    except ConfigError as exc:
        print(f"shapestoken: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    settle_heap()
    return app
