"""Endpoints: translate requests into calls on the core, and errors into responses."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import jwt
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from service.config import Settings, ShopConfig
from service.errors import (
    InvalidRequest,
    InvalidToken,
    LoginRequired,
    ServiceError,
    UnknownShop,
)
from service.http import JSON, NO_STORE, CORSPolicy, bearer_token, check_fields, read_fields
from service.keys import KeyRing
from service.metrics import Metrics
from service.ratelimit import RateLimiter
from service.signatures import (
    CustomerSigner,
    check_timestamp,
    parse_customer_id,
    parse_timestamp,
    verify_app_proxy,
)
from service.tokens import IssuedToken, TokenIssuer, TokenVerifier

JWKS_CACHE = "public, max-age=300"


@dataclass
class Shop:
    """A configured shop with its signer and CORS policy built once."""

    config: ShopConfig
    signer: CustomerSigner
    cors: CORSPolicy

    @classmethod
    def build(cls, config: ShopConfig) -> Shop:
        return cls(config, CustomerSigner(config.id_secrets), CORSPolicy(config.allowed_origins))


@dataclass
class Services:
    """Everything the endpoints need, built by :func:`service.app.create_app`."""

    settings: Settings
    keyring: KeyRing
    issuer: TokenIssuer
    verifier: TokenVerifier
    per_customer: RateLimiter
    per_ip: RateLimiter
    metrics: Metrics
    now: Callable[[], float] = time.time
    shops: dict[str, Shop] = field(default_factory=dict)

    @property
    def api_cors(self) -> CORSPolicy:
        """CORS for bearer-token calls: any configured shop's origins."""
        origins = {origin for shop in self.shops.values() for origin in shop.cors.allowed}
        return CORSPolicy(origins, methods="GET, OPTIONS", headers="Authorization")

    def shop(self, domain: str) -> Shop:
        shop = self.shops.get(domain)
        if shop is None:
            raise UnknownShop()
        return shop


def token_body(issued: IssuedToken) -> dict[str, object]:
    claims = issued.claims
    return {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": claims["exp"] - claims["iat"],
        "expires": claims["exp"],
        "identifier": "customer",
        "scope": claims["scope"],
        # Omneo's Shopify proxy answers `{token, expiry}`; storefront code written
        # for it works unchanged.
        "token": issued.token,
        "expiry": issued.expiry,
    }


