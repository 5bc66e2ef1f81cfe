"""Starlette integration: an ``AuthenticationBackend`` and the error responses.

```python
middleware = [
    Middleware(AuthenticationMiddleware, backend=TokenBackend(verifier), on_error=on_error)
]
app = Starlette(routes=..., middleware=middleware,
                exception_handlers={TokenError: token_error_handler})
```

``request.user`` is the :class:`Principal`; ``request.auth.scopes`` its scopes plus
``authenticated``, so Starlette's ``@requires("profiles:read")`` works as usual.
"""

from __future__ import annotations

from typing import cast

try:
    from starlette.authentication import (
        AuthCredentials,
        AuthenticationBackend,
        AuthenticationError,
        BaseUser,
    )
    from starlette.requests import HTTPConnection, Request
    from starlette.responses import JSONResponse, Response
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "shapestoken_verifier.starlette needs the starlette extra: "
        "pip install 'shapestoken-verifier[starlette]'"
    ) from exc

from shapestoken_verifier.errors import TokenError
from shapestoken_verifier.verifier import Verifier


class TokenAuthenticationError(AuthenticationError):
    """A refused token on its way to ``on_error``; ``error`` is the :class:`TokenError`."""

    def __init__(self, error: TokenError) -> None:
        super().__init__(error.description)
        self.error = error


class TokenBackend(AuthenticationBackend):
    """Authenticates requests with the verifier; no ``Authorization`` header: anonymous.

    ``public_url`` ("https://api.acme.example") is the API's base URL as clients
    address it, when a proxy in front changes scheme or host: DPoP proofs' ``htu``
    is compared with ``public_url`` + the request's path.
    """

    def __init__(self, verifier: Verifier, public_url: str | None = None) -> None:
        self.verifier = verifier
        self.public_url = None if public_url is None else public_url.rstrip("/")

    def url(self, conn: HTTPConnection) -> str:
        if self.public_url is None:
            return str(conn.url)
        # The path as the client sent it (percent-encoded), which is what it signed.
        raw = conn.scope.get("raw_path")
        path = raw.decode("latin-1").split("?", 1)[0] if raw else conn.url.path
        return self.public_url + path

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        if "authorization" not in conn.headers:
            return None
        method = conn.scope.get("method", "GET")
        try:
            principal = await self.verifier.verify(method, self.url(conn), conn.headers)
        except TokenError as exc:
            raise TokenAuthenticationError(exc) from exc
        # Principal has BaseUser's members; it is not a subclass so that Starlette
        # stays an optional dependency of the package.
        credentials = AuthCredentials([*sorted(principal.scopes), "authenticated"])
        return credentials, cast(BaseUser, principal)


def error_response(error: TokenError) -> Response:
    """The JSON error body (RFC 6749 §5.2 style) with the error's status and headers."""
    return JSONResponse(
        {"error": error.error, "error_description": error.description},
        status_code=error.status,
        headers={**error.headers, "Cache-Control": "no-store"},
    )


def on_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    """``AuthenticationMiddleware(on_error=...)``: the refused token's response."""
    if isinstance(exc, TokenAuthenticationError):
        return error_response(exc.error)
    return error_response(
        TokenError(
            401,
            "invalid_token",
            str(exc) or "authentication failed",
            {"WWW-Authenticate": "Bearer"},
        )
    )


async def token_error_handler(request: Request, exc: Exception) -> Response:
    """``Starlette(exception_handlers={TokenError: token_error_handler})``: a TokenError
    raised in an endpoint (``request.user.require(...)``) gets the same response."""
    if not isinstance(exc, TokenError):
        raise exc
    return error_response(exc)
