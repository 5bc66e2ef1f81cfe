"""Endpoints on the raw scope: the same answers as Starlette's, reached as its router would."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from service.errors import InvalidSignature, RateLimited, ServiceError, StateUnavailable
from service.web.dispatch import Dispatch
from service.web.http import Endpoint, Reply, error_reply, error_response, header
from tests.conftest import ORIGIN, SHOP, ClientFactory, sign

TOKEN_PATHS = ("/oauth/token", "/v1/oauth:token", "/oauth/access_token")
RAW_ROUTES = {
    ("/v1/shops/{shop}/customer-token", "POST"),
    ("/v1/shops/{shop}/customer-token", "OPTIONS"),
    ("/v1/app-proxy/customer-token", "GET"),
    ("/v1/app-proxy/customer-token", "POST"),
    ("/v1/me", "GET"),
    ("/v1/me", "OPTIONS"),
    *((path, method) for path in TOKEN_PATHS for method in ("POST", "OPTIONS")),
    ("/oauth/introspect", "POST"),
    ("/oauth/revoke", "POST"),
    ("/oauth/revoke", "OPTIONS"),  # a public client's guest page signs out (CORS)
}


def test_the_token_endpoints_are_raw_and_the_pages_are_starlette(client: TestClient) -> None:
    raw = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and isinstance(route.app, Endpoint):
            raw |= {(route.path, method) for method in route.methods or () if method != "HEAD"}
    assert raw == RAW_ROUTES


@pytest.mark.parametrize(
    "error",
    [InvalidSignature(), RateLimited(retry_after=7), StateUnavailable(), ServiceError("x")],
)
def test_errors_are_answered_alike_everywhere(error: ServiceError) -> None:
    reply = error_reply(error)
    response = error_response(error)
    assert (response.status_code, response.body) == (reply.status, reply.body)
    assert json.loads(reply.body) == error.as_dict()
    # The Starlette response carries exactly the reply's headers, then length and type.
    assert response.raw_headers[: len(reply.headers)] == reply.headers
    names = [name for name, _ in response.raw_headers]
    assert names[len(reply.headers) :] == [b"content-length", b"content-type"]
    if error.status_code == 401 or error.status_code >= 500:
        assert (b"cache-control", b"no-store") in reply.headers


def test_a_header_is_its_first_occurrence_as_starlette_reads_it() -> None:
    scope = {"headers": [(b"origin", b"https://a.example"), (b"origin", b"https://b.example")]}
    assert header(scope, b"origin") == "https://a.example"
    assert header(scope, b"x-missing") is None


# -- Dispatch: the router's order and matching decide -----------------------------------


async def handler(scope: Scope, receive: Receive) -> Reply:
    return Reply(200, b"{}", [])  # pragma: no cover (only found, never called here)


async def plain(scope: Scope, receive: Receive, send: Send) -> None:
    pass  # pragma: no cover


LEAN = Endpoint(handler)


def find(routes: list[Route], method: str, path: str) -> tuple[Endpoint | None, Scope]:
    scope: Scope = {"type": "http", "method": method, "path": path, "headers": [], "root_path": ""}
    return Dispatch(plain, routes=routes).find(scope), scope


LEAN_THEN_PLAIN = [
    Route("/shops/{shop}/token", LEAN, methods=["POST"]),
    Route("/shops/{shop}/token", plain, methods=["OPTIONS"]),
]


def test_an_endpoint_is_found_with_its_path_parameters() -> None:
    endpoint, scope = find(LEAN_THEN_PLAIN, "POST", "/shops/acme/token")
    assert endpoint is LEAN
    assert scope["path_params"] == {"shop": "acme"}
    assert scope["route"].path == "/shops/{shop}/token"  # for the metrics' route label


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/shops/acme/token"),  # another method on an endpoint's path: the router's 405
        ("OPTIONS", "/shops/acme/token"),  # another route on the same path
        ("POST", "/elsewhere"),  # no route at all
    ],
)
def test_anything_else_is_left_to_the_router_untouched(method: str, path: str) -> None:
    endpoint, scope = find(LEAN_THEN_PLAIN, method, path)
    assert endpoint is None
    assert "route" not in scope and "path_params" not in scope


def test_an_earlier_route_that_matches_wins_as_in_the_router() -> None:
    routes = [
        Route("/shops/{shop}/{what}", plain, methods=["POST"]),
        Route("/shops/{shop}/token", LEAN, methods=["POST"]),
    ]
    assert find(routes, "POST", "/shops/acme/token")[0] is None


def test_dispatched_and_routed_answers_are_the_same(client_factory: ClientFactory) -> None:
    # The same requests through the whole app and through the router alone (which
    # reaches the same endpoint through Starlette's route handling).
    client = client_factory()
    router = client_factory().app.router  # type: ignore[attr-defined]
    direct = TestClient(router, base_url=str(client.base_url), raise_server_exceptions=False)
    path = f"/v1/shops/{SHOP}/customer-token"
    requests: list[dict[str, Any]] = [
        {"json": {"id": "42", "signature": "0" * 64}, "headers": {"Origin": ORIGIN}},
        {"json": {"id": "42"}},
        {"content": b"x", "headers": {"Content-Type": "text/plain"}},
        {
            "json": {"id": "42", "signature": sign("42")},
            "headers": {"Origin": "https://evil.example"},
        },
    ]
    for request in requests:
        answers = [each.post(path, **request) for each in (client, direct)]
        assert answers[0].status_code == answers[1].status_code
        assert answers[0].content == answers[1].content
        headers = [dict(answer.headers) for answer in answers]
        headers[0].pop("x-request-id")  # added by the app's middleware only
        assert headers[0] == headers[1]
    body = {"id": "42", "signature": sign("42")}
    minted = [each.post(path, json=body) for each in (client, direct)]
    assert [answer.status_code for answer in minted] == [200, 200]
    assert minted[0].json().keys() == minted[1].json().keys()
