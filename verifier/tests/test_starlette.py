"""shapestoken_verifier.starlette: the authentication backend, @requires, the error responses,
and the README's examples."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from issuers import FakeIssuer, ProofKey
from shapestoken_verifier import TokenError, Verifier
from shapestoken_verifier.starlette import TokenBackend, on_error, token_error_handler

pytestmark = pytest.mark.anyio
README = Path(__file__).resolve().parent.parent / "README.md"


@requires("profiles:read")
async def profile(request: Request) -> Response:
    user = request.user
    return JSONResponse(
        {
            "kind": user.kind,
            "subject": user.identity,
            "customer_id": user.customer_id,
            "scopes": sorted(request.auth.scopes),
            "bound": user.bound,
        }
    )


async def orders(request: Request) -> Response:
    request.user.require("orders:write")
    return JSONResponse({"ok": True})


def api(verifier: Verifier, public_url: str | None = None) -> Starlette:
    backend = TokenBackend(verifier, public_url=public_url)
    return Starlette(
        routes=[Route("/v1/profile", profile), Route("/v1/orders", orders, methods=["POST"])],
        middleware=[Middleware(AuthenticationMiddleware, backend=backend, on_error=on_error)],
        exception_handlers={TokenError: token_error_handler},
    )


Client = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def client(verifier: Verifier) -> AsyncIterator[Client]:
    made: list[httpx.AsyncClient] = []

    def factory(public_url: str | None = None, base_url: str = "http://testserver") -> Any:
        transport = httpx.ASGITransport(app=api(verifier, public_url))
        made.append(httpx.AsyncClient(transport=transport, base_url=base_url))
        return made[-1]

    yield factory
    for each in made:
        await each.aclose()


async def test_a_good_token_reaches_the_endpoint(client: Client, issuer: FakeIssuer) -> None:
    token = issuer.mint("client_credentials")
    response = await client().get("/v1/profile", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json() == {
        "kind": "client_credentials",
        "subject": "crm-sync",
        "customer_id": None,
        "scopes": ["authenticated", "profiles:read"],
        "bound": False,
    }


async def test_no_authorization_is_anonymous_and_requires_refuses(client: Client) -> None:
    response = await client().get("/v1/profile")
    assert response.status_code == 403


async def test_a_bad_token_gets_the_json_error(client: Client, issuer: FakeIssuer) -> None:
    token = issuer.mint(aud="https://other.example")
    response = await client().get("/v1/profile", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "the token is for another audience",
    }
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_a_scope_missing_in_a_handler_is_403(client: Client, issuer: FakeIssuer) -> None:
    token = issuer.mint("client_credentials")
    response = await client().post("/v1/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'scope="orders:write"' in response.headers["www-authenticate"]


async def test_the_issuer_down_is_503_with_retry_after(client: Client, issuer: FakeIssuer) -> None:
    issuer.down = True
    response = await client().get(
        "/v1/profile", headers={"Authorization": f"Bearer {issuer.mint()}"}
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"] == "temporarily_unavailable"


async def test_a_nonce_is_asked_for_in_a_header(client: Client, issuer: FakeIssuer) -> None:
    key = ProofKey()
    token = issuer.mint("client_credentials", cnf={"jkt": key.jkt})
    old = key.proof("GET", "http://testserver/v1/profile", token=token, now=issuer.clock() - 90)
    headers = {"Authorization": f"DPoP {token}", "DPoP": old}
    response = await client().get("/v1/profile", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "use_dpop_nonce"
    assert response.headers["dpop-nonce"]


@pytest.mark.parametrize(
    ("public_url", "htu", "status"),
    [
        (None, "http://testserver/v1/profile", 200),
        ("https://api.acme.example", "https://api.acme.example/v1/profile", 200),
        ("https://api.acme.example/", "https://api.acme.example/v1/profile", 200),
        # Behind a proxy the listening address is not what clients sign.
        ("https://api.acme.example", "http://testserver/v1/profile", 401),
    ],
)
async def test_dpop_proofs_are_for_the_public_url(
    client: Client, issuer: FakeIssuer, public_url: str | None, htu: str, status: int
) -> None:
    key = ProofKey()
    token = issuer.mint("client_credentials", cnf={"jkt": key.jkt})
    headers = {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", htu, token=token)}
    response = await client(public_url).get("/v1/profile?page=2", headers=headers)
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["bound"] is True


def readme_block(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


async def test_the_readme_starlette_example_runs() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(readme_block("### Starlette"), "README.md", "exec"), namespace)
    transport = httpx.ASGITransport(app=namespace["app"])
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/profile")).status_code == 403
        response = await client.get("/profile", headers={"Authorization": "Bearer x"})
        assert (response.status_code, response.json()["error"]) == (401, "invalid_token")
    await namespace["verifier"].aclose()


def test_the_readme_fastapi_example_compiles() -> None:
    # FastAPI is not a dependency; the example is the Starlette one's dependency form.
    compile(readme_block("### FastAPI"), "README.md", "exec")
