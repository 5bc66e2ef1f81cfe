"""The HTTP base layer: endpoints on the raw ASGI scope, bounded strict bodies, CORS, replies.

The token endpoints run on every page view of every storefront. Starlette's
request and response objects, its per-request exception wrapper and its header
classes cost more there than the JSON they carry (docs/performance.md), so
an :class:`Endpoint` reads the ASGI scope and sends the two response messages
itself. It is still a Starlette route (routing, ``405``, ``HEAD``, the OpenAPI
listing are unchanged), and what it raises as :class:`~service.errors.ServiceError`
is answered exactly as the app's handler answers any other route's
(:func:`error_reply`). CORS headers are added on the way out, as Starlette's
``CORSMiddleware`` adds them: an error never carries them itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from service.errors import (
    InvalidRequest,
    InvalidToken,
    OriginNotAllowed,
    RequestTimeout,
    RequestTooLarge,
    ServiceError,
    UnsupportedMediaType,
)
from service.support import jsonio
from service.support.deadline import Deadline

RawHeaders = list[tuple[bytes, bytes]]

#: Every body is refused past this many bytes, before it is read whole.
MAX_BODY = 4096
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
#: Token responses (RFC 6749 §5.1) and anything about credentials: never cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

_JSON_CONTENT_TYPE = (b"content-type", b"application/json")
_VARY_ORIGIN = [(b"vary", b"Origin")]
#: What a page may read of an answer besides the simple headers: the nonce a DPoP proof
#: must carry (RFC 9449 §8) and the challenge of a refusal (RFC 9449 §7.1).
_EXPOSE_HEADERS = (b"access-control-expose-headers", b"DPoP-Nonce, WWW-Authenticate")


def raw_headers(headers: Mapping[str, str]) -> RawHeaders:
    """ASGI header pairs (lowercase names, Latin-1), as Starlette's responses encode them."""
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


NO_STORE_HEADERS: RawHeaders = raw_headers(NO_STORE)


#: A JSON response body: compact UTF-8 (:func:`service.support.jsonio.dumps`).
render_json = jsonio.dumps


class JSON(JSONResponse):
    """A Starlette response with the service's compact UTF-8 JSON."""

    def render(self, content: Any) -> bytes:
        return render_json(content)


def header(scope: Scope, name: bytes) -> str | None:
    """The first ``name`` header of the request (a lowercase name), as Starlette reads it."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def header_values(scope: Scope, name: bytes) -> list[str]:
    """Every ``name`` header of the request (a lowercase name), in order."""
    return [bytes(value).decode("latin-1") for key, value in scope["headers"] if key == name]


def request_state(scope: Scope) -> dict[str, Any]:
    """The request's state (``request.state`` in Starlette): shop and error for the log line."""
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


def client_ip(scope: Scope) -> str:
    """The ASGI client address.

    Behind a proxy, :class:`~service.web.proxy.ProxyHeaders` sets it from
    ``X-Forwarded-For`` sent by trusted hops only, never from a client's header.
    """
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class Reply(NamedTuple):
    """An answer: status, body, and headers other than the length and type.

    ``readable`` says whether a page on an allowed origin may read it (CORS): a
    confidential client's token is never readable, whatever the origin.
    """

    status: int
    body: bytes
    headers: RawHeaders
    readable: bool = True

    async def send(self, send: Send, extra: RawHeaders | tuple[()] = ()) -> None:
        """Send the answer, with ``extra`` headers last (as a middleware adds them)."""
        body = self.body
        if self.status == 204:
            # RFC 9110 §8.6: no Content-Length (and no content) on a 204.
            headers = [*self.headers, *extra]
        elif not body:
            headers = [*self.headers, (b"content-length", b"0"), *extra]
        else:
            length = (b"content-length", str(len(body)).encode("ascii"))
            headers = [*self.headers, length, _JSON_CONTENT_TYPE, *extra]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def error_reply(exc: ServiceError) -> Reply:
    """The JSON error body of ``exc``, with its headers (one rule for every endpoint)."""
    headers = dict(exc.headers)
    if exc.status_code == 401 or exc.status_code >= 500:
        # An answer about credentials or an outage must not be reused by a cache.
        headers.setdefault("Cache-Control", "no-store")
    return Reply(exc.status_code, render_json(exc.as_dict()), raw_headers(headers))


