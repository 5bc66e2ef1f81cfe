"""The customer endpoints in the OpenAPI document: signed ids, the App Proxy, ``/v1/me``."""

from __future__ import annotations

from typing import Any

from service.config import values
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

TOKEN = json_response("a token (Cache-Control: no-store)", {"$ref": "#/components/schemas/Token"})

PROXY_PARAMETERS = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
    for name in ("shop", "logged_in_customer_id", "path_prefix", "timestamp", "signature")
]

#: A Shopify customer id, as the service parses it: digits with no sign and no leading
#: zero, at most 20 of them, as a string or a JSON integer. ``pattern`` holds for strings
#: only (JSON Schema 2020-12 §6.3.3), so the integer form has its own bounds.
CUSTOMER_ID: dict[str, Any] = {
    "oneOf": [
        {"type": "string", "pattern": f"^{values.CUSTOMER_ID.pattern}$"},
        {"type": "integer", "minimum": 1, "maximum": 10**20 - 1},
    ]
}

SCHEMAS: dict[str, Any] = {
    "CustomerProof": {
        "type": "object",
        "required": ["id", "signature"],
        "properties": {
            "id": CUSTOMER_ID,
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
}


def paths(shops: list[str]) -> dict[str, Any]:
    """``/v1/shops/{shop}/customer-token``, ``/v1/app-proxy/customer-token``, ``/v1/me``."""
    app_proxy = {
        "summary": "a customer token for a request Shopify's App Proxy signed",
        "parameters": PROXY_PARAMETERS,
        "responses": {
            "200": TOKEN,
            **errors(
                {
                    401: ("invalid_signature", "signature_expired", "login_required"),
                    403: ("customer_blocked",),
                    404: ("unknown_shop",),
                    **common(400, 405, 429, 503),
                }
            ),
        },
    }
    # A shop name holding an encoded `/` leaves the route: not_found.
    unknown_shop = {404: ("unknown_shop", "not_found"), **common(405)}
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
                "parameters": [DPOP_PROOF],
                "requestBody": body({"$ref": "#/components/schemas/CustomerProof"}),
                "responses": {
                    "200": TOKEN,
                    **errors(
                        {
                            400: ("invalid_request", *DPOP_TOKEN_ERRORS),
                            401: ("invalid_signature", "signature_expired"),
                            403: ("origin_not_allowed", "signed_ids_disabled", "customer_blocked"),
                            **unknown_shop,
                            **common(*BODY, 429, 503),
                        },
                        headers={400: DPOP_NONCE},
                    ),
                },
            },
            "options": preflight(codes=unknown_shop),
        },
        "/v1/app-proxy/customer-token": {"get": app_proxy, "post": app_proxy},
        "/v1/me": {
            "get": {
                "summary": "the claims of a valid customer token",
                "security": [{"bearer": []}, {"dpop": []}],
                "parameters": [DPOP_PROOF],
                "responses": {
                    "200": json_response(
                        "the token's claims", {"$ref": "#/components/schemas/Claims"}
                    ),
                    **errors(
                        {
                            # RFC 9449 §7.1: a DPoP-bound token's refusals.
                            401: ("invalid_token", "invalid_dpop_proof", "use_dpop_nonce"),
                            403: ("origin_not_allowed",),
                            **common(405, 503),
                        },
                        headers={401: DPOP_NONCE},
                    ),
                },
            },
            "options": preflight(codes=common(405)),
        },
    }
