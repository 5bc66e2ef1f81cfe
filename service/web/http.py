"""HTTP plumbing: bounded body reading, strict form/JSON parsing, CORS, responses.

The endpoints in :mod:`service.web` use these to turn requests into plain
values and :class:`~service.errors.ServiceError` into JSON error bodies. The
request side works on the ASGI scope and ``receive``, so the lean mint
endpoints (:mod:`service.web.lean`) and the Starlette ones
(``request.scope``, ``request.receive``) read requests with the same code.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope

from service.deadline import deadline
from service.errors import (
    InvalidRequest,
    InvalidToken,
    OriginNotAllowed,
    RequestTimeout,
    RequestTooLarge,
    ServiceError,
    UnsupportedMediaType,
)
from service.web.lean import error_reply, header, render_json

MAX_BODY = 4096
#: Seconds a request body may take to arrive in full.
BODY_TIMEOUT = 10
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class JSON(JSONResponse):
    """Compact UTF-8 JSON."""

    def render(self, content: Any) -> bytes:
        return render_json(content)


def error_response(exc: ServiceError) -> Response:
    """``exc`` as a Starlette response, exactly as the lean endpoints answer it."""
    reply = error_reply(exc)
    response = Response(reply.body, status_code=reply.status, media_type="application/json")
    response.raw_headers[:0] = reply.headers
    return response


async def read_body(scope: Scope, receive: Receive, limit: int = MAX_BODY) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = header(scope, b"content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequest("Content-Length is not a number.")
        if int(declared) > limit:
            raise RequestTooLarge(f"The request body is limited to {limit} bytes.")
    body = b""
    try:
        # A body trickled byte by byte would hold its connection (and one of the
        # server's bounded connection slots) for as long as the client likes.
        with deadline(BODY_TIMEOUT):
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
        raise RequestTimeout(f"The request body did not arrive within {BODY_TIMEOUT} s.") from None


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


async def read_fields(scope: Scope, receive: Receive, *, max_fields: int = 16) -> dict[str, object]:
    """A JSON object or form body as a dict, refusing duplicates and non-UTF-8."""
    kind = media_type(scope)
    body = await read_body(scope, receive)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("The body is not valid UTF-8.") from exc
    return parse_json_object(text) if kind == JSON_TYPE else parse_form(text, max_fields)


def parse_json_object(text: str) -> dict[str, object]:
    """A JSON object without duplicate keys or NaN/Infinity; anything else is a 400."""
    try:
        value = _DECODER.decode(text)
    except InvalidRequest:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest("The body is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return value


def parse_form(text: str, max_fields: int = 16) -> dict[str, object]:
    """A form body whose every field comes once (RFC 6749 §3.2: no repeated parameters)."""
    return _unique_keys(form_pairs(text, max_fields))


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


def bearer_token(scope: Scope) -> str:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 §2.1)."""
    scheme, _, token = (header(scope, b"authorization") or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_BODY:
        raise InvalidToken("Send the access token as `Authorization: Bearer <token>`.")
    return token


def check_fields(
    fields: Mapping[str, object], required: Collection[str], optional: Collection[str] = ()
) -> None:
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


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidRequest("Duplicate field in the body.")
        result[key] = value
    return result


def _refuse_constant(name: str) -> None:
    raise InvalidRequest(f"{name} is not allowed in JSON.")


#: Built once: refuses duplicate keys and NaN/Infinity, which ``json.loads`` accepts.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)


def client_ip(scope: Scope) -> str:
    """The ASGI client address.

    Behind a proxy, the server's --proxy-headers with --forwarded-allow-ips sets it
    from X-Forwarded-For sent by trusted hops only, never from a client's header.
    """
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class CORSPolicy:
    """Per-shop CORS: exactly the configured origins, echoed, never ``*``."""

    MAX_AGE = "600"

    def __init__(
        self,
        allowed_origins: Collection[str],
        *,
        methods: str = "POST, OPTIONS",
        headers: str = "Content-Type",
    ) -> None:
        self.allowed = frozenset(allowed_origins)
        self.methods = methods
        self.headers = headers

    def check(self, origin: str | None) -> dict[str, str]:
        """Headers for the response to ``origin``; raises 403 for a browser origin not allowed."""
        # No Origin: a server or curl, not a browser page (CORS does not apply).
        if origin is not None and origin not in self.allowed:
            raise OriginNotAllowed(headers={"Vary": "Origin"})
        return self.allow(origin)

    def allow(self, origin: str | None) -> dict[str, str]:
        """Headers that let ``origin`` read a response if it is allowed; never raises."""
        if origin is not None and origin in self.allowed:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {"Vary": "Origin"}

    def preflight(self, scope: Scope) -> Response:
        headers = self.check(header(scope, b"origin"))
        headers |= {
            "Access-Control-Allow-Methods": self.methods,
            "Access-Control-Allow-Headers": self.headers,
            "Access-Control-Max-Age": self.MAX_AGE,
        }
        return Response(status_code=204, headers=headers)
