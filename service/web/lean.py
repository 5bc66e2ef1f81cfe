"""Endpoints as plain ASGI apps: no ``Request`` or ``Response`` objects on the mint path.

The token endpoints run on every page view of every storefront. Starlette's
request and response objects, its per-request exception wrapper and its
header classes cost more there than the JSON they carry (see
docs/performance.md), so these endpoints read the ASGI scope and send the two
response messages themselves. They are still Starlette routes (routing,
``405``, ``HEAD``, the OpenAPI listing are unchanged), and what they raise as
:class:`~service.errors.ServiceError` is answered exactly as the app's
handler answers it, through :func:`error_reply`, which the handler uses too.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple

import orjson
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from service.errors import ServiceError

RawHeaders = list[tuple[bytes, bytes]]

JSON_CONTENT_TYPE = (b"content-type", b"application/json")
#: Token responses (RFC 6749 §5.1): never cached.
NO_STORE_HEADERS: RawHeaders = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]

_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def render_json(content: Any) -> bytes:
    """Compact UTF-8 JSON, as the standard library writes it."""
    try:
        # orjson writes the same compact UTF-8 several times faster.
        return orjson.dumps(content)
    except TypeError:
        # It refuses what the standard library accepts (integers over 64 bits,
        # lone surrogates): answer exactly as the standard library would.
        return _COMPACT.encode(content).encode("utf-8")


def raw_headers(headers: Mapping[str, str]) -> RawHeaders:
    """ASGI header pairs (lowercase names, Latin-1), as Starlette's responses encode them."""
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


class Reply(NamedTuple):
    """A JSON answer: status, body, and headers other than the length and type."""

    status: int
    body: bytes
    headers: RawHeaders

    async def send(self, send: Send, extra: RawHeaders | tuple[()] = ()) -> None:
        """Send the answer, with ``extra`` headers last (as a middleware adds them)."""
        body = self.body
        headers = [
            *self.headers,
            (b"content-length", str(len(body)).encode("ascii")),
            JSON_CONTENT_TYPE,
            *extra,
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def error_reply(exc: ServiceError) -> Reply:
    """The JSON error body of ``exc``, with its headers (one rule for every endpoint)."""
    headers = dict(exc.headers)
    if exc.status_code == 401 or exc.status_code >= 500:
        # An answer about credentials or an outage must not be reused by a cache.
        headers.setdefault("Cache-Control", "no-store")
    return Reply(exc.status_code, render_json(exc.as_dict()), raw_headers(headers))


def header(scope: Scope, name: bytes) -> str | None:
    """The first ``name`` header of the request (a lowercase name), as Starlette reads it."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


Handler = Callable[[Scope, Receive], Awaitable[Reply]]


class LeanEndpoint:
    """An ASGI app answering ``handler(scope, receive)``'s reply, or its ServiceError in JSON.

    Any other exception goes on to the app's server-error handler, as from any route.
    """

    __slots__ = ("handler", "__name__")

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.__name__ = getattr(handler, "__name__", type(self).__name__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.answer(scope, receive, send)

    async def answer(
        self, scope: Scope, receive: Receive, send: Send, extra: RawHeaders | tuple[()] = ()
    ) -> int:
        """Answer the request, with ``extra`` response headers; the status sent."""
        try:
            reply = await self.handler(scope, receive)
        except ServiceError as exc:
            # The request log line names the error: the one place an operator sees
            # why a browser, which hides a CORS refusal from the page, was turned away.
            request_state(scope)["error"] = exc.error
            reply = error_reply(exc)
        await reply.send(send, extra)
        return reply.status


def request_state(scope: Scope) -> dict[str, Any]:
    """The request's state (``request.state`` in Starlette): shop and error for the log line."""
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


class LeanRoutes:
    """Finds the lean endpoint that the router would pick for a request, if any.

    The routes are the router's own, tried in its order with its own matching
    (``route.matches``), so a request reaches the same endpoint either way; the
    request log middleware calls it directly, skipping the wrapping a Starlette
    route gets (the exception middleware's request object and closures, the
    router's dispatch, a ``send`` wrapper), because a lean endpoint answers its
    own errors. Anything else, a lean path with the wrong method (a 405)
    included, is left to the router.
    """

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes = routes

    def find(self, scope: Scope) -> LeanEndpoint | None:
        """The lean endpoint for ``scope`` (its route and path parameters set), or None."""
        for route in self.routes:
            match, child_scope = route.matches(scope)
            if match is Match.NONE:
                continue
            if match is Match.FULL and isinstance(route, Route):
                endpoint = route.app
                if isinstance(endpoint, LeanEndpoint):
                    scope["route"] = route
                    scope.update(child_scope)
                    return endpoint
            return None
        return None
