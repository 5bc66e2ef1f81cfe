"""Building blocks of the OpenAPI document: responses, error bodies, shared schemas.

Every error response names the exact ``error`` codes its status may carry at
that operation, so the fuzzer's schema check fails on an undocumented one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}

#: The codes a status carries wherever it appears (an operation may list others).
COMMON_CODES: dict[int, tuple[str, ...]] = {
    400: ("invalid_request",),
    404: ("not_found",),
    405: ("method_not_allowed",),
    408: ("request_timeout",),
    413: ("request_too_large",),
    415: ("unsupported_media_type",),
    429: ("rate_limited",),
    503: ("temporarily_unavailable",),
}

#: Any route may meet an unknown method (405); every body-reading endpoint may meet
#: a trickled body (408), an oversized one (413) or a wrong content type (415).
BODY = (408, 413, 415)

RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}


#: RFC 9449 §4.1: the proof of possession of a DPoP key, one per request.
DPOP_PROOF = {
    "name": "DPoP",
    "in": "header",
    "required": False,
    "description": "a DPoP proof (RFC 9449 §4.2) for this request: a compact JWS, typ dpop+jwt",
    "schema": {"type": "string"},
}
#: RFC 9449 §8: the nonce the next proof must carry.
DPOP_NONCE = {
    "DPoP-Nonce": {
        "description": "the nonce the next DPoP proof must carry (with use_dpop_nonce)",
        "required": False,
        "schema": {"type": "string"},
    }
}
#: RFC 9449 §5, §8: what a token endpoint answers about a proof.
DPOP_TOKEN_ERRORS = ("invalid_dpop_proof", "use_dpop_nonce")


def common(*statuses: int) -> dict[int, tuple[str, ...]]:
    """``statuses`` with the codes they carry everywhere."""
    return {status: COMMON_CODES[status] for status in statuses}


def errors(
    codes: Mapping[int, Sequence[str]], *, headers: Mapping[int, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Error responses: each status allows exactly its listed ``error`` codes."""
    # A 429 says when the limit frees up; a 503 (Redis or the database) says retry in 1 s.
    headers = {429: RETRY_AFTER, 503: RETRY_AFTER, **(headers or {})}
    responses: dict[str, Any] = {}
    for status, names in sorted(codes.items()):
        response: dict[str, Any] = {
            "description": ", ".join(names),
            "content": {
                "application/json": {
                    "schema": {"allOf": [ERROR, {"properties": {"error": {"enum": list(names)}}}]}
                }
            },
        }
        if status in headers:
            response["headers"] = headers[status]
        responses[str(status)] = response
    return responses


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def body(schema: dict[str, Any]) -> dict[str, Any]:
    """A required request body, as a JSON object or the same fields as a form."""
    return {
        "required": True,
        "content": {
            "application/json": {"schema": schema},
            "application/x-www-form-urlencoded": {"schema": schema},
        },
    }


def preflight(*, codes: Mapping[int, Sequence[str]]) -> dict[str, Any]:
    """A CORS preflight: 204 for an allowed origin (or none), 403 for another."""
    return {
        "summary": "CORS preflight",
        "responses": {
            "204": {"description": "allowed origin, or no Origin"},
            **errors({403: ("origin_not_allowed",), **codes}),
        },
    }


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
            # DPoP for a token bound to a DPoP key (RFC 9449 §5).
            "token_type": {"enum": ["Bearer", "DPoP"]},
            "expires_in": {"type": "integer", "minimum": 1},
            "expires": {"type": "integer"},
            "identifier": {"enum": ["customer", "client_credentials", "implicit"]},
            "scope": {"type": "string"},
            "token": {"type": "string"},
            "expiry": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "Status": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "ok"}},
        "additionalProperties": False,
    },
}