def error_response(exc: ServiceError) -> Response:
    """``exc`` as a Starlette response, exactly as an :class:`Endpoint` answers it."""
    reply = error_reply(exc)
    response = Response(reply.body, status_code=reply.status, media_type="application/json")
    response.raw_headers[:0] = reply.headers
    return response


class CORSPolicy:
    """CORS for one set of origins: exactly those, echoed, never ``*``, no credentials."""

    MAX_AGE = "600"

    def __init__(
        self,
        allowed_origins: Collection[str],
        *,
        methods: str = "POST, OPTIONS",
        headers: str = "Content-Type, DPoP",
    ) -> None:
        self.allowed = frozenset(allowed_origins)
        self.methods = methods
        self.headers = headers

    def check(self, origin: str | None) -> None:
        """Refuse (403) a browser ``origin`` that is not allowed.

        No ``Origin``: a server or curl, not a browser page (CORS does not apply).
        """
        if origin is not None and origin not in self.allowed:
            raise OriginNotAllowed()

    def allow(self, origin: str | None) -> RawHeaders:
        """The headers that let ``origin`` read a response if it is allowed; never raises."""
        if origin is not None and origin in self.allowed:
            return [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                _EXPOSE_HEADERS,
                *_VARY_ORIGIN,
            ]
        return _VARY_ORIGIN

    def preflight(self, scope: Scope) -> Reply:
        """The answer to an ``OPTIONS`` preflight (its CORS headers come on the way out)."""
        self.check(header(scope, b"origin"))
        headers = {
            "Access-Control-Allow-Methods": self.methods,
            "Access-Control-Allow-Headers": self.headers,
            "Access-Control-Max-Age": self.MAX_AGE,
        }
        return Reply(204, b"", raw_headers(headers))


Handler = Callable[[Scope, Receive], Awaitable[Reply]]
#: The CORS policy of a request (it may depend on its path), or a ServiceError.
PolicyFor = Callable[[Scope], CORSPolicy]


