"""The dashboard's runtime pages: Clients, Blocked customers, Keys, Activity.

Same rules as the token pages: server-rendered, a CSRF token on every POST, no
JavaScript needed but the copy button, a secret shown once on the one response
that made it. The rules themselves are in :mod:`service.admin`; these pages
turn forms into its calls and its refusals into the form again, with the
message by the field.
"""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from service.admin import audit
from service.admin.clients import MAX_KEEP_PREVIOUS
from service.admin.errors import ClientExists, InvalidClientMetadata, VersionConflict
from service.admin.keys import key_states
from service.admin.services import Administration
from service.errors import ServiceError
from service.signing.keys import KeyRing
from service.store.audit import MAX_PAGE
from service.support.clock import iso8601
from service.web.admin.auth import new_form_nonce
from service.web.admin.forms import read_form, single

#: Fixed messages for ?notice=…, so nothing from the URL is ever shown.
NOTICES = {
    "client_created": "The client is added. Every replica takes it within 2 seconds.",
    "client_saved": "Saved. Every replica applies it within 2 seconds.",
    "client_disabled": "Disabled: its token requests are refused and its tokens are inactive.",
    "client_enabled": "Enabled: it may get tokens again (its earlier tokens stay inactive).",
    "client_deleted": "The client is deleted; its tokens are inactive.",
    "blocked": "The customer is blocked on every replica.",
    "unblocked": "The block is lifted; tokens issued before it stay inactive.",
    "shown_once": "That was already done and shown; it is in the list below.",
}
#: What the rotation form offers for the previous secret.
KEEP_CHOICES = {0: "Stop at once", 3600: "1 hour", 86400: "1 day", MAX_KEEP_PREVIOUS: "7 days"}
ACTIVITY_PAGE = 50


class Kit(Protocol):
    """What these pages use of the dashboard: sessions, pages, errors, the actor."""

    admin: Administration
    keyring: KeyRing
    body_timeout: int

    def now(self) -> float: ...

    async def signed_in(self, request: Request) -> str | None: ...

    async def require_session(self, request: Request, form: dict[str, list[str]]) -> str: ...

    def page(
        self, request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
    ) -> Response: ...

    def error(self, request: Request, exc: ServiceError) -> Response: ...

    def actor(self, request: Request) -> str: ...


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def _words(text: str) -> list[str]:
    return text.split()


def client_fields(form: dict[str, list[str]], *, creating: bool) -> dict[str, object]:
    """The client form as the admin API's fields (the rules check them, not this)."""
    fields: dict[str, object] = {"scopes": _words(single(form, "scopes"))}
    audiences = _words(single(form, "audiences"))
    if audiences:
        fields["audiences"] = audiences
    fields["allowed_origins"] = _words(single(form, "allowed_origins"))
    ttl = single(form, "token_ttl").strip()
    if ttl:
        fields["token_ttl"] = int(ttl) if ttl.isascii() and ttl.isdigit() else ttl
    fields["introspect"] = single(form, "introspect") == "on"
    if creating:
        fields["client_id"] = single(form, "client_id").strip()
        fields["type"] = single(form, "type") or "confidential"
    return fields


