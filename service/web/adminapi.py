"""``/admin/api/v1/``: the admin API, JSON for scripts and Terraform-style tooling.

Only ``Authorization: Bearer stk_...`` API tokens carrying the scope ``admin``
get in (RFC 6750), never the dashboard's cookie, so no request can be forged
from a page and no CSRF token is needed. The rules live in :mod:`service.admin`;
this module reads requests and writes answers. A database that cannot answer
is a 503 within :data:`DEADLINE` seconds, reads included.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import parse_qsl

from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope

from service.admin import audit
from service.admin.errors import InsufficientScope
from service.admin.services import Administration
from service.errors import InvalidRequest, InvalidToken, StoreUnavailable, UnsupportedMediaType
from service.store.audit import MAX_PAGE, AuditEvent
from service.store.stk import ADMIN_SCOPE
from service.support.clock import iso8601
from service.web.http import (
    JSON_TYPE,
    NO_STORE_HEADERS,
    Endpoint,
    Reply,
    header,
    media_type,
    parse_json_object,
    read_body,
    render_json,
)
from service.wiring import Components

PREFIX = "/admin/api/v1"
#: A client's metadata (origins, audiences, scopes) can pass the token endpoint's 4 KiB.
MAX_BODY = 64 * 1024
#: Seconds a request may wait for the database before it is a 503.
DEADLINE = 2.5
DEFAULT_PAGE = 100
T = TypeVar("T")


class TokenRequired(InvalidToken):
    def __init__(self, description: str | None = None) -> None:
        super().__init__(description)
        # RFC 6750 §3.1: a request with no credentials gets the scheme alone.
        self.headers = {"WWW-Authenticate": "Bearer"}


class AdminAPI:
    def __init__(self, components: Components) -> None:
        assert components.admin is not None and components.token_store is not None
        self.admin: Administration = components.admin
        self.tokens = components.token_store
        self.body_timeout = components.settings.body_timeout

    def routes(self) -> list[BaseRoute]:
        def route(
            path: str, handler: Callable[[Scope, Receive], Awaitable[Reply]], method: str
        ) -> Route:
            return Route(PREFIX + path, Endpoint(handler), methods=[method])

        return [
            route("/clients", self.list_clients, "GET"),
            route("/clients", self.create_client, "POST"),
            route("/clients/{client_id}", self.get_client, "GET"),
            route("/clients/{client_id}", self.update_client, "PATCH"),
            route("/clients/{client_id}", self.delete_client, "DELETE"),
            route("/clients/{client_id}/secret", self.rotate_secret, "POST"),
            route("/blocks", self.list_blocks, "GET"),
            route("/blocks", self.create_block, "POST"),
            route("/blocks/{shop}/{customer_id}", self.delete_block, "DELETE"),
            route("/tokens", self.list_tokens, "GET"),
            route("/tokens", self.create_token, "POST"),
            route("/tokens/{token_id}", self.revoke_token, "DELETE"),
            route("/audit", self.audit_page, "GET"),
        ]

    # -- clients -------------------------------------------------------------------------

    async def list_clients(self, scope: Scope, receive: Receive) -> Reply:
        """GET /admin/api/v1/clients"""
        await self._actor(scope)
        return _json(200, {"clients": await _bounded(self.admin.clients.list())})

    async def create_client(self, scope: Scope, receive: Receive) -> Reply:
        """POST /admin/api/v1/clients: the client, and its secret this once."""
        actor = await self._actor(scope)
        fields = await self._body(scope, receive)
        client, secret = await _bounded(self.admin.clients.create(fields, actor))
        return _json(201, client if secret is None else {**client, "client_secret": secret})

    async def get_client(self, scope: Scope, receive: Receive) -> Reply:
        """GET /admin/api/v1/clients/{client_id}"""
        await self._actor(scope)
        return _json(200, await _bounded(self.admin.clients.get(_param(scope, "client_id"))))

    async def update_client(self, scope: Scope, receive: Receive) -> Reply:
        """PATCH /admin/api/v1/clients/{client_id}; ``version`` or If-Match guard a stale read."""
        actor = await self._actor(scope)
        fields = dict(await self._body(scope, receive))
        version = _version(fields.pop("version", None), header(scope, b"if-match"))
        client_id = _param(scope, "client_id")
        client = await _bounded(
            self.admin.clients.update(client_id, fields, actor, version=version)
        )
        return _json(200, client)

    async def delete_client(self, scope: Scope, receive: Receive) -> Reply:
        """DELETE /admin/api/v1/clients/{client_id}"""
        actor = await self._actor(scope)
        await _bounded(self.admin.clients.delete(_param(scope, "client_id"), actor))
        return Reply(204, b"", NO_STORE_HEADERS)

    async def rotate_secret(self, scope: Scope, receive: Receive) -> Reply:
        """POST /admin/api/v1/clients/{client_id}/secret"""
        actor = await self._actor(scope)
        fields = await self._body(scope, receive, empty_ok=True)
        client_id = _param(scope, "client_id")
        secret = await _bounded(self.admin.clients.rotate(client_id, fields, actor))
        return _json(200, {"client_secret": secret})

    # -- blocks --------------------------------------------------------------------------

    async def list_blocks(self, scope: Scope, receive: Receive) -> Reply:
        """GET /admin/api/v1/blocks"""
        await self._actor(scope)
        return _json(200, {"blocks": await _bounded(self.admin.blocks.list())})

    async def create_block(self, scope: Scope, receive: Receive) -> Reply:
        """POST /admin/api/v1/blocks"""
        actor = await self._actor(scope)
        fields = await self._body(scope, receive)
        _only(fields, ("shop", "customer_id"), ("reason",))
        block = await _bounded(
            self.admin.blocks.block(
                fields["shop"], fields["customer_id"], fields.get("reason", ""), actor
            )
        )
        return _json(201, block)

    async def delete_block(self, scope: Scope, receive: Receive) -> Reply:
        """DELETE /admin/api/v1/blocks/{shop}/{customer_id}"""
        actor = await self._actor(scope)
        shop, customer_id = _param(scope, "shop"), _param(scope, "customer_id")
        await _bounded(self.admin.blocks.unblock(shop, customer_id, actor))
        return Reply(204, b"", NO_STORE_HEADERS)

    # -- tokens --------------------------------------------------------------------------

    async def list_tokens(self, scope: Scope, receive: Receive) -> Reply:
        """GET /admin/api/v1/tokens"""
        await self._actor(scope)
        return _json(200, {"tokens": await _bounded(self.admin.tokens.list())})

    async def create_token(self, scope: Scope, receive: Receive) -> Reply:
        """POST /admin/api/v1/tokens: the row, and the token this once."""
        actor = await self._actor(scope)
        fields = await self._body(scope, receive)
        row, token = await _bounded(self.admin.tokens.create(fields, actor))
        return _json(201, {**row, "token": token})

    async def revoke_token(self, scope: Scope, receive: Receive) -> Reply:
        """DELETE /admin/api/v1/tokens/{token_id}: revoked; the row stays."""
        actor = await self._actor(scope)
        await _bounded(self.admin.tokens.revoke(_param(scope, "token_id"), actor))
        return Reply(204, b"", NO_STORE_HEADERS)

    # -- audit ---------------------------------------------------------------------------

    async def audit_page(self, scope: Scope, receive: Receive) -> Reply:
        """GET /admin/api/v1/audit?limit=&before=&action=: newest first."""
        await self._actor(scope)
        query = dict(parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1")))
        limit = _integer(query.get("limit"), "limit", 1, MAX_PAGE, DEFAULT_PAGE) or DEFAULT_PAGE
        before = _integer(query.get("before"), "before", 1, 2**62, None)
        action = query.get("action")
        if action is not None and action not in audit.ACTIONS:
            raise InvalidRequest("`action`: not an audit action.")
        events = await _bounded(self.admin.audit.page(limit=limit, before=before, action=action))
        return _json(200, {"events": [describe_event(event) for event in events]})

    # -- helpers -------------------------------------------------------------------------

    async def _actor(self, scope: Scope) -> str:
        """``token:<id>`` of the request's ``admin`` API token; 401 or 403 otherwise."""
        value = header(scope, b"authorization")
        if value is None:
            raise TokenRequired(
                "Send an API token with the scope admin: Authorization: Bearer stk_..."
            )
        scheme, _, token = value.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TokenRequired("Send the API token as `Authorization: Bearer stk_...`.")
        record = await _bounded(self.tokens.lookup(token))
        if record is None:
            raise InvalidToken("The API token is unknown, revoked or expired.")
        if ADMIN_SCOPE not in record.scopes:
            raise InsufficientScope()
        return audit.api_token(record.id)

    async def _body(
        self, scope: Scope, receive: Receive, *, empty_ok: bool = False
    ) -> dict[str, object]:
        body = await read_body(scope, receive, timeout=self.body_timeout, limit=MAX_BODY)
        if not body and empty_ok:
            return {}
        if media_type(scope) != JSON_TYPE:
            raise UnsupportedMediaType("The admin API takes JSON bodies.")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequest("The body is not valid UTF-8.") from exc
        return parse_json_object(text)


