"""The framework's ceiling: a bare Starlette app that reads a POST body and answers JSON.

Same route shape as the mint endpoint, same server flags; no middleware, no
parsing, no crypto, no logging. ``uvicorn bench.baseline:app``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def customer_token(request: Request) -> Response:
    body = await request.body()
    return JSONResponse({"ok": True, "bytes": len(body)})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/v1/shops/{shop}/customer-token", customer_token, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
)
