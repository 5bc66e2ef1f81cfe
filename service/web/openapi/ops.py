"""The operational endpoints in the OpenAPI document: keys, health, metrics, files."""

from __future__ import annotations

from typing import Any

from service.web.openapi.parts import common, errors, json_response

SCHEMAS: dict[str, Any] = {
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
}

STATUS = {"$ref": "#/components/schemas/Status"}


def _get(summary: str, ok: dict[str, Any], *statuses: int) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": ok, **errors(common(*statuses))}}}


def paths() -> dict[str, Any]:
    """The JWKS, ``/healthz``, ``/readyz``, ``/metrics``, ``/openapi.json``, the scripts."""
    return {
        "/.well-known/jwks.json": _get(
            "the published signing keys",
            json_response("RFC 7517 key set", {"$ref": "#/components/schemas/JWKS"}),
            405,
        ),
        "/healthz": _get("liveness", json_response("alive", STATUS), 405),
        "/readyz": _get(
            "readiness: the state backend answers", json_response("ready", STATUS), 405, 503
        ),
        "/metrics": _get(
            "Prometheus text format",
            {"description": "metrics", "content": {"text/plain": {}}},
            405,
        ),
        "/openapi.json": _get(
            "this document", json_response("OpenAPI 3.1", {"type": "object"}), 405
        ),
        "/static/js/{path}": {
            "parameters": [
                {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {
                "summary": "the browser script (ETag, Access-Control-Allow-Origin: *)",
                "responses": {
                    "200": {"description": "a file", "content": {"text/javascript": {}}},
                    "304": {"description": "not modified"},
                    **errors(common(404, 405)),
                },
            },
        },
    }
