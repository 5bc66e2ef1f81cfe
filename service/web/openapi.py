"""``GET /openapi.json``: an OpenAPI 3.1 description of the public endpoints.

Maintained by hand, next to the routes it describes: a test fails when a route
has no entry here or an entry no route, and the test command fuzzes a real
server with it (schemathesis: no 5xx, every response as described).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service import __version__
from service.web.http import JSON

ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {
            "description": "an error",
            "content": {"application/json": {"schema": ERROR}},
        }
        for status in statuses
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


CORS_PREFLIGHT = {
    "summary": "CORS preflight",
    "responses": {"204": {"description": "allowed origin"}, **_errors(403, 404)},
}
#: Any request may meet these: an unknown path or method (404, 405), a rate limit, a
#: body that trickles (408) or a client that cannot wait for the state backend (503).
COMMON = (404, 405)

PROXY_PARAMETERS = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
    for name in ("shop", "logged_in_customer_id", "path_prefix", "timestamp", "signature")
]

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "error_description"],
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
        "additionalProperties": False,
    },
    "Token": {
        "type": "object",
        "required": [
            "access_token",
            "token_type",
            "expires_in",
            "expires",
            "identifier",
            "scope",
            "token",
            "expiry",
        ],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer", "minimum": 1},
            "expires": {"type": "integer"},
            "identifier": {"enum": ["customer", "client_credentials", "implicit"]},
            "scope": {"type": "string"},
            "token": {"type": "string"},
            "expiry": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "CustomerProof": {
        "type": "object",
        "required": ["id", "signature"],
        "properties": {
            "id": {"type": ["string", "integer"], "pattern": "^[1-9][0-9]{0,19}$"},
            "signature": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "ts": {"type": ["string", "integer"]},
        },
        "additionalProperties": False,
    },
    "Claims": {
        "type": "object",
        "required": ["iss", "sub", "aud", "shop", "scope", "iat", "nbf", "exp", "jti"],
        "properties": {
            "sub": {"type": "string"},
            "shop": {"type": "string"},
            "token_use": {"const": "customer"},
        },
    },
    "JWKS": {
        "type": "object",
        "required": ["keys"],
        "properties": {
            "keys": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kty", "kid", "alg", "use"],
                    "properties": {"use": {"const": "sig"}},
                },
            }
        },
    },
    "Status": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "ok"}},
        "additionalProperties": False,
    },
}


def _paths(shops: list[str]) -> dict[str, Any]:
    token = _json("a token (Cache-Control: no-store)", {"$ref": "#/components/schemas/Token"})
    proof = {"$ref": "#/components/schemas/CustomerProof"}
    app_proxy = {
        "summary": "a customer token for a request Shopify's App Proxy signed",
        "parameters": PROXY_PARAMETERS,
        "responses": {"200": token, **_errors(400, 401, 404, 429, 503, *COMMON)},
    }
    return {
        "/v1/shops/{shop}/customer-token": {
            "parameters": [
                {
                    "name": "shop",
                    "in": "path",
                    "required": True,
                    # Any other name is 404 unknown_shop (documented below).
                    "schema": {"type": "string", "enum": shops},
                }
            ],
            "post": {
                "summary": "a customer token for an id the shop's theme signed",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": proof},
                        "application/x-www-form-urlencoded": {"schema": proof},
                    },
                },
                "responses": {
                    "200": token,
                    **_errors(400, 401, 403, 408, 413, 415, 429, 503, *COMMON),
                },
            },
            "options": CORS_PREFLIGHT,
        },
        "/v1/app-proxy/customer-token": {"get": app_proxy, "post": app_proxy},
        "/v1/me": {
            "get": {
                "summary": "the claims of a valid customer token",
                "security": [{"bearer": []}],
                "responses": {
                    "200": _json("the token's claims", {"$ref": "#/components/schemas/Claims"}),
                    **_errors(401, 403, 503, *COMMON),
                },
            },
            "options": CORS_PREFLIGHT,
        },
        "/.well-known/jwks.json": {
            "get": {
                "summary": "the published signing keys",
                "responses": {
                    "200": _json("RFC 7517 key set", {"$ref": "#/components/schemas/JWKS"}),
                    **_errors(*COMMON),
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "liveness",
                "responses": {
                    "200": _json("alive", {"$ref": "#/components/schemas/Status"}),
                    **_errors(*COMMON),
                },
            }
        },
        "/readyz": {
            "get": {
                "summary": "readiness: the state backend answers",
                "responses": {
                    "200": _json("ready", {"$ref": "#/components/schemas/Status"}),
                    **_errors(503, *COMMON),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus text format",
                "responses": {
                    "200": {"description": "metrics", "content": {"text/plain": {}}},
                    **_errors(*COMMON),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "this document",
                "responses": {"200": _json("OpenAPI 3.1", {"type": "object"}), **_errors(*COMMON)},
            }
        },
        "/static/js/{path}": {
            "parameters": [
                {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {
                "summary": "the browser script (ETag, Access-Control-Allow-Origin: *)",
                "responses": {
                    "200": {"description": "a file", "content": {"text/javascript": {}}},
                    "304": {"description": "not modified"},
                    **_errors(*COMMON),
                },
            },
        },
    }


def document(issuer: str, shops: list[str]) -> dict[str, Any]:
    """The OpenAPI document, with ``issuer`` as the server URL and the configured shops."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Shapes Token Service", "version": __version__},
        "servers": [{"url": issuer}],
        "paths": _paths(sorted(shops)),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


class OpenAPIEndpoint:
    def __init__(self, issuer: str, shops: list[str]) -> None:
        self.body = document(issuer, shops)

    def routes(self) -> list[BaseRoute]:
        return [Route("/openapi.json", self.openapi, methods=["GET"])]

    async def openapi(self, request: Request) -> Response:
        """GET /openapi.json"""
        return JSON(self.body, headers={"Cache-Control": "public, max-age=300"})