class RuntimePages:
    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        self.admin = kit.admin

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/clients", self.clients, methods=["GET"]),
            Route("/clients/new", self.new_client_form, methods=["GET"]),
            Route("/clients/new", self.create_client, methods=["POST"]),
            Route("/clients/{client_id}", self.client, methods=["GET"]),
            Route("/clients/{client_id}", self.update_client, methods=["POST"]),
            Route("/clients/{client_id}/secret", self.rotate, methods=["POST"]),
            Route("/clients/{client_id}/disabled", self.set_disabled, methods=["POST"]),
            Route("/clients/{client_id}/delete", self.delete_form, methods=["GET"]),
            Route("/clients/{client_id}/delete", self.delete, methods=["POST"]),
            Route("/blocks", self.blocks, methods=["GET"]),
            Route("/blocks", self.block, methods=["POST"]),
            Route("/blocks/{shop}/{customer_id}/unblock", self.unblock, methods=["POST"]),
            Route("/keys", self.keys, methods=["GET"]),
            Route("/activity", self.activity, methods=["GET"]),
        ]

    # -- clients -------------------------------------------------------------------------

    async def clients(self, request: Request) -> Response:
        """GET /admin/clients"""
        try:
            if await self.kit.signed_in(request) is None:
                return _redirect("/admin/login")
            clients = await self.admin.clients.list()
        except ServiceError as exc:
            return self.kit.error(request, exc)
        notice = NOTICES.get(request.query_params.get("notice", ""))
        return self.kit.page(request, "clients.html", {"clients": clients, "notice": notice})

    async def new_client_form(self, request: Request) -> Response:
        """GET /admin/clients/new"""
        try:
            if await self.kit.signed_in(request) is None:
                return _redirect("/admin/login")
        except ServiceError as exc:
            return self.kit.error(request, exc)
        return self._client_form(request, {"type": "confidential"}, None)

    async def create_client(self, request: Request) -> Response:
        """POST /admin/clients/new: a confidential client's secret is on this response only."""
        try:
            form = await read_form(request, timeout=self.kit.body_timeout)
            await self.kit.require_session(request, form)
            if single(form, "form") != request.session.get("form"):
                return _redirect("/admin/clients?notice=shown_once")
            fields = client_fields(form, creating=True)
            try:
                client, secret = await self.admin.clients.create(fields, self.kit.actor(request))
            except (InvalidClientMetadata, ClientExists) as exc:
                return self._client_form(request, _shown(form), exc, status_code=422)
        except ServiceError as exc:
            return self.kit.error(request, exc)
        del request.session["form"]
        if secret is None:
            return _redirect("/admin/clients?notice=client_created")
        return self.kit.page(request, "secret.html", {"client": client, "secret": secret})

    async def client(self, request: Request) -> Response:
        """GET /admin/clients/{client_id}: the edit form (config clients: read-only)."""
        try:
            if await self.kit.signed_in(request) is None:
                return _redirect("/admin/login")
            client = await self.admin.clients.get(request.path_params["client_id"])
        except ServiceError as exc:
            return self.kit.error(request, exc)
        notice = NOTICES.get(request.query_params.get("notice", ""))
        return self._edit_page(request, client, None, notice=notice)

    async def update_client(self, request: Request) -> Response:
        """POST /admin/clients/{client_id}: save, guarded by the version the form was read at."""
        client_id = request.path_params["client_id"]
        try:
            form = await read_form(request, timeout=self.kit.body_timeout)
            await self.kit.require_session(request, form)
            version = single(form, "version")
            fields = client_fields(form, creating=False)
            try:
                await self.admin.clients.update(
                    client_id,
                    fields,
                    self.kit.actor(request),
                    version=int(version) if version.isascii() and version.isdigit() else None,
                )
            except (InvalidClientMetadata, VersionConflict) as exc:
                current = await self.admin.clients.get(client_id)
                return self._edit_page(request, {**current, **_shown(form)}, exc, status_code=422)
        except ServiceError as exc:
            return self.kit.error(request, exc)
        return _redirect(f"/admin/clients/{client_id}?notice=client_saved")

    async def rotate(self, request: Request) -> Response:
        """POST /admin/clients/{client_id}/secret: the new secret, shown once."""
        client_id = request.path_params["client_id"]
        try:
            form = await read_form(request, timeout=self.kit.body_timeout)
            await self.kit.require_session(request, form)
            keep = single(form, "keep_previous_seconds")
            fields = {"keep_previous_seconds": int(keep) if keep.isdigit() else keep}
            secret = await self.admin.clients.rotate(client_id, fields, self.kit.actor(request))
            client = await self.admin.clients.get(client_id)
        except ServiceError as exc:
            return self.kit.error(request, exc)
        context = {"client": client, "secret": secret, "rotated": True}
        return self.kit.page(request, "secret.html", context)

    async def set_disabled(self, request: Request) -> Response:
        """POST /admin/clients/{client_id}/disabled"""
        client_id = request.path_params["client_id"]
        try:
            form = await read_form(request, timeout=self.kit.body_timeout)
            await self.kit.require_session(request, form)
            disabled = single(form, "disabled") == "true"
            await self.admin.clients.update(
                client_id, {"disabled": disabled}, self.kit.actor(request), version=None
            )
        except ServiceError as exc:
            return self.kit.error(request, exc)
        notice = "client_disabled" if disabled else "client_enabled"
        return _redirect(f"/admin/clients/{client_id}?notice={notice}")

    async def delete_form(self, request: Request) -> Response:
        """GET /admin/clients/{client_id}/delete: the confirmation."""
        try:
            if await self.kit.signed_in(request) is None:
                return _redirect("/admin/login")
            client = await self.admin.clients.get(request.path_params["client_id"])
        except ServiceError as exc:
            return self.kit.error(request, exc)
        return self.kit.page(request, "client_delete.html", {"client": client})

    async def delete(self, request: Request) -> Response:
        """POST /admin/clients/{client_id}/delete"""
        try:
            form = await read_form(request, timeout=self.kit.body_timeout)
            await self.kit.require_session(request, form)
            await self.admin.clients.delete(
                request.path_params["client_id"], self.kit.actor(request)
            )
        except ServiceError as exc:
            return self.kit.error(request, exc)
        return _redirect("/admin/clients?notice=client_deleted")

    def _client_form(
        self,
        request: Request,
        values: dict[str, object],
        error: ServiceError | None,
        *,
        status_code: int = 200,
    ) -> Response:
        context = {
            "values": values,
            "error": error,
            "form_nonce": new_form_nonce(request.session),
        }
        return self.kit.page(request, "client_new.html", context, status_code=status_code)

    def _edit_page(
        self,
        request: Request,
        client: dict[str, object],
        error: ServiceError | None,
        *,
        notice: str | None = None,
        status_code: int = 200,
    ) -> Response:
        context = {
            "client": client,
            "error": error,
            "notice": notice,
            "keep_choices": KEEP_CHOICES,
        }
        return self.kit.page(request, "client.html", context, status_code=status_code)

    # -- blocks --------------------------------------------------------------------------

    async def blocks(self, request: Request) -> Response:
        """GET /admin/blocks"""
        try:
            if await self.kit.signed_in(request) is None:
                return _redirect("/admin/login")
            shared = self.admin.blocks.shared
            blocks = await self.admin.blocks.list() if shared else []
        except ServiceError as exc:
            return self.kit.error(request, exc)
        context = {
            "blocks": blocks,
            "shared": shared,
            "shops": sorted(self.admin.blocks.shops),
            "notice": NOTICES.get(request.query_params.get("notice", "")),
        }
        return self.kit.page(request, "blocks.html", context)

    async def block(self, request: Request) -> Response:
        """POST /admin/blocks"""
        try:
            form = await read_form(request, timeout=self.kit.body_timeout)
            await self.kit.require_session(request, form)
            await self.admin.blocks.block(
                single(form, "shop"),
                single(form, "customer_id").strip(),
                single(form, "reason"),
                self.kit.actor(request),
            )
        except ServiceError as exc:
            return self.kit.error(request, exc)
        return _redirect("/admin/blocks?notice=blocked")

    async def unblock(self, request: Request) -> Response:
        """POST /admin/blocks/{shop}/{customer_id}/unblock"""
        try:
            form = await read_form(request, timeout=self.kit.body_timeout)
            await self.kit.require_session(request, form)
            await self.admin.blocks.unblock(
                request.path_params["shop"],
                request.path_params["customer_id"],
                self.kit.actor(request),
            )
        except ServiceError as exc:
            return self.kit.error(request, exc)
        return _redirect("/admin/blocks?notice=unblocked")

    # -- keys and activity ---------------------------------------------------------------

    async def keys(self, request: Request) -> Response:
        """GET /admin/keys: read-only."""
        try:
            if await self.kit.signed_in(request) is None:
                return _redirect("/admin/login")
        except ServiceError as exc:
            return self.kit.error(request, exc)
        states = key_states(self.kit.keyring, self.kit.now())
        return self.kit.page(request, "keys.html", {"keys": states})

    async def activity(self, request: Request) -> Response:
        """GET /admin/activity?action=&before=: the audit trail, newest first."""
        try:
            if await self.kit.signed_in(request) is None:
                return _redirect("/admin/login")
            action = request.query_params.get("action") or None
            if action not in audit.ACTIONS:
                action = None
            before_text = request.query_params.get("before", "")
            before = int(before_text) if before_text.isascii() and before_text.isdigit() else None
            if before is not None and not 0 < before < 2**62:
                before = None
            events = await self.admin.audit.page(
                limit=min(ACTIVITY_PAGE, MAX_PAGE), before=before, action=action
            )
        except ServiceError as exc:
            return self.kit.error(request, exc)
        context = {
            "events": events,
            "actions": audit.ACTIONS,
            "action": action,
            "older": events[-1].id if len(events) == ACTIVITY_PAGE else None,
        }
        return self.kit.page(request, "activity.html", context)


def _shown(form: dict[str, list[str]]) -> dict[str, object]:
    """What was typed, to fill the form again."""
    return {
        name: single(form, name)
        for name in (
            "client_id",
            "type",
            "scopes",
            "audiences",
            "allowed_origins",
            "token_ttl",
            "introspect",
        )
        if name in form
    }


def when(epoch: float | None) -> str:
    """``2026-11-24 10:15 UTC`` (to the minute), or "—"."""
    if epoch is None:
        return "—"
    return iso8601(epoch)[:16].replace("T", " ") + " UTC"
