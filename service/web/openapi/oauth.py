"""The OAuth 2.0 endpoints in the OpenAPI document (RFC 6749, 7662, 7009, 8414).

Client authentication is HTTP Basic (the ``clientBasic`` scheme) or, as the
empty security requirement says, ``client_id`` (and ``client_secret``) in the
body. Client ids are not listed: the document is public.
"""

from __future__ import annotations

from typing import Any

from service.config.clients import GRANT_TYPES
from service.oauth.metadata import INTROSPECTION_PATH, REVOCATION_PATH
from service.web.oauth import TOKEN_PATHS
from service.web.openapi.parts import (
    BODY,
    DPOP_NONCE,
    DPOP_PROOF,
    DPOP_TOKEN_ERRORS,
    body,
    common,
    errors,
    json_response,
    preflight,
)

#: Basic credentials or the body's: either one satisfies the endpoint.
CLIENT_AUTH: list[dict[str, list[str]]] = [{"clientBasic": []}, {}]

#: Sent with a 401 when the request used the Authorization header (RFC 6749 §5.2).
BASIC_CHALLENGE = {
    401: {
        "WWW-Authenticate": {
            "description": 'Basic realm="shapestoken", when Basic credentials were sent',
            "schema": {"type": "string"},
        }
    }
}

CLIENT_FIELDS: dict[str, Any] = {
    "client_id": {"type": "string", "description": "client_secret_post, or a public client"},
    "client_secret": {"type": "string", "description": "client_secret_post"},
}

SCHEMAS: dict[str, Any] = {
    "TokenRequest": {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"enum": list(GRANT_TYPES)},
            "scope": {
                "type": "string",
                "description": "space-separated scope names; '*' or none: all of the client's",
            },
            "audience": {"type": "string", "description": "one of the client's audiences"},
            "resource": {"type": "string", "format": "uri", "description": "RFC 8707"},
            **CLIENT_FIELDS,
        },
        # Other parameters are ignored (RFC 6749 §3.2).
        "additionalProperties": {"type": "string"},
    },
    "TokenQuery": {
        "type": "object",
        "required": ["token"],
        "properties": {
            "token": {"type": "string"},
            "token_type_hint": {"type": "string", "description": "a hint only"},
            **CLIENT_FIELDS,
        },
        "additionalProperties": {"type": "string"},
    },
    "Introspection": {
        "oneOf": [
            {
                "title": "inactive: expired, revoked, unknown, garbage (RFC 7662 §2.2)",
                "type": "object",
                "required": ["active"],
                "properties": {"active": {"const": False}},
                "additionalProperties": False,
            },
            {
                "title": "active: a JWT of this service, or an API token (stk_), RFC 7662 §2.2",
                "type": "object",
                "required": ["active", "scope", "sub", "iss", "iat", "token_type"],
                "properties": {
                    "active": {"const": True},
                    "scope": {"type": "string"},
                    "client_id": {"type": "string"},
                    "sub": {"type": "string"},
                    "aud": {"type": "string"},
                    "iss": {"type": "string"},
                    "exp": {"type": "integer"},
                    "iat": {"type": "integer"},
                    "nbf": {"type": "integer"},
                    "jti": {"type": "string"},
                    "token_type": {"const": "Bearer"},
                    "token_use": {"enum": ["customer", *GRANT_TYPES]},
                    "shop": {"type": "string"},
                },
            },
        ]
    },
    "AuthorizationServerMetadata": {
        "type": "object",
        "required": [
            "issuer",
            "token_endpoint",
            "jwks_uri",
            "introspection_endpoint",
            "revocation_endpoint",
            "grant_types_supported",
            "token_endpoint_auth_methods_supported",
            "introspection_endpoint_auth_methods_supported",
            "revocation_endpoint_auth_methods_supported",
            "response_types_supported",
            "scopes_supported",
        ],
        "properties": {
            "issuer": {"type": "string"},
            "token_endpoint": {"type": "string"},
            "jwks_uri": {"type": "string"},
            "introspection_endpoint": {"type": "string"},
            "revocation_endpoint": {"type": "string"},
            "grant_types_supported": {"type": "array", "items": {"enum": list(GRANT_TYPES)}},
            "token_endpoint_auth_methods_supported": {
                "type": "array",
                "items": {"type": "string"},
            },
            "introspection_endpoint_auth_methods_supported": {
                "type": "array",
                "items": {"type": "string"},
            },
            "revocation_endpoint_auth_methods_supported": {
                "type": "array",
                "items": {"type": "string"},
            },
            "response_types_supported": {"type": "array", "maxItems": 0},
            "scopes_supported": {"type": "array", "items": {"type": "string"}},
        },
    },
}

