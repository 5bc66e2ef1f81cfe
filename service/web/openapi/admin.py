"""The admin API in the OpenAPI document (``/admin/api/v1/``; only with a ``database``).

Every operation takes an API token with the scope ``admin`` (the ``adminToken``
scheme) and may answer 401 ``invalid_token``, 403 ``insufficient_scope`` and
503 ``temporarily_unavailable`` (a database that cannot answer).
"""

from __future__ import annotations

from typing import Any

from service.admin import audit
from service.store.audit import MAX_PAGE
from service.web.adminapi import PREFIX
from service.web.openapi.parts import BODY, common, errors, json_response

SECURITY: list[dict[str, list[str]]] = [{"adminToken": []}]
SECURITY_SCHEMES: dict[str, Any] = {
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "an API token (stk_...) with the scope admin",
    }
}
CHALLENGE = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    403: {
        "WWW-Authenticate": {
            "description": 'Bearer error="insufficient_scope", scope="admin"',
            "schema": {"type": "string"},
        }
    },
}
STRINGS = {"type": "array", "items": {"type": "string"}}
TIME = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, Any] = {
    "AdminClient": {
        "type": "object",
        "required": [
            "client_id",
            "type",
            "source",
            "scopes",
            "audiences",
            "grant_types",
            "allowed_origins",
            "token_ttl",
            "introspect",
            "dpop",
            "disabled",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "client_id": {"type": "string"},
            "type": {"enum": ["confidential", "public"]},
            "source": {"enum": ["config", "database"]},
            "scopes": STRINGS,
            "audiences": STRINGS,
            "grant_types": STRINGS,
            "allowed_origins": STRINGS,
            "token_ttl": {"type": "integer"},
            "introspect": {"type": "boolean"},
            "dpop": {"type": "string"},
            "disabled": {"type": "boolean"},
            "created_at": TIME,
            "updated_at": TIME,
            "version": {"type": ["integer", "null"], "description": "send it back with a PATCH"},
            "client_secret": {"type": "string", "description": "on creation only, once"},
        },
    },
    "AdminClientCreate": {
        "type": "object",
        "required": ["client_id", "scopes"],
        "properties": {
            "client_id": {"type": "string", "pattern": "^[A-Za-z0-9._-]{3,64}$"},
            "type": {"enum": ["confidential", "public"]},
            "scopes": STRINGS,
            "audiences": STRINGS,
            "grant_types": STRINGS,
            "allowed_origins": STRINGS,
            "token_ttl": {"type": "integer", "minimum": 60, "maximum": 86400},
            "introspect": {"type": "boolean"},
            "dpop": {"enum": ["off", "optional", "required"]},
        },
    },
    "AdminClientPatch": {
        "type": "object",
        "properties": {
            "scopes": STRINGS,
            "audiences": STRINGS,
            "grant_types": STRINGS,
            "allowed_origins": STRINGS,
            "token_ttl": {"type": "integer", "minimum": 60, "maximum": 86400},
            "introspect": {"type": "boolean"},
            "dpop": {"enum": ["off", "optional", "required"]},
            "disabled": {"type": "boolean"},
            "version": {"type": "integer", "minimum": 1, "description": "the version read"},
        },
    },
    "AdminBlock": {
        "type": "object",
        "required": ["shop", "customer_id", "reason", "blocked_at", "by"],
        "properties": {
            "shop": {"type": "string"},
            "customer_id": {"type": "string"},
            "reason": {"type": "string"},
            "blocked_at": {"type": "string", "format": "date-time"},
            "by": {"type": ["string", "null"]},
        },
    },
    "AdminToken": {
        "type": "object",
        "required": [
            "id",
            "name",
            "scopes",
            "created_at",
            "created_by",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "revoked_by",
        ],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "scopes": STRINGS,
            "created_at": {"type": "string", "format": "date-time"},
            "created_by": {"type": "string"},
            "expires_at": TIME,
            "last_used_at": TIME,
            "revoked_at": TIME,
            "revoked_by": {"type": ["string", "null"]},
            "token": {"type": "string", "description": "on creation only, once"},
        },
    },
    "AdminEvent": {
        "type": "object",
        "required": ["id", "at", "actor", "action", "target", "details"],
        "properties": {
            "id": {"type": "integer"},
            "at": {"type": "string", "format": "date-time"},
            "actor": {"type": "string"},
            "action": {"enum": list(audit.ACTIONS)},
            "target": {"type": "string"},
            "details": {"type": "object"},
        },
    },
}


def _list(key: str, item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "array", "items": _ref(item)}},
    }


