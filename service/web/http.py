"""HTTP plumbing: bounded body reading, strict form/JSON parsing, CORS, responses.

The endpoints in :mod:`service.web` use these to turn requests into plain
values and :class:`~service.errors.ServiceError` into JSON error bodies.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.errors import (
    InvalidRequest,
    InvalidToken,
    OriginNotAllowed,
    RequestTimeout,
    RequestTooLarge,
    ServiceError,
    UnsupportedMediaType,
)

MAX_BODY = 4096
#: Seconds a request body may take to arrive in full.
BODY_TIMEOUT = 10
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class JSON(JSONResponse):
    """Compact UTF-8 JSON."""

    _encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

    def render(self, content: Any) -> bytes:
        try:
            # orjson writes the same compact UTF-8 several times faster.
            return orjson.dumps(content)
        except TypeError:
            # It refuses what the standard library accepts (integers over 64 bits,
            # lone surrogates): answer exactly as the standard library would.
            return self._encoder.encode(content).encode("utf-8")


def error_response(exc: ServiceError) -> Response:
    headers = dict(exc.headers)
    if exc.status_code == 401 or exc.status_code >= 500:
        headers.setdefault("Cache-Control", "no-store")
    return JSON(exc.as_dict(), status_code=exc.status_code, headers=headers)


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequest("Content-Length is not a number.")
        if int(declared) > limit:
            raise RequestTooLarge(f"The request body is limited to {limit} bytes.")
    body = bytearray()
    try:
        # A body trickled byte by byte would hold its connection (and one of the
        # server's bounded connection slots) for as long as the client likes.
        async with asyncio.timeout(BODY_TIMEOUT):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    # Chunked bodies have no Content-Length: stop here, not at the end.
                    raise RequestTooLarge(f"The request body is limited to {limit} bytes.")
    except TimeoutError:
        raise RequestTimeout(f"The request body did not arrive within {BODY_TIMEOUT} s.") from None
    return bytes(body)


def media_type(request: Request) -> str:
    value = request.headers.get("content-type", "")
    kind, _, params = value.partition(";")
    kind = kind.strip().lower()
    if kind == JSON_TYPE:
        charset = params.strip().lower()
        if charset and charset.replace(" ", "") not in ("charset=utf-8", 'charset="utf-8"'):
            raise UnsupportedMediaType("JSON bodies must be UTF-8.")
    if kind not in (JSON_TYPE, FORM_TYPE):
        raise UnsupportedMediaType()
    return kind


async def read_fields(request: Request, *, max_fields: int = 16) -> dict[str, object]:
    """A JSON object or form body as a dict, refusing duplicates and non-UTF-8."""
    kind = media_type(request)
    body = await read_body(request)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("The body is not valid UTF-8.") from exc
    return parse_json_object(text) if kind == JSON_TYPE else parse_form(text, max_fields)


def parse_json_object(text: str) -> dict[str, object]:
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
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            max_num_fields=max_fields,
            errors="strict",
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("The body is not a valid form.") from exc
    return _unique_keys(pairs)


def bearer_token(request: Request) -> str:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 §2.1)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_BODY:
        raise InvalidToken("Send the access token as `Authorization: Bearer <token>`.")
    return token


def check_fields(
    fields: Mapping[str, object], required: Collection[str], optional: Collection[str] = ()
) -> None:
    missing = [name for name in required if name not in fields]
    if missing:
        raise InvalidRequest(f"Missing field `{missing[0]}`.")
    extra = sorted(set(fields) - set(required) - set(optional))
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


def client_ip(request: Request) -> str:
    """The ASGI client address.

    Behind a proxy, the server's --proxy-headers with --forwarded-allow-ips sets it
    from X-Forwarded-For sent by trusted hops only, never from a client's header.
    """
    return request.client.host if request.client else "unknown"


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

    def check(self, request: Request) -> dict[str, str]:
        """Headers for the response; raises 403 for a browser origin not allowed."""
        origin = request.headers.get("origin")
        if origin is None:
            # No Origin: a server or curl, not a browser page (CORS does not apply).
            return {"Vary": "Origin"}
        if origin not in self.allowed:
            raise OriginNotAllowed(headers={"Vary": "Origin"})
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def allow(self, origin: str | None) -> dict[str, str]:
        """Headers that let ``origin`` read a response if it is allowed; never raises."""
        if origin is not None and origin in self.allowed:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {"Vary": "Origin"}

    def preflight(self, request: Request) -> Response:
        headers = self.check(request)
        headers |= {
            "Access-Control-Allow-Methods": self.methods,
            "Access-Control-Allow-Headers": self.headers,
            "Access-Control-Max-Age": self.MAX_AGE,
        }
        return Response(status_code=204, headers=headers)