SECURITY_SCHEMES = {
    "clientBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "client_id:client_secret, each form-encoded first (RFC 6749 §2.3.1)",
    }
}

TOKEN = {
    "allOf": [
        {"$ref": "#/components/schemas/Token"},
        {"properties": {"identifier": {"enum": list(GRANT_TYPES)}}},
    ]
}


def _token() -> dict[str, Any]:
    return {
        "post": {
            "summary": "a client_credentials or implicit token (RFC 6749 §4.4, §5)",
            "security": CLIENT_AUTH,
            "parameters": [DPOP_PROOF],
            "requestBody": body({"$ref": "#/components/schemas/TokenRequest"}),
            "responses": {
                "200": json_response("a token (Cache-Control: no-store)", TOKEN),
                **errors(
                    {
                        400: (
                            "invalid_request",
                            "unsupported_grant_type",
                            "unauthorized_client",
                            "invalid_scope",
                            "invalid_target",
                            *DPOP_TOKEN_ERRORS,
                        ),
                        401: ("invalid_client",),
                        403: ("origin_not_allowed",),
                        **common(*BODY, 405, 429, 503),
                    },
                    headers={**BASIC_CHALLENGE, 400: DPOP_NONCE},
                ),
            },
        },
        "options": preflight(codes=common(405)),
    }


def _caller_errors(**codes: tuple[str, ...]) -> dict[str, Any]:
    """Errors of introspection and revocation: an authenticated caller, a ``token``."""
    return errors(
        {
            400: ("invalid_request", *codes.get("bad_request", ())),
            401: ("invalid_client",),
            **({403: codes["forbidden"]} if "forbidden" in codes else {}),
            **common(*BODY, 405, 429, 503),
        },
        headers=BASIC_CHALLENGE,
    )


def paths() -> dict[str, Any]:
    """The token endpoint and its aliases, introspection, revocation, the metadata."""
    return {
        **{path: _token() for path in TOKEN_PATHS},
        INTROSPECTION_PATH: {
            "post": {
                "summary": "is this token active, and what does it carry (RFC 7662)",
                "security": CLIENT_AUTH,
                "requestBody": body({"$ref": "#/components/schemas/TokenQuery"}),
                "responses": {
                    "200": json_response(
                        "the token's state (Cache-Control: no-store)",
                        {"$ref": "#/components/schemas/Introspection"},
                    ),
                    **_caller_errors(forbidden=("access_denied",)),
                },
            }
        },
        REVOCATION_PATH: {
            "post": {
                "summary": "end a token early (RFC 7009)",
                "description": (
                    "A confidential client ends its own tokens (an introspecting one, "
                    "customer tokens too); a public client sends its client_id alone "
                    "(§2.1) and ends only its own implicit tokens. CORS for public "
                    "clients' allowed_origins, as at the token endpoint."
                ),
                "security": CLIENT_AUTH,
                "requestBody": body({"$ref": "#/components/schemas/TokenQuery"}),
                "responses": {
                    "200": {"description": "revoked, or not a valid token: the same (§2.2)"},
                    **_caller_errors(bad_request=("invalid_grant",)),
                },
            },
            # A guest page of a public client signs its guest out (CORS).
            "options": preflight(codes=common(405)),
        },
        "/.well-known/oauth-authorization-server": {
            "get": {
                "summary": "the authorization server metadata (RFC 8414)",
                "responses": {
                    "200": json_response(
                        "RFC 8414 §2", {"$ref": "#/components/schemas/AuthorizationServerMetadata"}
                    ),
                    **errors(common(405)),
                },
            }
        },
    }
