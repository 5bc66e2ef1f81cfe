"""The API guide's CORS example: what a downstream API answers the storefront's preflight."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.examples import example

STOREFRONT = "https://www.acme.com"


async def orders(request: Request) -> JSONResponse:
    # A refused token, as an API answers it (RFC 6750 §3).
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    return JSONResponse({"error": "invalid_token"}, status_code=401, headers=headers)


def test_the_api_cors_example_answers_the_storefronts_preflight() -> None:
    namespace: dict[str, Any] = {}
    exec(example("api-cors"), namespace)  # the docs' code, as written
    app = Starlette(routes=[Route("/orders", orders)], middleware=namespace["middleware"])
    with TestClient(app) as client:
        preflight = client.options(
            "/orders",
            headers={
                "Origin": STOREFRONT,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization, dpop",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == STOREFRONT
        allowed = preflight.headers["access-control-allow-headers"].lower().split(", ")
        assert {"authorization", "dpop", "content-type"} <= set(allowed)

        refused = client.get("/orders", headers={"Origin": STOREFRONT, "Authorization": "Bearer x"})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == STOREFRONT
        exposed = refused.headers["access-control-expose-headers"]
        assert exposed == "WWW-Authenticate, DPoP-Nonce"
        assert "origin" in refused.headers["vary"].lower()

        foreign = client.options(
            "/orders",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert foreign.status_code == 400
        assert "access-control-allow-origin" not in foreign.headers


def test_the_verifier_example_refuses_a_request_without_a_token_and_answers_cors() -> None:
    namespace: dict[str, Any] = {}
    exec(example("verifier-starlette"), namespace)  # the docs' code, as written
    with TestClient(namespace["app"]) as client:
        preflight = client.options(
            "/v1/profile",
            headers={
                "Origin": STOREFRONT,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization, dpop",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == STOREFRONT
        # No Authorization: unauthenticated, and @requires refuses it.
        assert client.get("/v1/profile").status_code == 403
        # A token that is not a JWS: the verifier's own refusal, readable by the page.
        refused = client.get(
            "/v1/profile", headers={"Origin": STOREFRONT, "Authorization": "Bearer x"}
        )
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert refused.headers["access-control-expose-headers"] == "WWW-Authenticate, DPoP-Nonce"
