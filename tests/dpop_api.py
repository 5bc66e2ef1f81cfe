"""A shop's own API, as docs/guides/your-api.md builds one: Starlette and the verifier.

The end-to-end DPoP tests run it as a real server next to the token service
(``uvicorn --factory tests.dpop_api:from_environment``), configured by ``API_ISSUER``,
``API_AUDIENCE`` and ``API_ORIGINS`` (comma-separated storefront origins).
"""

from __future__ import annotations

import os

from shapestoken_verifier import Verifier
from shapestoken_verifier.starlette import TokenBackend, on_error
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


@requires("authenticated")
async def profile(request: Request) -> JSONResponse:
    principal = request.user
    return JSONResponse(
        {"sub": principal.subject, "kind": principal.kind, "bound": principal.bound}
    )


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def create_api(issuer: str, audience: str, origins: list[str]) -> Starlette:
    verifier = Verifier(issuer=issuer, audience=audience, kinds={"customer"})
    return Starlette(
        routes=[Route("/v1/profile", profile), Route("/healthz", healthz)],
        middleware=[
            # Outermost, so a refusal is readable by the page too (its challenge, its nonce).
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET"],
                allow_headers=["Authorization", "DPoP"],
                expose_headers=["WWW-Authenticate", "DPoP-Nonce"],
            ),
            Middleware(AuthenticationMiddleware, backend=TokenBackend(verifier), on_error=on_error),
        ],
    )


def from_environment() -> Starlette:
    """The app for ``uvicorn --factory tests.dpop_api:from_environment``."""
    return create_api(
        os.environ["API_ISSUER"],
        os.environ["API_AUDIENCE"],
        os.environ["API_ORIGINS"].split(","),
    )
