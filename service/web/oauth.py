"""OAuth 2.0 over HTTP: the token endpoint, introspection and revocation.

Each endpoint reads the body strictly (form or JSON, 4 KiB, a repeated
parameter refused), hands the parameters to :class:`~service.oauth.server.OAuthServer`
and renders what comes back. Each request makes one state call: a refused
request counts against its address; a token request that passed every check
counts against its address and its client together, before the mint.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope

from service.config import ClientConfig
from service.errors import ServiceError
from service.oauth.metadata import INTROSPECTION_PATH, REVOCATION_PATH, TOKEN_PATH
from service.oauth.params import oauth_params
from service.web.customer import check_proof_once, token_reply, token_request_proof
from service.web.http import (
    NO_STORE_HEADERS,
    CORSPolicy,
    Endpoint,
    Reply,
    client_ip,
    header,
    read_fields,
    render_json,
)
from service.wiring import Components

#: The token endpoint and its aliases (Google-style and GitHub-style paths).
TOKEN_PATHS = (TOKEN_PATH, "/v1/oauth:token", "/oauth/access_token")
#: A form may carry parameters the service does not read (RFC 6749 §3.2: ignored).
MAX_PARAMETERS = 64


class OAuthEndpoints:
    def __init__(self, components: Components) -> None:
        self.components = components
        self.oauth = components.oauth
        self.body_timeout = components.settings.body_timeout
        # Only public clients' pages may read the token endpoint (JSON needs a
        # preflight), and call revocation (a guest's sign-out). Rebuilt when the
        # registry changes: runtime clients come and go without a restart.
        self._cors_generation = self.oauth.registry.generation
        self.cors = CORSPolicy(self.oauth.registry.public_origins())

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        token = Endpoint(self.token, cors=self._cors)
        preflight = Endpoint(self.preflight, cors=self._cors)
        for path in TOKEN_PATHS:
            routes.append(Route(path, token, methods=["POST"]))
            routes.append(Route(path, preflight, methods=["OPTIONS"]))
        routes.append(Route(INTROSPECTION_PATH, Endpoint(self.introspect), methods=["POST"]))
        routes.append(
            Route(REVOCATION_PATH, Endpoint(self.revoke, cors=self._cors), methods=["POST"])
        )
        routes.append(Route(REVOCATION_PATH, preflight, methods=["OPTIONS"]))
        return routes

    def _cors(self, scope: Scope) -> CORSPolicy:
        registry = self.oauth.registry
        if registry.generation != self._cors_generation:
            self._cors_generation = registry.generation
            self.cors = CORSPolicy(registry.public_origins())
        return self.cors

    async def read_params(self, scope: Scope, receive: Receive) -> dict[str, str]:
        """The known OAuth parameters of the request body (see :mod:`service.oauth.params`)."""
        fields = await read_fields(
            scope, receive, timeout=self.body_timeout, max_fields=MAX_PARAMETERS
        )
        return oauth_params(fields)

    async def token(self, scope: Scope, receive: Receive) -> Reply:
        """POST /oauth/token: client_credentials and implicit grants (RFC 6749 §4.4, §5)."""
        state = self.components.state
        ip = client_ip(scope)
        try:
            params = await self.read_params(scope, receive)
            grant = self.oauth.grants.grant(
                header(scope, b"authorization"), params, origin=header(scope, b"origin")
            )
            # The client's setting: a guest token follows its guest_client's.
            proof = token_request_proof(
                self.components.dpop,
                grant.client.dpop,
                scope,
                f"The client {grant.client.client_id}",
            )
        except ServiceError:
            await state.hit("per_ip", ip)
            raise
        await check_proof_once(state, grant.checks(ip, dpop=proof))
        issued = self.oauth.grants.mint(grant, jkt=None if proof is None else proof.jkt)
        self.components.metrics.issued(issued.claims["token_use"])
        # A confidential client's token is never readable by a page.
        return token_reply(issued, readable=not grant.client.confidential)

    async def preflight(self, scope: Scope, receive: Receive) -> Reply:
        """OPTIONS /oauth/token and /oauth/revoke: CORS preflight for public clients' origins."""
        return self._cors(scope).preflight(scope)

    async def introspect(self, scope: Scope, receive: Receive) -> Reply:
        """POST /oauth/introspect (RFC 7662 §2): a confidential caller."""
        caller, params = await self._caller(scope, receive, public=False)
        answer = await self.oauth.introspect(caller, params)
        return Reply(200, render_json(answer), NO_STORE_HEADERS)

    async def revoke(self, scope: Scope, receive: Receive) -> Reply:
        """POST /oauth/revoke (RFC 7009 §2): 200 and an empty body, valid token or not.

        A public client calls it with its ``client_id`` alone (§2.1), from a page of
        its ``allowed_origins`` (CORS) when a guest signs out.
        """
        caller, params = await self._caller(scope, receive, public=True)
        await self.oauth.revoke(caller, params)
        return Reply(200, b"", NO_STORE_HEADERS)

    async def _caller(
        self, scope: Scope, receive: Receive, *, public: bool
    ) -> tuple[ClientConfig, dict[str, str]]:
        """The calling client (a public one only if ``public``) and its request's parameters."""
        try:
            params = await self.read_params(scope, receive)
            caller = self.oauth.caller(header(scope, b"authorization"), params, public=public)
        except ServiceError:
            # Guessing secrets costs the address (the one state call of this request).
            await self.components.state.hit("per_ip", client_ip(scope))
            raise
        return caller, params
