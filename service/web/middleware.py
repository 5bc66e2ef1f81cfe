"""Pure ASGI middleware (no BaseHTTPMiddleware: it buffers and costs a task per request)."""

from __future__ import annotations

import os
import re
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.config.values import LOCAL_HOSTS
from service.errors import MisdirectedRequest, NotFound
from service.observability.accesslog import AccessLog, access_log
from service.observability.metrics import Metrics
from service.web.http import error_reply, error_response, header, request_state

_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{8,64}")
#: An Origin is scheme://host[:port]; anything longer is cut, it is caller-chosen.
MAX_ORIGIN = 256
#: Status logged and counted for a request whose client disconnected before the answer.
CLIENT_CLOSED_REQUEST = 499


class RequestLog:
    """Adds ``X-Request-ID``, logs one line per request and counts it in ``metrics``."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, access: AccessLog = access_log) -> None:
        self.app = app
        self.metrics = metrics
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = _request_id(scope)
        status = 0  # no response started yet

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client left mid-body: nobody to answer and nothing broken. Counted
            # as 499 (nginx's "client closed request"), never as a 500 with tracebacks.
            status = status or CLIENT_CLOSED_REQUEST
            if status == CLIENT_CLOSED_REQUEST:
                request_state(scope)["error"] = "client_closed_request"
        finally:
            # An exception before any response start is answered with a 500 outside.
            status = status or 500
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            method = scope["method"]
            self.metrics.observe(method, getattr(route, "path", "unmatched"), status, elapsed)
            state = scope.get("state") or {}
            error = origin = None
            if status >= 400:
                # Why, and for which page: a browser shows its page only a bare network
                # error when CORS refuses it, so this line is where the cause is found.
                # An unhandled exception meets its handler outside this middleware.
                error = state.get("error", "server_error" if status == 500 else "-")
                origin = _origin(scope)
                self.metrics.refused(error)
            self.access.request(
                method,
                scope["path"],
                status,
                round(elapsed * 1000, 2),
                state.get("shop", "-"),
                request_id.decode("ascii"),
                error,
                origin,
            )


def _origin(scope: Scope) -> str:
    origin = header(scope, b"origin")
    return "-" if origin is None else origin[:MAX_ORIGIN]


def _request_id(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        # A caller's id is kept (to correlate with its logs) if it is plain and short.
        if name == b"x-request-id" and _REQUEST_ID.fullmatch(value):
            return bytes(value)
    return os.urandom(8).hex().encode("ascii")


#: RFC 9239 §6: JavaScript is text/javascript, for classic scripts and modules alike.
#: Set here, not guessed: Python's own table (without /etc/mime.types) says
#: application/javascript, and knows .mjs only on some systems.
SCRIPT_TYPES = {".js": b"text/javascript; charset=utf-8", ".mjs": b"text/javascript; charset=utf-8"}


class StaticHeaders:
    """Static files for any origin: module scripts load in CORS mode.

    Dotfiles are never served (an editor's swap file or a ``.env`` dropped into
    ``static/js`` stays private), and ``Range`` is ignored: the scripts are a few
    KiB, and a malformed range would otherwise be answered in plain text.
    """

    def __init__(self, app: ASGIApp, *, max_age: int = 300) -> None:
        self.app = app
        self.extra = [
            (b"access-control-allow-origin", b"*"),
            (b"cache-control", f"public, max-age={max_age}".encode("ascii")),
            (b"x-content-type-options", b"nosniff"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if any(part.startswith(".") for part in path.split("/")):
            raise NotFound()
        script_type = SCRIPT_TYPES.get(path[path.rfind(".") :]) if "." in path else None
        # RFC 9110 §14.2: a server may ignore Range; the whole file is a 200.
        request_headers = [(k, v) for k, v in scope["headers"] if k not in (b"range", b"if-range")]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Ranges are ignored, so none are advertised (RFC 9110 §14.3).
                headers = [(k, v) for k, v in message.get("headers", ()) if k != b"accept-ranges"]
                if script_type is not None and message["status"] == 200:
                    headers = [(k, v) for k, v in headers if k.lower() != b"content-type"]
                    headers.append((b"content-type", script_type))
                message["headers"] = [*headers, *self.extra]
            await send(message)

        await self.app({**scope, "headers": request_headers}, receive, send_with_headers)


class NoWebSockets:
    """Refuse every WebSocket handshake with a JSON 404: the service has no WebSocket route.

    Servers run with WebSockets off, so an upgrade request reaches the app as plain
    HTTP; this covers a server started with them on. Where the server supports the
    denial-response extension the refusal is the usual JSON error body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1008})
            return
        error = NotFound("This service has no WebSocket endpoint.")
        body = error_reply(error).body
        await send(
            {
                "type": "websocket.http.response.start",
                "status": error.status_code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode("ascii")),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})


class LoopbackHostOnly:
    """The development server answers only for ``localhost``, ``127.0.0.1`` and ``[::1]``.

    A page on a DNS name the attacker rebinds to 127.0.0.1 is same-origin with
    that name, so it could read ``/demo`` and its valid demo signature; its
    requests carry the attacker's name in ``Host`` and get a JSON 421 instead.
    """

    def __init__(self, app: ASGIApp, *, port: int) -> None:
        self.app = app
        # Host writes an IPv6 address in brackets (RFC 3986 §3.2.2).
        names = [f"[{host}]" if ":" in host else host for host in LOCAL_HOSTS]
        self.allowed = frozenset(f"{name}:{port}".encode("ascii") for name in names)
        if port == 80:  # the default port may be left out of Host
            self.allowed |= {name.encode("ascii") for name in names}
        self.description = (
            "The development server answers only for localhost, 127.0.0.1 and [::1] "
            f"on its port: use http://127.0.0.1:{port}/."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            hosts = [value.lower() for name, value in scope["headers"] if name == b"host"]
            if len(hosts) != 1 or hosts[0] not in self.allowed:
                # Answered here: middleware sits outside the app's exception handlers.
                error = MisdirectedRequest(self.description)
                request_state(scope)["error"] = error.error
                response = error_response(error)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
