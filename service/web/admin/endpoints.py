"""``/admin``: the API-token dashboard (server-rendered, no JavaScript but the copy button).

Only mounted when ``admin_password_hash`` is set. Its session cookie (Starlette's
``SessionMiddleware``, signed with itsdangerous) is scoped to ``/admin``,
``HttpOnly``, ``SameSite=Strict``, ``Secure`` unless the issuer is plain-HTTP
localhost, and lasts at most 12 hours; logout ends it server-side too
(:mod:`service.store.sessions`). Every POST carries a CSRF token. Every action
is logged with who, what and the token id, never the token.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from service.admin.accounts import CONFIG_ADMIN, NAME
from service.admin.audit import administrator
from service.admin.audit import event as audit_event
from service.errors import NotFound, ServiceError
from service.observability.logs import log
from service.store.sessions import LIFETIME, AdminSessions
from service.store.stk import ApiToken, is_id, utc
from service.support.clock import iso8601
from service.web.admin.auth import (
    PasswordCheck,
    SignInRequired,
    check_csrf,
    csrf_token,
    new_form_nonce,
)
from service.web.admin.forms import EXPIRY_CHOICES, NewToken, read_form, single
from service.web.admin.headers import AdminHeaders
from service.web.admin.pages import RuntimePages, when
from service.web.http import client_ip, error_response
from service.wiring import Components

HERE = Path(__file__).parent
COOKIE = "shapestoken_admin"
#: Fixed messages for ?notice=…, so nothing from the URL is ever shown.
NOTICES = {
    "revoked": "The token is revoked. Integrations using it are refused everywhere within {reach}.",
    "shown_once": "That token was already created and shown; it is in the list below.",
    "signed_out": "You are signed out.",
}


class AdminEndpoints:
    def __init__(self, components: Components) -> None:
        store = components.settings.store
        assert store.admin_password_hash is not None and store.session_secret is not None
        assert components.token_store is not None and components.admin_sessions is not None
        self.components = components
        self.body_timeout = components.settings.body_timeout
        self.tokens = components.token_store
        self.sessions: AdminSessions = components.admin_sessions
        self.password = PasswordCheck(store.admin_password_hash)
        self.session_secret = store.session_secret
        self.templates = Jinja2Templates(directory=HERE / "templates")
        self.templates.env.filters["time"] = _time
        self.templates.env.filters["when"] = when
        self.templates.env.filters["words"] = _words
        self.templates.env.filters["json"] = _json
        assert components.admin is not None  # a dashboard needs a database
        self.admin = components.admin
        self.keyring = components.keyring
        self.pages = RuntimePages(self)

    def routes(self) -> list[BaseRoute]:
        issuer = self.components.settings.issuer
        session = Middleware(
            SessionMiddleware,
            secret_key=self.session_secret.reveal().decode(),
            session_cookie=COOKIE,
            max_age=LIFETIME,
            path="/admin",
            same_site="strict",
            # The issuer is https:// except for a localhost development server.
            https_only=issuer.startswith("https://"),
        )
        return [
            # The address people type and the docs print; the dashboard lives under it.
            Route("/admin", self.to_index, methods=["GET"]),
            Mount(
                "/admin",
                routes=[
                    Route("/", self.index, methods=["GET"], name="admin"),
                    Route("/login", self.login_form, methods=["GET"]),
                    Route("/login", self.login, methods=["POST"]),
                    Route("/logout", self.logout, methods=["POST"]),
                    Route("/tokens/new", self.new_token_form, methods=["GET"]),
                    Route("/tokens/new", self.create_token, methods=["POST"]),
                    Route("/tokens/{id}/revoke", self.revoke_form, methods=["GET"]),
                    Route("/tokens/{id}/revoke", self.revoke, methods=["POST"]),
                    *self.pages.routes(),
                    Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
                ],
                middleware=[Middleware(AdminHeaders), session],
            ),
        ]

    # -- pages ---------------------------------------------------------------------------

    async def to_index(self, request: Request) -> Response:
        """GET /admin: to /admin/, relative, so no URL is built from the Host header."""
        return RedirectResponse("/admin/", status_code=307)

    async def index(self, request: Request) -> Response:
        """GET /admin/: the token list."""
        try:
            if await self._signed_in(request) is None:
                return _redirect("/admin/login")
            tokens = await self.tokens.list(include_inactive=True)
        except ServiceError as exc:
            return self._error(request, exc)
        now = utc(self.components.now())
        notice = NOTICES.get(request.query_params.get("notice", ""), "").format(reach=self._reach())
        rows = [(token, token.status(now)) for token in tokens]
        return self._page(request, "list.html", {"rows": rows, "notice": notice})

    async def login_form(self, request: Request) -> Response:
        """GET /admin/login"""
        try:
            if await self._signed_in(request) is not None:
                return _redirect("/admin/")
        except ServiceError as exc:
            return self._error(request, exc)
        notice = NOTICES.get(request.query_params.get("notice", ""), "").format(reach=self._reach())
        return self._page(request, "login.html", {"notice": notice})

    async def login(self, request: Request) -> Response:
        """POST /admin/login: 10 attempts a minute per address, then 429."""
        ip = client_ip(request.scope)
        try:
            await self.components.state.hit("admin_login", ip)
            form = await read_form(request, timeout=self.body_timeout)
            check_csrf(request.session, form)
            name = (form.get("name") or [""])[0].strip() or CONFIG_ADMIN
            if not await self._check_password(name, single(form, "password")):
                _audit("login_failed", request)
                shown = name if NAME.fullmatch(name) else "?"
                await self.audit("admin.sign_in_failed", administrator(shown), shown, {"ip": ip})
                return self._page(
                    request,
                    "login.html",
                    {"error": "Wrong name or password.", "name": shown},
                    status_code=422,
                )
            session_id = await self.sessions.start()
            await self.audit("admin.sign_in", administrator(name), name, {"ip": ip})
        except ServiceError as exc:
            return self._error(request, exc)
        # A new session and CSRF token at sign-in: nothing chosen before it carries over.
        request.session.clear()
        request.session["sid"] = session_id
        request.session["admin"] = name
        csrf_token(request.session)
        _audit("login", request, session=AdminSessions.reference(session_id), admin=name)
        return _redirect("/admin/")

    async def logout(self, request: Request) -> Response:
        """POST /admin/logout: ends the session here and in the database."""
        try:
            form = await read_form(request, timeout=self.body_timeout)
            check_csrf(request.session, form)
            session_id = await self._signed_in(request)
            if session_id is not None:
                await self.sessions.end(session_id)
                _audit("logout", request, session=AdminSessions.reference(session_id))
        except ServiceError as exc:
            return self._error(request, exc)
        request.session.clear()
        return _redirect("/admin/login?notice=signed_out")

    async def new_token_form(self, request: Request) -> Response:
        """GET /admin/tokens/new"""
        try:
            if await self._signed_in(request) is None:
                return _redirect("/admin/login")
        except ServiceError as exc:
            return self._error(request, exc)
        return self._new_token_page(request, NewToken())

    async def create_token(self, request: Request) -> Response:
        """POST /admin/tokens/new: shows the token once, on this response only."""
        try:
            form = await read_form(request, timeout=self.body_timeout)
            session_id = await self._require_session(request, form)
            if single(form, "form") != request.session.get("form"):
                # The same form again (a reload of this response): never a second token.
                return _redirect("/admin/?notice=shown_once")
            values = NewToken.parse(form, self.tokens.scopes)
            if values.errors:
                return self._new_token_page(request, values, status_code=422)
            actor = self._actor(request)
            record, token = await self.tokens.create(
                name=values.name,
                scopes=values.scopes,
                expires_in=values.expires_in,
                created_by=actor,
            )
            assert self.components.admin is not None
            await self.components.admin.tokens.record_created(record, actor)
        except ServiceError as exc:
            return self._error(request, exc)
        del request.session["form"]
        _audit(
            "token_created",
            request,
            session=AdminSessions.reference(session_id),
            token_id=record.id,
            scopes=" ".join(record.scopes),
        )
        return self._page(request, "created.html", {"token": token, "record": record})

    async def revoke_form(self, request: Request) -> Response:
        """GET /admin/tokens/{id}/revoke: the confirmation."""
        try:
            if await self._signed_in(request) is None:
                return _redirect("/admin/login")
            record = await self._token(request)
        except ServiceError as exc:
            return self._error(request, exc)
        return self._page(request, "revoke.html", {"record": record, "reach": self._reach()})

    async def revoke(self, request: Request) -> Response:
        """POST /admin/tokens/{id}/revoke"""
        try:
            form = await read_form(request, timeout=self.body_timeout)
            session_id = await self._require_session(request, form)
            record = await self._token(request)
            actor = self._actor(request)
            await self.tokens.revoke(record.id, by=actor)
            await self.audit("token.revoke", actor, record.id, {})
        except ServiceError as exc:
            return self._error(request, exc)
        _audit(
            "token_revoked",
            request,
            session=AdminSessions.reference(session_id),
            token_id=record.id,
        )
        return _redirect("/admin/?notice=revoked")

    # -- what the runtime pages use (service.web.admin.pages.Kit) ------------------------

    def now(self) -> float:
        return self.components.now()

    async def signed_in(self, request: Request) -> str | None:
        return await self._signed_in(request)

    async def require_session(self, request: Request, form: dict[str, list[str]]) -> str:
        return await self._require_session(request, form)

    def page(
        self, request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
    ) -> Response:
        return self._page(request, name, context, status_code=status_code)

    def error(self, request: Request, exc: ServiceError) -> Response:
        return self._error(request, exc)

    def actor(self, request: Request) -> str:
        return self._actor(request)

    # -- helpers -------------------------------------------------------------------------

    def _reach(self) -> str:
        """How soon a revocation here holds in every server process (Redis announces it)."""
        return f"{self.tokens.reach:g} seconds"

    async def _check_password(self, name: str, password: str) -> bool:
        """The config's admin (an empty name), or a named administrator from the database."""
        if name == CONFIG_ADMIN:
            return await self.password.verify(password)
        found = None
        if NAME.fullmatch(name) and self.components.admin is not None:
            found = await self.components.admin.accounts.admins.password_hash(name)
        if found is None:
            return await self.password.refuse(password)
        return await self.password.verify(password, found)

    async def audit(self, action: str, actor: str, target: str, details: dict[str, object]) -> None:
        """The act in the audit trail (never a password or a token)."""
        if self.components.admin is not None:
            event = audit_event(self.components.now, actor, action, target, details)
            await self.components.admin.audit.record(event)

    def _actor(self, request: Request) -> str:
        name = request.session.get("admin")
        return administrator(name if isinstance(name, str) else CONFIG_ADMIN)

    async def _signed_in(self, request: Request) -> str | None:
        """The session id when the cookie's session is still open, else None."""
        session_id = request.session.get("sid")
        if isinstance(session_id, str) and await self.sessions.active(session_id):
            name = request.session.get("admin", CONFIG_ADMIN)
            if name == CONFIG_ADMIN or (
                self.components.admin is not None
                and isinstance(name, str)
                and await self.components.admin.accounts.admins.password_hash(name) is not None
            ):
                return session_id  # a removed administrator's session ends here
        if session_id is not None:
            request.session.clear()  # ended (logout) or expired: forget it
        return None

    async def _require_session(self, request: Request, form: dict[str, list[str]]) -> str:
        check_csrf(request.session, form)
        session_id = await self._signed_in(request)
        if session_id is None:
            raise SignInRequired()
        return session_id

    async def _token(self, request: Request) -> ApiToken:
        token_id = request.path_params["id"]
        record = await self.tokens.get(token_id) if is_id(token_id) else None
        if record is None:
            raise NotFound("There is no such token.")
        return record

    def _new_token_page(
        self, request: Request, values: NewToken, *, status_code: int = 200
    ) -> Response:
        context = {
            "values": values,
            "scopes": self.tokens.scopes,
            "expiry_choices": EXPIRY_CHOICES,
            "form_nonce": new_form_nonce(request.session),
        }
        return self._page(request, "new.html", context, status_code=status_code)

    def _page(
        self,
        request: Request,
        name: str,
        context: dict[str, Any],
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        context = {
            **context,
            "csrf": csrf_token(request.session),
            "signed_in": "sid" in request.session,
            "who": request.session.get("admin", CONFIG_ADMIN),
            "section": request.url.path.removeprefix("/admin/").split("/")[0] or "tokens",
        }
        return self.templates.TemplateResponse(
            request, name, context, status_code=status_code, headers=headers
        )

    def _error(self, request: Request, exc: ServiceError) -> Response:
        """The error as a page for a browser, as JSON for a script."""
        accept = request.headers.get("accept", "")
        if "text/html" not in accept and "application/json" in accept:
            return error_response(exc)
        return self._page(
            request,
            "error.html",
            {"error": exc},
            status_code=exc.status_code,
            headers=exc.headers,
        )


def _time(value: datetime | None) -> str:
    """``2026-11-24 10:15 UTC``: to the minute, as people read a list."""
    if value is None:
        return "never"
    return iso8601(value.timestamp())[:16].replace("T", " ") + " UTC"


def _words(value: object) -> str:
    """A list as the space-separated words a form field shows; text as it is."""
    if isinstance(value, list | tuple):
        return " ".join(str(item) for item in value)
    return "" if value is None else str(value)


def _json(value: object) -> str:
    """An audit event's details, compact (Jinja2 escapes it for the page)."""
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


def _redirect(url: str) -> Response:
    # 303: after a POST the browser follows with a GET.
    return RedirectResponse(url, status_code=303)


def _audit(action: str, request: Request, **fields: str) -> None:
    """One log line per admin action: who (the admin's session, address), what, which token."""
    log.info(
        "admin",
        extra={
            "fields": {
                "action": action,
                "who": "admin",
                "ip": client_ip(request.scope),
                **fields,
            }
        },
    )
