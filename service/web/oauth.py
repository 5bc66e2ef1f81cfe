"""OAuth 2.0 over HTTP: the token endpoint, introspection and revocation.

Each endpoint reads the body strictly (form or JSON, 4 KiB, a repeated
parameter refused), hands the parameters to :class:`~service.oauth.server.OAuthServer`
and renders what comes back. Each request makes one state call: a refused
request counts against its address; a token request that passed every check
counts against its address and its client together, before the mint.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope

from service.config import ClientConfig
from service.errors import ServiceError
from service.oauth.metadata import INTROSPECTION_PATH, REVOCATION_PATH, TOKEN_PATH
from service.oauth.params import oauth_params
from service.services import Services
from service.web.customer import token_reply
from service.web.http import JSON, NO_STORE, CORSPolicy, client_ip, read_fields
from service.web.lean import LeanEndpoint, Reply, header

#: The token endpoint and its aliases (Google-style and GitHub-style paths).
TOKEN_PATHS = (TOKEN_PATH, "/v1/oauth:token", "/oauth/access_token")
#: A form may carry parameters the service does not read (RFC 6749 §3.2: ignored).
MAX_PARAMETERS = 64


async def read_params(scope: Scope, receive: Receive) -> dict[str, str]:
    """The known OAuth parameters of the request body (see :mod:`service.oauth.params`)."""
    return oauth_params(await read_fields(scope, receive, max_fields=MAX_PARAMETERS))


class OAuthEndpoints:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.oauth = services.oauth
        # Only public clients' pages may read the token endpoint (JSON needs a preflight).
        self.cors = CORSPolicy(self.oauth.public_origins)

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        token = LeanEndpoint(self.token)
        for path in TOKEN_PATHS:
            routes.append(Route(path, token, methods=["POST"]))
            routes.append(Route(path, self.preflight, methods=["OPTIONS"]))
        routes.append(Route(INTROSPECTION_PATH, self.introspect, methods=["POST"]))
        routes.append(Route(REVOCATION_PATH, self.revoke, methods=["POST"]))
        return routes

    async def token(self, scope: Scope, receive: Receive) -> Reply:
        """POST /oauth/token: client_credentials and implicit grants (RFC 6749 §4.4, §5)."""
        origin = header(scope, b"origin")
        readable = self.cors.allow(origin)
        state = self.services.state
        ip = client_ip(scope)
        try:
            try:
                params = await read_params(scope, receive)
                grant = self.oauth.grants.grant(
                    header(scope, b"authorization"), params, origin=origin
                )
            except ServiceError:
                await state.hit("per_ip", ip)
                raise
            await state.check(grant.checks(ip))
            issued = self.oauth.grants.mint(grant)
        except ServiceError as exc:
            exc.headers |= readable
            raise
        # A confidential client's token is never readable by a page.
        return token_reply(issued, {"Vary": "Origin"} if grant.client.confidential else readable)

    async def preflight(self, request: Request) -> Response:
        """OPTIONS /oauth/token: CORS preflight for public clients' origins."""
        return self.cors.preflight(request.scope)

    async def introspect(self, request: Request) -> Response:
        """POST /oauth/introspect (RFC 7662 §2)."""
        caller, params = await self._caller(request)
        answer = await self.oauth.introspect(caller, params)
        return JSON(answer, headers=NO_STORE)

    async def revoke(self, request: Request) -> Response:
        """POST /oauth/revoke (RFC 7009 §2): 200 and an empty body, valid token or not."""
        caller, params = await self._caller(request)
        await self.oauth.revoke(caller, params)
        return Response(status_code=200, headers=NO_STORE)

    async def _caller(self, request: Request) -> tuple[ClientConfig, dict[str, str]]:
        """The authenticated confidential client and the parameters of its request."""
        try:
            params = await read_params(request.scope, request.receive)
            caller = self.oauth.caller(request.headers.get("authorization"), params)
        except ServiceError:
            # Guessing secrets costs the address (the one state call of this request).
            await self.services.state.hit("per_ip", client_ip(request.scope))
            raise
        return caller, params
