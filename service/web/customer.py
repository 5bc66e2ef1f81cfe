"""Customer tokens over HTTP: the signed and App Proxy mints, and ``/v1/me``.

Each endpoint turns a request into calls on :class:`~service.customers.CustomerTokens`
and the shared state, and errors into JSON; the rules themselves live there.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope

from service.errors import InvalidToken, LoginRequired, ServiceError
from service.services import Services
from service.tokens import IssuedToken
from service.web.http import (
    JSON,
    NO_STORE,
    CORSPolicy,
    bearer_token,
    check_fields,
    client_ip,
    read_fields,
)
from service.web.lean import (
    NO_STORE_HEADERS,
    LeanEndpoint,
    Reply,
    header,
    raw_headers,
    render_json,
    request_state,
)


def token_body(issued: IssuedToken) -> dict[str, object]:
    """The token response of every grant (RFC 6749 §5.1, plus Omneo's names)."""
    claims = issued.claims
    return {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": claims["exp"] - claims["iat"],
        "expires": claims["exp"],
        "identifier": claims["token_use"],
        "scope": claims["scope"],
        # Omneo's Shopify proxy answers `{token, expiry}`; storefront code written
        # for it works unchanged.
        "token": issued.token,
        "expiry": issued.expiry,
    }


def token_reply(issued: IssuedToken, cors: dict[str, str] | None = None) -> Reply:
    """200 with the token body, never cached (RFC 6749 §5.1), readable by ``cors``."""
    headers = NO_STORE_HEADERS if cors is None else NO_STORE_HEADERS + raw_headers(cors)
    return Reply(200, render_json(token_body(issued)), headers)


class CustomerEndpoints:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.customers = services.customers
        self.cors = {
            domain: CORSPolicy(shop.config.allowed_origins)
            for domain, shop in self.customers.shops.items()
        }
        # Bearer-token calls come from any configured shop's pages.
        self.api_cors = CORSPolicy(
            {origin for policy in self.cors.values() for origin in policy.allowed},
            methods="GET, OPTIONS",
            headers="Authorization",
        )

    def routes(self) -> list[BaseRoute]:
        return [
            Route(
                "/v1/shops/{shop}/customer-token",
                LeanEndpoint(self.customer_token),
                methods=["POST"],
            ),
            Route("/v1/shops/{shop}/customer-token", self.preflight, methods=["OPTIONS"]),
            Route(
                "/v1/app-proxy/customer-token",
                LeanEndpoint(self.app_proxy_token),
                methods=["GET", "POST"],
            ),
            Route("/v1/me", self.me, methods=["GET"]),
            Route("/v1/me", self.me_preflight, methods=["OPTIONS"]),
        ]

    async def customer_token(self, scope: Scope, receive: Receive) -> Reply:
        """POST /v1/shops/{shop}/customer-token"""
        domain = scope["path_params"]["shop"]
        request_state(scope)["shop"] = domain
        shop = self.customers.shop(domain)
        cors = self.cors[domain].check(header(scope, b"origin"))
        state = self.services.state
        ip = client_ip(scope)
        try:
            try:
                # Before the body: an App-Proxy-only shop refuses whatever it says.
                self.customers.check_signed_ids(shop)
                fields = await read_fields(scope, receive)
                check_fields(fields, required=("id", "signature"), optional=("ts",))
                customer_id = self.customers.prove_signature(shop, fields)
            except ServiceError:
                # A refused request counts against its address too (its only state call).
                await state.hit("per_ip", ip)
                raise
            await state.check(self.customers.mint_checks(shop, customer_id, ip=ip))
            issued = self.customers.mint(shop, customer_id)
        except ServiceError as exc:
            exc.headers |= cors
            raise
        return token_reply(issued, cors)

    async def preflight(self, request: Request) -> Response:
        """OPTIONS /v1/shops/{shop}/customer-token (CORS preflight)"""
        domain = request.path_params["shop"]
        request.state.shop = domain
        self.customers.shop(domain)
        return self.cors[domain].preflight(request.scope)

    async def app_proxy_token(self, scope: Scope, receive: Receive) -> Reply:
        """GET|POST /v1/app-proxy/customer-token, forwarded and signed by Shopify.

        No CORS, and no per-IP limit on success: the caller is Shopify's proxy, on
        behalf of every customer of a same-origin storefront. Failures count per IP,
        so nobody can probe from one address. The request body is not read.
        """
        params = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        try:
            shop, customer_id, signature = self.customers.prove_app_proxy(params)
        except LoginRequired:
            raise  # a genuine request for a guest, not a probe
        except ServiceError:
            await self.services.state.hit("per_ip", client_ip(scope))
            raise
        request_state(scope)["shop"] = shop.domain
        checks = self.customers.mint_checks(shop, customer_id, ip=None, proof=signature)
        await self.services.state.check(checks)
        issued = self.customers.mint(shop, customer_id)
        return token_reply(issued)

    async def me(self, request: Request) -> Response:
        """GET /v1/me: the claims of a valid customer token, as a downstream API sees them."""
        cors = self.api_cors.check(request.headers.get("origin"))
        try:
            claims = self.customers.verify(bearer_token(request.scope))
            request.state.shop = claims["shop"]
            active = await self.services.state.token_active(
                claims["jti"], issued_at=claims["iat"], customer=(claims["shop"], claims["sub"])
            )
            if not active:
                raise InvalidToken("The token has been revoked.")
        except ServiceError as exc:
            exc.headers |= cors
            raise
        return JSON(dict(claims), headers={**NO_STORE, **cors})

    async def me_preflight(self, request: Request) -> Response:
        return self.api_cors.preflight(request.scope)
