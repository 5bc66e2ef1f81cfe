"""``GET /openapi.json``: an OpenAPI 3.1 description of the public endpoints.

Maintained by hand, next to the routes it describes: a test fails when a route
has no entry here or an entry no route, and the test command fuzzes a real
server with it (schemathesis: no 5xx, every response and error code as
described). One module per group of endpoints: :mod:`.customer`, :mod:`.oauth`,
:mod:`.ops`, :mod:`.admin`; shared pieces in :mod:`.parts`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service import __version__
from service.web.http import JSON
from service.web.openapi import customer, oauth, ops, parts


def document(issuer: str, shops: list[str], *, admin: bool = False) -> dict[str, Any]:
    """The OpenAPI document, with ``issuer`` as the server URL and the configured shops.

    ``admin``: the admin API is on (a ``database`` is configured).
    """
    from service.web.openapi import admin as admin_api

    admin_paths = admin_api.paths() if admin else {}
    admin_schemas = admin_api.SCHEMAS if admin else {}
    admin_schemes = admin_api.SECURITY_SCHEMES if admin else {}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Shapes Token Service", "version": __version__},
        "servers": [{"url": issuer}],
        "paths": {
            **customer.paths(sorted(shops)),
            **oauth.paths(),
            **ops.paths(),
            **admin_paths,
        },
        "components": {
            "schemas": {
                **parts.SCHEMAS,
                **customer.SCHEMAS,
                **oauth.SCHEMAS,
                **ops.SCHEMAS,
                **admin_schemas,
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                # RFC 9449 §7.1: a DPoP-bound token, with a DPoP proof header.
                "dpop": {"type": "http", "scheme": "DPoP"},
                **oauth.SECURITY_SCHEMES,
                **admin_schemes,
            },
        },
    }


class OpenAPIEndpoint:
    def __init__(self, issuer: str, shops: list[str], *, admin: bool = False) -> None:
        self.body = document(issuer, shops, admin=admin)

    def routes(self) -> list[BaseRoute]:
        return [Route("/openapi.json", self.openapi, methods=["GET"])]

    async def openapi(self, request: Request) -> Response:
        """GET /openapi.json"""
        return JSON(self.body, headers={"Cache-Control": "public, max-age=300"})
