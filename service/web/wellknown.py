"""Documents published for verifiers and clients: the JWKS, the OAuth metadata (RFC 8414)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service.oauth.metadata import JWKS_PATH
from service.web.http import JSON
from service.wiring import Components

#: Verifiers may cache the key set this long; a new key is published before it signs.
JWKS_CACHE = "public, max-age=300"


class WellKnownEndpoints:
    def __init__(self, components: Components) -> None:
        self.components = components

    def routes(self) -> list[BaseRoute]:
        return [
            Route(JWKS_PATH, self.jwks, methods=["GET"]),
            Route("/.well-known/oauth-authorization-server", self.metadata, methods=["GET"]),
        ]

    async def jwks(self, request: Request) -> Response:
        """GET /.well-known/jwks.json"""
        return JSON(self.components.keyring.jwks(), headers={"Cache-Control": JWKS_CACHE})

    async def metadata(self, request: Request) -> Response:
        """GET /.well-known/oauth-authorization-server (RFC 8414 §3)"""
        return JSON(self.components.oauth.metadata, headers={"Cache-Control": JWKS_CACHE})
