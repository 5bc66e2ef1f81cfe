"""A real uvicorn process, a temp config, secrets from the environment, plain HTTP."""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest

from tests.conftest import SECRET, sign
from tests.examples import example
from tests.servers import (
    Server,
    config_toml,
    free_port,
    minted,
    process_tree,
    request,
    shapestoken,
    start_procfile,
    start_server,
    verify,
)

pytestmark = pytest.mark.e2e


#: A public client: its tokens share the shop's audience (both keep the default, the issuer).
PUBLIC_CLIENT = """
[clients."storefront-web"]
scopes = ["catalog:read"]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    text = config_toml(f"http://127.0.0.1:{port}") + PUBLIC_CLIENT
    server = start_server(tmp_path_factory.mktemp("e2e"), text, port=port)
    yield server
    log = server.stop()
    # Nothing secret reaches the log, whatever the tests sent.
    assert SECRET not in log
    assert sign("42") not in log
    assert "eyJ" not in log


def test_a_minted_token_verifies_with_pyjwt_against_the_served_jwks(server: Server) -> None:
    body = minted(server)
    token = body["access_token"]
    assert isinstance(token, str)
    # Exactly what a downstream API does: fetch the JWKS, pick the key by kid, verify.
    claims = verify(token, server)
    assert claims["sub"] == "42" and claims["shop"] == "acme.myshopify.com"
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    assert body["token"] == token and body["expires"] == claims["exp"]


def test_jwks_is_cacheable_and_public_only(server: Server) -> None:
    status, headers, raw = request(server, "GET", "/.well-known/jwks.json")
    assert status == 200
    assert headers["cache-control"] == "public, max-age=300"
    (key,) = json.loads(raw)["keys"]
    assert key["alg"] == "ES256" and key["use"] == "sig" and "d" not in key


def test_health_and_readiness(server: Server) -> None:
    for path in ("/healthz", "/readyz"):
        status, _, raw = request(server, "GET", path)
        assert (status, json.loads(raw)) == (200, {"status": "ok"})


def read_response(sock: socket.socket) -> str:
    """One HTTP/1.1 response: the head, then Content-Length bytes of body."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length and (chunk := sock.recv(65536)):
        body += chunk
    return (head + b"\r\n\r\n" + body).decode("latin-1")


def test_a_10_mb_body_gets_413_and_the_server_stays_healthy(server: Server) -> None:
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        head = (
            "POST /v1/shops/acme.myshopify.com/customer-token HTTP/1.1\r\n"
            f"Host: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10 * 1024 * 1024}\r\n\r\n"
        )
        sock.sendall(head.encode())
        try:
            sock.sendall(b"x" * (1024 * 1024))  # the server answers before reading it all
        except OSError:
            pass
        response = read_response(sock)
    assert response.startswith("HTTP/1.1 413"), response[:200]
    assert '"error":"request_too_large"' in response
    status, _, _ = request(server, "GET", "/healthz")
    assert status == 200
    minted(server)


def test_a_websocket_upgrade_is_plain_http_with_a_json_answer(server: Server) -> None:
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            (
                f"GET /v1/me?signature={sign('42')} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            ).encode()
        )
        response = read_response(sock)
    assert response.startswith("HTTP/1.1 401"), response[:200]
    assert "content-type: application/json" in response.lower()
    assert '"error":"invalid_token"' in response
    # The module fixture also checks, at the end, that the signature was never logged.
    assert sign("42") not in server.output()


def test_a_client_leaving_mid_body_is_counted_as_499_without_a_traceback(
    server: Server,
) -> None:
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            (
                "POST /v1/shops/acme.myshopify.com/customer-token HTTP/1.1\r\n"
                f"Host: {parts.netloc}\r\nContent-Type: application/json\r\n"
                'Content-Length: 200\r\n\r\n{"id": "42", '
            ).encode()
        )
    metrics = ""
    for _ in range(50):  # the server notices the close on its next read
        _, _, raw = request(server, "GET", "/metrics")
        metrics = raw.decode()
        if 'status="499"' in metrics:
            break
        time.sleep(0.1)
    route = 'route="/v1/shops/{shop}/customer-token"'
    assert f'shapestoken_requests_total{{method="POST",{route},status="499"}} 1' in metrics
    assert 'status="500"' not in metrics
    log = server.output()
    assert "Traceback" not in log and "ClientDisconnect" not in log
    assert "status=499" in log