class Endpoints:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.api_cors = services.api_cors

    async def customer_token(self, request: Request) -> Response:
        """POST /v1/shops/{shop}/customer-token"""
        services = self.services
        domain = request.path_params["shop"]
        request.state.shop = domain
        shop = services.shop(domain)
        cors = shop.cors.check(request)
        try:
            services.per_ip.hit(_client_ip(request))
            fields = await read_fields(request)
            check_fields(fields, required=("id", "signature"), optional=("ts",))
            customer_id = parse_customer_id(fields["id"])
            signature = fields["signature"]
            if not isinstance(signature, str):
                raise InvalidRequest("`signature` must be a string of hex digits.")
            ts = self._timestamp(shop.config, fields)
            shop.signer.verify(customer_id, signature, ts)
            if ts is not None:
                assert shop.config.signature_max_age is not None
                check_timestamp(ts, now=services.now(), max_age=shop.config.signature_max_age)
            issued = self._mint(shop, customer_id)
        except ServiceError as exc:
            exc.headers |= cors
            raise
        return JSON(token_body(issued), headers={**NO_STORE, **cors})

    async def app_proxy_token(self, request: Request) -> Response:
        """GET|POST /v1/app-proxy/customer-token, forwarded and signed by Shopify.

        No CORS and no per-IP limit: the caller is Shopify's proxy, on behalf of
        a same-origin storefront page. The request body, if any, is not read.
        """
        params = parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True)
        shops = [value for name, value in params if name == "shop"]
        shop = self.services.shops.get(shops[0]) if len(shops) == 1 else None
        if shop is None or shop.config.app_proxy_secret is None:
            raise UnknownShop("This shop is not configured for the App Proxy.")
        request.state.shop = shop.config.domain
        verify_app_proxy(params, shop.config.app_proxy_secret, now=self.services.now())
        customers = [value for name, value in params if name == "logged_in_customer_id"]
        if len(customers) != 1:
            raise InvalidRequest("Expected one `logged_in_customer_id`.")
        if not customers[0]:
            # Shopify sends the parameter empty for a guest.
            raise LoginRequired("Log in to get a customer token.")
        issued = self._mint(shop, parse_customer_id(customers[0]))
        return JSON(token_body(issued), headers=NO_STORE)

    def _mint(self, shop: Shop, customer_id: str) -> IssuedToken:
        # Counted only for a proven customer: a stranger cannot use up their budget.
        self.services.per_customer.hit((shop.config.domain, customer_id))
        return self.services.issuer.mint_customer(
            shop=shop.config.domain,
            customer_id=customer_id,
            audience=shop.config.audience,
            scope=shop.config.scope,
            ttl=shop.config.token_ttl,
        )

    async def customer_token_preflight(self, request: Request) -> Response:
        """OPTIONS /v1/shops/{shop}/customer-token (CORS preflight)"""
        domain = request.path_params["shop"]
        request.state.shop = domain
        return self.services.shop(domain).cors.preflight(request)

    @staticmethod
    def _timestamp(shop: ShopConfig, fields: dict[str, object]) -> int | None:
        if "ts" not in fields:
            if shop.require_timestamp:
                raise InvalidRequest("This shop requires a timestamped signature (`ts`).")
            return None
        if shop.signature_max_age is None:
            raise InvalidRequest("This shop does not use timestamped signatures; omit `ts`.")
        return parse_timestamp(fields["ts"])

    async def me(self, request: Request) -> Response:
        """GET /v1/me: the claims of a valid customer token, as a downstream API sees them."""
        cors = self.api_cors.check(request)
        try:
            token = bearer_token(request)
            try:
                unverified = jwt.decode(token, options={"verify_signature": False})
            except jwt.InvalidTokenError as exc:
                raise InvalidToken("The token is malformed.") from exc
            shop = self.services.shops.get(str(unverified.get("shop")))
            if shop is None:
                raise InvalidToken()
            request.state.shop = shop.config.domain
            # Verified in full: signature, kind, issuer, and this shop's audience.
            claims = self.services.verifier.verify_customer(token, audience=shop.config.audience)
        except ServiceError as exc:
            exc.headers |= cors
            raise
        return JSON(dict(claims), headers={**NO_STORE, **cors})

    async def me_preflight(self, request: Request) -> Response:
        return self.api_cors.preflight(request)

    async def jwks(self, request: Request) -> Response:
        """GET /.well-known/jwks.json"""
        return JSON(self.services.keyring.jwks(), headers={"Cache-Control": JWKS_CACHE})

    async def healthz(self, request: Request) -> Response:
        return JSON({"status": "ok"}, headers={"Cache-Control": "no-store"})

    async def metrics(self, request: Request) -> Response:
        """GET /metrics: Prometheus text format."""
        return PlainTextResponse(
            self.services.metrics.render(),
            media_type="text/plain; version=0.0.4",
            headers={"Cache-Control": "no-store"},
        )

    async def readyz(self, request: Request) -> Response:
        # A process without a signing key never starts, and the in-memory state
        # has nothing that can be down: once serving, this process is ready.
        return JSON({"status": "ok"}, headers={"Cache-Control": "no-store"})


def _client_ip(request: Request) -> str:
    # The ASGI client address; behind a proxy, uvicorn's --proxy-headers with
    # --forwarded-allow-ips sets it from X-Forwarded-For sent by trusted hops only.
    return request.client.host if request.client else "unknown"
