"""What operators and their platforms ask: liveness, readiness, metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service.web.http import JSON
from service.wiring import Components

NO_STORE = {"Cache-Control": "no-store"}


class OpsEndpoints:
    def __init__(self, components: Components) -> None:
        self.components = components

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]

    async def healthz(self, request: Request) -> Response:
        """GET /healthz: the process answers (liveness)."""
        return JSON({"status": "ok"}, headers=NO_STORE)

    async def readyz(self, request: Request) -> Response:
        """GET /readyz: the process can serve (readiness): its state backend answers.

        A process without a signing key never starts, so the state backend is the
        one thing that can be down; it raises 503 ``temporarily_unavailable``.
        """
        await self.components.state.ping()
        return JSON({"status": "ok"}, headers=NO_STORE)

    async def metrics(self, request: Request) -> Response:
        """GET /metrics: Prometheus text format."""
        return Response(
            self.components.metrics.render(),
            media_type="text/plain; version=0.0.4; charset=utf-8",
            headers=NO_STORE,
        )