def _json_body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _operation(
    summary: str,
    ok: tuple[int, dict[str, Any] | None],
    codes: dict[int, tuple[str, ...]],
    *,
    request: dict[str, Any] | None = None,
) -> dict[str, Any]:
    status, schema = ok
    success = {"description": "done"} if schema is None else json_response(summary, schema)
    all_codes = {
        401: ("invalid_token",),
        403: ("insufficient_scope",),
        **common(405, 503),
        **codes,
    }
    operation: dict[str, Any] = {
        "summary": summary,
        "security": SECURITY,
        "responses": {str(status): success, **errors(all_codes, headers=CHALLENGE)},
    }
    if request is not None:
        operation["requestBody"] = request
    return operation


def _body_codes(**codes: tuple[str, ...]) -> dict[int, tuple[str, ...]]:
    found = {int(status.removeprefix("s")): names for status, names in codes.items()}
    return {**common(*BODY), **found}


def _path(*names: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in names
    ]


def paths() -> dict[str, Any]:
    client = _ref("AdminClient")
    metadata_codes = ("invalid_client_metadata", "invalid_request")
    return {
        f"{PREFIX}/clients": {
            "get": _operation("every client", (200, _list("clients", "AdminClient")), {}),
            "post": _operation(
                "add a client (a confidential one's secret is in this answer only)",
                (201, client),
                _body_codes(s400=metadata_codes, s409=("client_exists",)),
                request=_json_body(_ref("AdminClientCreate")),
            ),
        },
        f"{PREFIX}/clients/{{client_id}}": {
            "parameters": _path("client_id"),
            "get": _operation("one client", (200, client), common(404)),
            "patch": _operation(
                "change a runtime client",
                (200, client),
                {
                    **_body_codes(s400=metadata_codes, s409=("read_only", "version_conflict")),
                    **common(404),
                },
                request=_json_body(_ref("AdminClientPatch")),
            ),
            "delete": _operation(
                "delete a runtime client", (204, None), {**common(404), 409: ("read_only",)}
            ),
        },
        f"{PREFIX}/clients/{{client_id}}/secret": {
            "parameters": _path("client_id"),
            "post": _operation(
                "a new secret (shown once); the previous one lasts keep_previous_seconds",
                (
                    200,
                    {
                        "type": "object",
                        "required": ["client_secret"],
                        "properties": {"client_secret": {"type": "string"}},
                    },
                ),
                {**_body_codes(s400=("invalid_request",), s409=("read_only",)), **common(404)},
                request=_json_body(
                    {
                        "type": "object",
                        "properties": {
                            "keep_previous_seconds": {
                                "type": "integer",
                                "minimum": 0,
                                "maximum": 604800,
                            }
                        },
                    },
                    required=False,
                ),
            ),
        },
        f"{PREFIX}/blocks": {
            "get": _operation(
                "blocked customers",
                (200, _list("blocks", "AdminBlock")),
                {409: ("shared_state_required",)},
            ),
            "post": _operation(
                "block a customer",
                (201, _ref("AdminBlock")),
                _body_codes(s400=("invalid_request",), s409=("shared_state_required",)),
                request=_json_body(
                    {
                        "type": "object",
                        "required": ["shop", "customer_id"],
                        "properties": {
                            "shop": {"type": "string"},
                            "customer_id": {"type": "string", "pattern": "^[0-9]{1,20}$"},
                            "reason": {"type": "string", "maxLength": 200},
                        },
                    }
                ),
            ),
        },
        f"{PREFIX}/blocks/{{shop}}/{{customer_id}}": {
            "parameters": _path("shop", "customer_id"),
            "delete": _operation(
                "lift a block",
                (204, None),
                {**common(404), 409: ("shared_state_required",)},
            ),
        },
        f"{PREFIX}/tokens": {
            "get": _operation("every API token", (200, _list("tokens", "AdminToken")), {}),
            "post": _operation(
                "make an API token (the token is in this answer only)",
                (201, _ref("AdminToken")),
                _body_codes(s400=("invalid_request",)),
                request=_json_body(
                    {
                        "type": "object",
                        "required": ["name", "scopes"],
                        "properties": {
                            "name": {"type": "string"},
                            "scopes": STRINGS,
                            "expires_in_days": {"type": ["integer", "null"], "minimum": 1},
                        },
                    }
                ),
            ),
        },
        f"{PREFIX}/tokens/{{token_id}}": {
            "parameters": _path("token_id"),
            "delete": _operation("revoke an API token (the row stays)", (204, None), common(404)),
        },
        f"{PREFIX}/audit": {
            "get": {
                **_operation(
                    "the audit trail, newest first",
                    (200, _list("events", "AdminEvent")),
                    common(400),
                ),
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                    },
                    {
                        "name": "before",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1},
                        "description": "an event id: the page of older events",
                    },
                    {
                        "name": "action",
                        "in": "query",
                        "schema": {"enum": list(audit.ACTIONS)},
                    },
                ],
            }
        },
    }
