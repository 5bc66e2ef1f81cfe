"""Straight to an :class:`~service.web.http.Endpoint`, past the router's wrapping.

Starlette wraps every route in its exception middleware (a request object and
closures), its router's dispatch and a ``send`` wrapper. An endpoint answers its
own errors, so this middleware, the innermost of the app's, finds the endpoint
the router would pick (the router's own routes, in its order, with its own
matching) and calls it. Anything else, an endpoint's path with the wrong method
(a 405) included, goes on to the router. Development and production dispatch
the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from service.web.http import Endpoint


class Dispatch:
    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.find(scope) if scope["type"] == "http" else None
        if endpoint is None:
            await self.app(scope, receive, send)
        else:
            await endpoint.answer(scope, receive, send)

    def find(self, scope: Scope) -> Endpoint | None:
        """The endpoint for ``scope`` (its route and path parameters set), or None."""
        for route in self.routes:
            match, child_scope = route.matches(scope)
            if match is Match.NONE:
                continue
            if match is Match.FULL and isinstance(route, Route):
                endpoint = route.app
                if isinstance(endpoint, Endpoint):
                    scope["route"] = route
                    scope.update(child_scope)
                    return endpoint
            return None
        return None
