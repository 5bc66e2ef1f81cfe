"""Every endpoint that reads a request body reads it through the one bounded reader.

The endpoints are taken from ``/openapi.json`` (every operation with a request
body), so a new one is covered here without a change: 413 for a body over
4 KiB whether its length is declared or it is chunked, 408 for a body that
does not arrive in time, 499 (no traceback, no 500) for a client that leaves.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from starlette.types import Message, Scope

from service.web.http import MAX_BODY
from service.web.openapi.document import document
from tests.conftest import ISSUER, SHOP, ClientFactory
from tests.helpers import assert_error

#: (path, route template) of every operation that has a request body.
BODY_ROUTES = sorted(
    (template.replace("{shop}", SHOP), template)
    for template, item in document(ISSUER, [SHOP])["paths"].items()
    for operation in item.values()
    if isinstance(operation, dict) and "requestBody" in operation
)
PATHS = [path for path, _ in BODY_ROUTES]


def test_the_body_routes_include_every_oauth_endpoint() -> None:
    assert PATHS == sorted(
        [
            f"/v1/shops/{SHOP}/customer-token",
            "/oauth/token",
            "/v1/oauth:token",
            "/oauth/access_token",
            "/oauth/introspect",
            "/oauth/revoke",
        ]
    )


def scope_for(path: str) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", b"200"),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


@pytest.mark.parametrize("path", PATHS)
def test_a_declared_body_over_4_kib_is_413(client: TestClient, path: str) -> None:
    response = client.post(
        path,
        content=b"token=" + b"x" * MAX_BODY,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(response, 413, "request_too_large")


@pytest.mark.parametrize("path", PATHS)
def test_a_chunked_body_is_cut_off_past_4_kib(client: TestClient, path: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(64):  # 64 KiB, without a Content-Length
            yield b"x" * 1024

    response = client.post(
        path, content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error(response, 413, "request_too_large")
    assert "content-length" not in response.request.headers  # it really was chunked


@pytest.mark.parametrize("path", PATHS)
def test_a_body_that_stops_arriving_is_a_json_408(client_factory: ClientFactory, path: str) -> None:
    # The body's deadline, shortened: the client sends a little, then nothing.
    client = client_factory(body_timeout=0.05)
    silence = asyncio.Event()
    first = True
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"token=ab", "more_body": True}
        await silence.wait()  # never set: the rest never comes
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def call() -> None:
        await asyncio.wait_for(client.app(scope_for(path), receive, send), timeout=10)

    asyncio.run(call())
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 408
    assert b'"error":"request_timeout"' in sent[1]["body"]


@pytest.mark.parametrize(("path", "route"), BODY_ROUTES)
def test_a_client_leaving_mid_body_is_a_499_not_a_500(
    client_factory: ClientFactory, log_lines: io.StringIO, path: str, route: str
) -> None:
    client = client_factory()
    events: list[Message] = [
        {"type": "http.request", "body": b"grant_type=client_cre", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return events.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    async def call() -> None:
        await client.app(scope_for(path), receive, send)

    asyncio.run(call())  # returns quietly: nothing is raised to the server
    assert sent == []  # nobody is there to read an answer
    text = log_lines.getvalue()
    assert "Traceback" not in text and "ERROR" not in text
    (line,) = text.splitlines()
    assert "status=499" in line and "error=client_closed_request" in line
    metrics = client.get("/metrics").text
    assert f'route="{route}",status="499"}} 1' in metrics
    assert 'status="500"' not in metrics
