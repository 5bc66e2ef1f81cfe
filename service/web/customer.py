"""Customer tokens over HTTP: the signed and App Proxy mints, and ``/v1/me``.

Each endpoint turns a request into calls on :class:`~service.customers.rules.CustomerTokens`
and the shared state, and errors into JSON; the rules themselves live there.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope

from service.config.values import DPoPMode
from service.errors import (
    InvalidDPoPProof,
    InvalidToken,
    LoginRequired,
    ReplayedProof,
    ServiceError,
)
from service.signing.dpop import DPoP, Proof
from service.signing.tokens import IssuedToken, bound_key
from service.state import Checks, State
from service.web.http import (
    NO_STORE_HEADERS,
    CORSPolicy,
    Endpoint,
    Reply,
    access_token,
    check_fields,
    client_ip,
    header,
    header_values,
    read_fields,
    render_json,
    request_state,
)
from service.wiring import Components

#: RFC 9449 §11.1: a proof is accepted once.
REPLAYED = "This DPoP proof was used before; sign a new one for each request."


def token_body(issued: IssuedToken) -> dict[str, object]:
    """The token response of every grant (RFC 6749 §5.1, plus Omneo's names)."""
    claims = issued.claims
    return {
        "access_token": issued.token,
        # RFC 9449 §5: a bound token's type is DPoP.
        "token_type": "DPoP" if "cnf" in claims else "Bearer",
        "expires_in": claims["exp"] - claims["iat"],
        "expires": claims["exp"],
        "identifier": claims["token_use"],
        "scope": claims["scope"],
        # Omneo's Shopify proxy answers `{token, expiry}`; storefront code written
        # for it works unchanged.
        "token": issued.token,
        "expiry": issued.expiry,
    }


async def check_proof_once(state: State, checks: Checks) -> None:
    """``state.check(checks)``, where a second use of the DPoP proof in ``first_use`` is
    ``invalid_dpop_proof`` (RFC 9449 §11.1), not a replayed signature."""
    try:
        await state.check(checks)
    except ReplayedProof as exc:
        raise InvalidDPoPProof(REPLAYED) from exc


def token_request_proof(dpop: DPoP, mode: DPoPMode, scope: Scope, who: str) -> Proof | None:
    """The checked DPoP proof of a token request (RFC 9449 §5), or None for a bearer token.

    ``mode`` is the shop's or client's setting, ``who`` names it in errors. With
    DPoP off, the common case, the request's headers are not even read.
    """
    if mode == "off":
        return None
    proofs = header_values(scope, b"dpop")
    return dpop.token_request(mode, proofs, method="POST", path=scope["path"], who=who)


def token_reply(issued: IssuedToken, *, readable: bool = True) -> Reply:
    """200 with the token body, never cached (RFC 6749 §5.1)."""
    return Reply(200, render_json(token_body(issued)), NO_STORE_HEADERS, readable)


class CustomerEndpoints:
    def __init__(self, components: Components) -> None:
        self.components = components
        self.customers = components.customers
        self.body_timeout = components.settings.body_timeout
        self.cors = {
            domain: CORSPolicy(shop.config.allowed_origins)
            for domain, shop in self.customers.shops.items()
        }
        # Bearer-token calls come from any configured shop's pages.
        self.api_cors = CORSPolicy(
            {origin for policy in self.cors.values() for origin in policy.allowed},
            methods="GET, OPTIONS",
            headers="Authorization, DPoP",
        )
        self.dpop = components.dpop

    def routes(self) -> list[BaseRoute]:
        path = "/v1/shops/{shop}/customer-token"
        api_cors = self._api_cors
        return [
            Route(path, Endpoint(self.customer_token, cors=self._shop_cors), methods=["POST"]),
            Route(path, Endpoint(self.preflight, cors=self._shop_cors), methods=["OPTIONS"]),
            Route(
                "/v1/app-proxy/customer-token",
                Endpoint(self.app_proxy_token),
                methods=["GET", "POST"],
            ),
            Route("/v1/me", Endpoint(self.me, cors=api_cors), methods=["GET"]),
            Route("/v1/me", Endpoint(self.me_preflight, cors=api_cors), methods=["OPTIONS"]),
        ]

    def _shop_cors(self, scope: Scope) -> CORSPolicy:
        """The CORS policy of the shop in the path; 404 for a shop not configured."""
        domain = scope["path_params"]["shop"]
        request_state(scope)["shop"] = domain
        self.customers.shop(domain)
        return self.cors[domain]

    def _api_cors(self, scope: Scope) -> CORSPolicy:
        return self.api_cors

    async def customer_token(self, scope: Scope, receive: Receive) -> Reply:
        """POST /v1/shops/{shop}/customer-token"""
        domain = scope["path_params"]["shop"]
        shop = self.customers.shop(domain)
        ip = client_ip(scope)
        state = self.components.state
        self.cors[domain].check(header(scope, b"origin"))
        try:
            # Before the body: an App-Proxy-only shop refuses whatever it says.
            self.customers.check_signed_ids(shop)
            fields = await read_fields(scope, receive, timeout=self.body_timeout)
            check_fields(fields, required=("id", "signature"), optional=("ts",))
            customer_id = self.customers.prove_signature(shop, fields)
            proof = token_request_proof(self.dpop, shop.config.dpop, scope, f"The shop {domain}")
        except ServiceError:
            # A refused request counts against its address too (its only state call).
            await state.hit("per_ip", ip)
            raise
        await check_proof_once(
            state, self.customers.mint_checks(shop, customer_id, ip=ip, dpop=proof)
        )
        jkt = None if proof is None else proof.jkt
        issued = self.customers.mint(shop, customer_id, jkt=jkt)
        kind = "timestamp" if "ts" in fields else "signature"
        self.components.metrics.issued(issued.claims["token_use"], shop.domain, kind)
        return token_reply(issued)

    async def preflight(self, scope: Scope, receive: Receive) -> Reply:
        """OPTIONS /v1/shops/{shop}/customer-token (CORS preflight)"""
        return self.cors[scope["path_params"]["shop"]].preflight(scope)

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
            await self.components.state.hit("per_ip", client_ip(scope))
            raise
        request_state(scope)["shop"] = shop.domain
        checks = self.customers.mint_checks(shop, customer_id, ip=None, proof=signature)
        await self.components.state.check(checks)
        issued = self.customers.mint(shop, customer_id)
        self.components.metrics.issued(issued.claims["token_use"], shop.domain, "app_proxy")
        return token_reply(issued)

    async def me(self, scope: Scope, receive: Receive) -> Reply:
        """GET /v1/me: the claims of a valid customer token, as a downstream API sees them.

        A DPoP-bound token must come with the DPoP scheme and a proof for this
        request by its key (RFC 9449 §7.1); a bearer token as before.
        """
        origin = header(scope, b"origin")
        self.api_cors.check(origin)
        scheme, token = access_token(scope)
        jkt = None
        try:
            claims = self.customers.verify(token)
            jkt = bound_key(claims)
        except InvalidToken as exc:
            if scheme == "dpop":
                raise self.dpop.refusal("invalid_token", exc.description) from exc
            raise
        request_state(scope)["shop"] = claims["shop"]
        # Readable by the pages of the token's own shop only.
        self.cors[claims["shop"]].check(origin)
        proof = None
        if jkt is not None:
            if scheme != "dpop":
                raise self.dpop.refusal(
                    "invalid_token", "A DPoP-bound token must be sent with the DPoP scheme."
                )
            proof = self.dpop.resource_request(
                header_values(scope, b"dpop"),
                method="GET",
                path=scope["path"],
                token=token,
                jkt=jkt,
            )
        elif scheme == "dpop":
            # RFC 9449 §7.2: the DPoP scheme is for bound tokens only.
            raise self.dpop.refusal(
                "invalid_token", "The token is not DPoP-bound; send it with the Bearer scheme."
            )
        try:
            active = await self.components.state.token_active(
                claims["jti"],
                issued_at=claims["iat"],
                customer=(claims["shop"], claims["sub"]),
                first_use=None if proof is None else self.dpop.replay_mark(proof),
            )
        except ReplayedProof as exc:
            raise self.dpop.refusal("invalid_dpop_proof", REPLAYED) from exc
        if not active:
            if proof is not None:
                raise self.dpop.refusal("invalid_token", "The token has been revoked.")
            raise InvalidToken("The token has been revoked.")
        return Reply(200, render_json(claims), NO_STORE_HEADERS)

    async def me_preflight(self, scope: Scope, receive: Receive) -> Reply:
        return self.api_cors.preflight(scope)