class Endpoint:
    """An ASGI app answering ``handler(scope, receive)``'s reply, or its ServiceError in JSON.

    With ``cors``, the policy's headers for the request's ``Origin`` are added to
    whatever it answers, error or not (a browser reads neither without them).
    Any other exception goes on to the app's server-error handler, as from any route.
    """

    __slots__ = ("handler", "cors", "__name__")

    def __init__(self, handler: Handler, *, cors: PolicyFor | None = None) -> None:
        self.handler = handler
        self.cors = cors
        self.__name__ = getattr(handler, "__name__", type(self).__name__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.answer(scope, receive, send)

    async def answer(
        self, scope: Scope, receive: Receive, send: Send, extra: RawHeaders | tuple[()] = ()
    ) -> int:
        """Answer the request, with ``extra`` response headers; the status sent."""
        cors: RawHeaders | tuple[()] = ()
        try:
            if self.cors is not None:
                cors = self.cors(scope).allow(header(scope, b"origin"))
            reply = await self.handler(scope, receive)
            if not reply.readable:
                cors = _VARY_ORIGIN
        except ServiceError as exc:
            # The request log line names the error: the one place an operator sees
            # why a browser, which hides a CORS refusal from the page, was turned away.
            request_state(scope)["error"] = exc.error
            reply = error_reply(exc)
        await reply.send(send, [*cors, *extra] if extra else cors)
        return reply.status


# -- request bodies ----------------------------------------------------------------------


async def read_body(
    scope: Scope, receive: Receive, *, timeout: float, limit: int = MAX_BODY
) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes.

    It must arrive whole within ``timeout`` seconds (the ``body_timeout`` setting):
    a body trickled byte by byte would hold its connection, and one of the
    server's bounded connection slots, for as long as the client likes.
    """
    declared = header(scope, b"content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequest("Content-Length is not a number.")
        if int(declared) > limit:
            raise RequestTooLarge(f"The request body is limited to {limit} bytes.")
    body = b""
    try:
        with Deadline(timeout):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    # http.disconnect: the client left (logged and counted as 499).
                    raise ClientDisconnect()
                chunk: bytes = message.get("body", b"")
                body += chunk
                if len(body) > limit:
                    # Chunked bodies have no Content-Length: stop here, not at the end.
                    raise RequestTooLarge(f"The request body is limited to {limit} bytes.")
                if not message.get("more_body", False):
                    return body
    except TimeoutError:
        raise RequestTimeout(f"The request body did not arrive within {timeout:g} s.") from None


def media_type(scope: Scope) -> str:
    """The body's type, JSON (UTF-8 only) or form; anything else is a 415."""
    value = header(scope, b"content-type") or ""
    kind, _, params = value.partition(";")
    kind = kind.strip().lower()
    if kind == JSON_TYPE:
        charset = params.strip().lower()
        if charset and charset.replace(" ", "") not in ("charset=utf-8", 'charset="utf-8"'):
            raise UnsupportedMediaType("JSON bodies must be UTF-8.")
    if kind not in (JSON_TYPE, FORM_TYPE):
        raise UnsupportedMediaType()
    return kind


async def read_fields(
    scope: Scope, receive: Receive, *, timeout: float, max_fields: int = 16
) -> dict[str, object]:
    """A JSON object or form body as a dict, refusing duplicates and non-UTF-8."""
    kind = media_type(scope)
    body = await read_body(scope, receive, timeout=timeout)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("The body is not valid UTF-8.") from exc
    return parse_json_object(text) if kind == JSON_TYPE else parse_form(text, max_fields)


def parse_json_object(text: str) -> dict[str, object]:
    """A JSON object without duplicate keys or NaN/Infinity; anything else is a 400."""
    try:
        return jsonio.loads_object(text)
    except jsonio.Rejected as exc:
        raise InvalidRequest(str(exc)) from exc


def parse_form(text: str, max_fields: int = 16) -> dict[str, object]:
    """A form body whose every field comes once (RFC 6749 §3.2: no repeated parameters)."""
    try:
        return jsonio.unique_pairs(form_pairs(text, max_fields))
    except jsonio.Rejected as exc:
        raise InvalidRequest(str(exc)) from exc


def form_pairs(text: str, max_fields: int) -> list[tuple[str, str]]:
    """The name/value pairs of a form, strictly: a malformed pair or a bad escape is a 400."""
    try:
        return parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            max_num_fields=max_fields,
            errors="strict",
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("The body is not a valid form.") from exc


def check_fields(
    fields: Mapping[str, object], required: Collection[str], optional: Collection[str] = ()
) -> None:
    """Every ``required`` field is there, and nothing but those and the ``optional`` ones."""
    for name in required:
        if name not in fields:
            raise InvalidRequest(f"Missing field `{name}`.")
    if len(fields) == len(required):
        return  # exactly the required fields
    extra = sorted(set(fields).difference(required, optional))
    if extra:
        # The name is attacker-chosen; show it only if it is short and plain.
        name = extra[0] if extra[0].isidentifier() and len(extra[0]) <= 32 else "?"
        raise InvalidRequest(f"Unexpected field `{name}`.")


def access_token(scope: Scope) -> tuple[str, str]:
    """The scheme (``bearer`` or ``dpop``) and token of the ``Authorization`` header
    (RFC 6750 §2.1, RFC 9449 §7.1)."""
    scheme, _, token = (header(scope, b"authorization") or "").partition(" ")
    scheme, token = scheme.lower(), token.strip()
    if scheme not in ("bearer", "dpop") or not token or len(token) > MAX_BODY:
        raise InvalidToken(
            "Send the access token as `Authorization: Bearer <token>`, "
            "or a DPoP-bound one as `Authorization: DPoP <token>` with a DPoP proof."
        )
    return scheme, token
