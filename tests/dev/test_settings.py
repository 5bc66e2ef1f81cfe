"""The development default: loopback only, in the bind address and in ``Host``."""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from service.dev.settings import development_settings
from service.web.app import create_app
from tests.helpers import assert_error
from tests.servers import Server, start_dev_server


@pytest.fixture
def dev_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = development_settings(8000, state_dir=tmp_path / ".shapestoken")
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        yield client


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8000", "localhost:8000", "LocalHost:8000", "[::1]:8000"]
)
def test_loopback_names_on_the_port_are_answered(dev_client: TestClient, host: str) -> None:
    assert dev_client.get("/healthz", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "rebound.attacker.example:8000",  # a DNS name rebound to 127.0.0.1
        "127.0.0.1.nip.io:8000",
        "127.0.0.1:9999",  # another port: another origin
        "127.0.0.1",
        "localhost",
        "0.0.0.0:8000",
        "",
    ],
)
def test_any_other_host_gets_a_json_421(
    log_lines: io.StringIO, dev_client: TestClient, host: str
) -> None:
    for path in ("/demo", "/healthz", "/v1/me"):
        response = dev_client.get(path, headers={"Host": host})
        body = assert_error(response, 421, "misdirected_request")
        assert "127.0.0.1:8000" in body["error_description"]
        assert "shapes-token-config" not in response.text
    # The log line says why, as for every refusal.
    lines = [line for line in log_lines.getvalue().splitlines() if "status=421" in line]
    assert len(lines) == 3 and all("error=misdirected_request" in line for line in lines)


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[Server]:
    server = start_dev_server(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def get(server: Server, path: str, host: str) -> tuple[int, str, bytes]:
    port = int(server.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        # What a browser sends on a rebound name: the name, not the address it resolved to.
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.getheader("content-type", ""), response.read()
    finally:
        conn.close()


@pytest.mark.e2e
def test_a_rebound_dns_name_cannot_read_the_demo_page(dev_server: Server) -> None:
    port = dev_server.url.rsplit(":", 1)[1]
    status, content_type, body = get(dev_server, "/demo", f"rebound.attacker.example:{port}")
    assert (status, content_type) == (421, "application/json")
    assert json.loads(body)["error"] == "misdirected_request"
    assert b"signature" not in body
    status, content_type, body = get(dev_server, "/demo", f"127.0.0.1:{port}")
    assert status == 200 and content_type.startswith("text/html")
    assert b"shapes-token-config" in body