def test_a_chunked_body_is_cut_off_at_4_kib(server: Server) -> None:
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            (
                "POST /v1/shops/acme.myshopify.com/customer-token HTTP/1.1\r\n"
                f"Host: {parts.netloc}\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        chunk = b"x" * 3000
        for _ in range(3):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        response = read_response(sock)
    assert response.startswith("HTTP/1.1 413"), response[:200]
    assert '"error":"request_too_large"' in response


def test_bad_input_is_a_json_error_without_echo(server: Server) -> None:
    signature = sign("43")
    status, headers, raw = request(
        server,
        "POST",
        "/v1/shops/acme.myshopify.com/customer-token",
        json.dumps({"id": "42", "signature": signature}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 401
    assert headers["content-type"] == "application/json"
    assert json.loads(raw)["error"] == "invalid_signature"
    assert signature.encode() not in raw


@pytest.mark.parametrize(
    ("config", "env", "message"),
    [
        (None, {"SHOP_ID_SECRET": "short"}, "at least 32"),
        ("missing-env", {}, "NOT_SET_ANYWHERE"),
        ("unknown-key", {}, 'unknown config key shops."acme.myshopify.com".audiance'),
        ("no-key", {}, "no signing key"),
        (
            None,
            {"SHAPESTOKEN_SIGNING_KEYS": "-----BEGIN PRIVATE KEY-----\n\u201cMIGH\u201d\n"},
            "SHAPESTOKEN_SIGNING_KEYS: holds non-ASCII",
        ),
        (
            "shared-audience",
            {},
            'shops."acme.myshopify.com" and shops."bolt.myshopify.com" share the audience',
        ),
    ],
    ids=[
        "short-secret",
        "missing-env",
        "unknown-key",
        "no-signing-key",
        "non-ascii-signing-keys",
        "shared-audience",
    ],
)
def test_start_up_fails_with_a_message_naming_the_problem(
    tmp_path: Path, config: str | None, env: dict[str, str], message: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    text = config_toml(url)
    if config == "missing-env":
        text = text.replace("env:SHOP_ID_SECRET", "env:NOT_SET_ANYWHERE")
    elif config == "unknown-key":
        text = config_toml(url, extra_shop='audiance = "https://typo.example"')
    elif config == "shared-audience":
        # A second shop keeping the default audience (the issuer), like the first.
        second = '[shops."bolt.myshopify.com"]\nid_secrets = ["env:SHOP_ID_SECRET"]'
        text = config_toml(url, extra_shop=second)
    server = start_server(
        tmp_path,
        text,
        env=env,
        port=int(url.rsplit(":", 1)[1]),
        generate_key=False,  # config errors come first; "no-key" needs none
        wait=False,
    )
    assert server.process.wait(timeout=30) == 2
    output = server.stop()
    assert message in output
    assert "Traceback" not in output
    assert SECRET not in output


def jwks_kids(server: Server) -> list[str]:
    _, _, raw = request(server, "GET", "/.well-known/jwks.json")
    return [key["kid"] for key in json.loads(raw)["keys"]]


def minted_kid(server: Server) -> str:
    token = minted(server)["access_token"]
    assert isinstance(token, str)
    return str(jwt.get_unverified_header(token)["kid"])


def test_a_rotated_key_is_published_on_sighup_and_signs_after_the_delay(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path, config_toml(url, extra="key_activation_delay = 3"), port=port)
    try:
        (old,) = jwks_kids(server)
        rotated = shapestoken("keys", "rotate", env=server.env)
        assert rotated.returncode == 0, rotated.stderr
        assert "signs from" in rotated.stdout
        server.process.send_signal(signal.SIGHUP)  # no restart: the process reads its keys
        deadline = time.monotonic() + 10
        while len(jwks_kids(server)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        kids = jwks_kids(server)
        assert len(kids) == 2 and old in kids
        (new,) = set(kids) - {old}
        assert server.process.poll() is None
        # Published first: the old key still signs until the delay has passed.
        seen = {minted_kid(server)}
        deadline = time.monotonic() + 15
        while new not in seen and time.monotonic() < deadline:
            seen.add(minted_kid(server))
            time.sleep(0.2)
        assert old in seen and new in seen
        assert minted_kid(server) == new
        assert "signing keys reloaded" in server.output()
    finally:
        server.stop()


def jwks_requests(server: Server) -> int:
    _, _, raw = request(server, "GET", "/metrics")
    line = 'shapestoken_requests_total{method="GET",route="/.well-known/jwks.json",status="200"} '
    counts = [
        int(row.removeprefix(line)) for row in raw.decode().splitlines() if row.startswith(line)
    ]
    return sum(counts)


@pytest.mark.e2e
def test_keys_reload_reaches_every_granian_worker_without_restarting_them(
    tmp_path: Path,
) -> None:
    port = free_port()
    text = config_toml(f"http://127.0.0.1:{port}", extra="key_activation_delay = 3600")
    server = start_procfile(tmp_path, text, port=port, env={"WEB_CONCURRENCY": "2"})
    try:
        (old,) = jwks_kids(server)
        workers = process_tree(server.process.pid)
        assert len(workers) == 3  # Granian's main process and its two workers
        before = jwks_requests(server)
        assert before >= 1
        for command in ("rotate", "reload"):
            done = shapestoken("keys", command, env=server.env)
            assert done.returncode == 0, done.stderr
        assert "no worker restarts" in done.stdout
        deadline = time.monotonic() + 3
        while server.output().count("signing keys reloaded") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Each worker read the new key (one line each), within a couple of seconds.
        assert server.output().count("signing keys reloaded") == 2, server.output()
        for _ in range(20):  # a new connection each: whichever worker answers knows it
            kids = jwks_kids(server)
            assert len(kids) == 2 and old in kids
        # No worker was restarted, and the counters went on from where they were.
        assert process_tree(server.process.pid) == workers
        assert jwks_requests(server) >= before + 20
    finally:
        server.stop()


def test_start_up_logs_loose_key_permissions_and_reused_secrets(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    text = config_toml(url, extra_shop='app_proxy_secret = "env:SHOP_ID_SECRET"')
    server = start_server(tmp_path, text, port=port, wait=False)
    server.stop()
    (key,) = (tmp_path / "keys").glob("*.pem")
    key.chmod(0o644)
    server = start_server(tmp_path, text, port=port, generate_key=False)
    try:
        log = server.output()
        assert "WARNING" in log and "(mode 0644)" in log and "app_proxy_secret" in log
        assert SECRET not in log
    finally:
        server.stop()


def test_the_docs_customer_verifier_works_as_pasted(server: Server) -> None:
    # This server is the issuer, and its shop keeps the default audience (the issuer).
    code = example("verify-customer", service=server.url).replace(
        "https://api.acme.example", server.url
    )
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/guides/your-api.md", "exec"), namespace)
    token = minted(server)["access_token"]
    claims = namespace["customer_from"](token)
    assert claims["sub"] == "42" and claims["token_use"] == "customer"
    with pytest.raises(jwt.InvalidTokenError, match="another shop"):
        namespace["customer_from"](token, shop="other.myshopify.com")
    # A client's token for the same audience: valid, but of another kind.
    form = b"grant_type=implicit&client_id=storefront-web"
    content = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, raw = request(server, "POST", "/oauth/token", form, content)
    assert status == 200, raw
    implicit = json.loads(raw)["access_token"]
    assert jwt.decode(implicit, options={"verify_signature": False})["aud"] == server.url
    with pytest.raises(jwt.InvalidTokenError, match="not a customer token"):
        namespace["customer_from"](implicit)
