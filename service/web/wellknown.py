"""Documents published for verifiers: the JWKS."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service.services import Services
from service.web.http import JSON

#: Verifiers may cache the key set this long; a new key is published before it signs.
JWKS_CACHE = "public, max-age=300"


class WellKnownEndpoints:
    def __init__(self, services: Services) -> None:
        self.services = services

    def routes(self) -> list[BaseRoute]:
        return [Route("/.well-known/jwks.json", self.jwks, methods=["GET"])]

    async def jwks(self, request: Request) -> Response:
        """GET /.well-known/jwks.json"""
        return JSON(self.services.keyring.jwks(), headers={"Cache-Control": JWKS_CACHE})