def describe_event(event: AuditEvent) -> dict[str, object]:
    return {
        "id": event.id,
        "at": iso8601(event.at.timestamp()),
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "details": dict(event.details),
    }


async def _bounded(call: Awaitable[T]) -> T:
    """``call``, or a 503 when the database keeps it waiting past the deadline."""
    try:
        async with asyncio.timeout(DEADLINE):
            return await call
    except TimeoutError:
        raise StoreUnavailable("no answer within the deadline") from None


def _json(status: int, content: object) -> Reply:
    return Reply(status, render_json(content), NO_STORE_HEADERS)


def _param(scope: Scope, name: str) -> str:
    return str(scope["path_params"][name])


def _only(fields: dict[str, object], required: tuple[str, ...], optional: tuple[str, ...]) -> None:
    for name in required:
        if name not in fields:
            raise InvalidRequest(f"Missing field `{name}`.")
    for name in fields:
        if name not in required and name not in optional:
            shown = name if name.isidentifier() and len(name) <= 32 else "?"
            raise InvalidRequest(f"Unexpected field `{shown}`.")


_ETAG = re.compile(r'(?:W/)?"?([0-9]{1,9})"?')


def _version(field: object, if_match: str | None) -> int | None:
    """The version a PATCH read: the ``version`` field, else ``If-Match``; None: no check."""
    if field is not None:
        if isinstance(field, bool) or not isinstance(field, int) or field < 1:
            raise InvalidRequest("`version`: the client's version, a positive integer.")
        return field
    if if_match is None or if_match.strip() == "*":
        return None
    match = _ETAG.fullmatch(if_match.strip())
    if match is None:
        raise InvalidRequest('`If-Match`: the client\'s version, e.g. "3".')
    return int(match[1])


def _integer(value: str | None, name: str, low: int, high: int, default: int | None) -> int | None:
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise InvalidRequest(f"`{name}`: an integer from {low} to {high}.")
    return int(value)
