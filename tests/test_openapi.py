"""``/openapi.json`` describes every public route, and a fuzzer finds no server error."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from tests.conftest import SECRET, SHOP, sign
from tests.servers import Server, config_toml, free_port, start_procfile

#: Methods the router adds by itself (HEAD with every GET).
IMPLICIT = {"HEAD"}


def app_routes(client: TestClient) -> set[tuple[str, str]]:
    routes: set[tuple[str, str]] = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route):
            routes |= {
                (route.path, method) for method in (route.methods or ()) if method not in IMPLICIT
            }
        elif isinstance(route, Mount):
            routes.add((f"{route.path}/{{path}}", "GET"))
    return routes


def documented(client: TestClient) -> set[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return {
        (path, method.upper())
        for path, item in paths.items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete", "options")
    }


def test_every_route_is_documented_and_every_entry_is_a_route(client: TestClient) -> None:
    # A new endpoint without an entry (or an entry left behind) fails here.
    assert documented(client) == app_routes(client)


def test_the_document_is_openapi_3_1_with_this_issuer(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body = response.json()
    assert body["openapi"] == "3.1.0" and body["servers"] == [{"url": "https://tokens.example.com"}]
    shop = body["paths"]["/v1/shops/{shop}/customer-token"]["parameters"][0]
    assert shop["schema"]["enum"] == [SHOP]
    assert SECRET not in response.text


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    text = config_toml(
        f"http://127.0.0.1:{port}",
        origins=["https://www.acme.com"],
        extra_shop='app_proxy_secret = "' + "p" * 40 + '"',
    ).replace('per_ip = "10000/minute"', 'per_ip = "100000000/minute"')
    server = start_procfile(tmp_path_factory.mktemp("fuzz"), text, port=port)
    yield server
    log = server.stop()
    assert "Traceback" not in log


@pytest.mark.e2e
def test_schemathesis_finds_no_server_error_and_no_undocumented_response(
    fuzz_server: Server, tmp_path: Path
) -> None:
    request = urllib.request.Request(
        f"{fuzz_server.url}/v1/shops/{SHOP}/customer-token",
        data=json.dumps({"id": "42", "signature": sign("42")}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token = json.loads(response.read())["access_token"]
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{fuzz_server.url}/openapi.json",
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance",
            "--header",
            f"Authorization: Bearer {token}",  # /v1/me gets past the 401 too
            "--max-examples",
            "100",
            "--seed",
            "20261127",
            "--workers",
            "2",
            "--request-timeout",
            "20",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,  # bounded: a few minutes at most
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout and " failed" not in result.stdout
