"""The HTTP edge: the Procfile's own command, attacked while RSS, file descriptors
and /healthz are watched. Every loop is bounded in count and time; 127.0.0.1 only.

The server bounds what the app cannot: a header's size (``--http1-buffer-size``,
431), the time to send the headers (``--http1-header-read-timeout``, which also
closes idle keep-alive connections) and the connections per worker
(``--backpressure``: connections beyond it wait in the kernel's backlog, using
no descriptor). The app bounds the time to send the body (408).
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.conftest import sign
from tests.servers import (
    Server,
    config_toml,
    free_port,
    process_tree,
    procfile_web,
    rss_of,
    start_procfile,
)

pytestmark = pytest.mark.e2e

MINT = "/v1/shops/acme.myshopify.com/customer-token"
TOKEN = "/oauth/token"
#: The Procfile's limits, read back from its command line below.
HEADER_TIMEOUT_S = 5
CONNECTIONS = 512


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    # A short body deadline: the slow-body tests wait it out.
    text = config_toml(f"http://127.0.0.1:{port}", extra=f"body_timeout = {BODY_TIMEOUT}").replace(
        'per_ip = "10000/minute"', 'per_ip = "3/minute"'
    )
    server = start_procfile(tmp_path_factory.mktemp("edge"), text, port=port)
    yield server
    log = server.stop()
    assert "Traceback" not in log
    assert sign("42") not in log


BODY_TIMEOUT = 1


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def connect(server: Server, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port_of(server)), timeout=timeout)


def workers(server: Server) -> list[int]:
    """The processes that hold connections: the workers, or the server itself."""
    children = [pid for pid in process_tree(server.process.pid) if pid != server.process.pid]
    return children or [server.process.pid]


def rss(server: Server) -> int:
    return sum(rss_of(pid) or 0 for pid in process_tree(server.process.pid))


def descriptors(server: Server) -> int:
    return max(len(os.listdir(f"/proc/{pid}/fd")) for pid in workers(server))


def healthz(server: Server, timeout: float = 5) -> int:
    try:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=timeout) as response:
            return int(response.status)
    except (OSError, urllib.error.URLError):
        return 0


def read_head(sock: socket.socket) -> bytes:
    """What the server sends before it closes (or the socket times out)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received and b"content-length: 0" in received.lower():
                break
    except OSError:
        pass
    return received


def test_the_procfile_sets_the_limits_these_tests_attack() -> None:
    web = procfile_web()
    assert web.startswith("granian --interface asgi ")
    assert "--port ${PORT:-8000}" in web and "--host 0.0.0.0" in web
    assert f"--http1-header-read-timeout {HEADER_TIMEOUT_S * 1000}" in web
    assert "--http1-buffer-size 16384" in web
    assert f"--backpressure {CONNECTIONS}" in web
    assert "--no-ws" in web and "--http 1" in web  # no WebSockets, no cleartext HTTP/2


def test_the_procfile_command_serves_on_port(server: Server) -> None:
    with urllib.request.urlopen(f"{server.url}/readyz", timeout=5) as response:
        assert json.loads(response.read()) == {"status": "ok"}
    assert workers(server) != [server.process.pid]  # granian serves from worker processes


def test_huge_unfinished_headers_are_refused_without_memory_growth(server: Server) -> None:
    # On uvicorn+httptools four of these took RSS from 53 to 241 MiB.
    before = rss(server)
    answers = []
    for _ in range(4):
        with connect(server) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            sent = 0
            try:
                while sent < 32 * 1024 * 1024:
                    sock.sendall(b"a" * 65536)
                    sent += 65536
            except OSError:
                pass  # the server closed the connection: the point
            answers.append((sent, read_head(sock)))
    for sent, answer in answers:
        assert sent < 32 * 1024 * 1024, "the server read a 32 MiB header"
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431")
    assert rss(server) - before < 16 * 1024 * 1024
    assert healthz(server) == 200


def test_a_slow_header_trickle_is_cut_off(server: Server) -> None:
    start = time.monotonic()
    cut = False
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        for _ in range(4 * HEADER_TIMEOUT_S * 4):  # one byte per 0.25 s, 4x the limit at most
            try:
                sock.sendall(b"X")
            except OSError:
                cut = True
                break
            time.sleep(0.25)
    assert cut, "a client trickling its headers was never cut off"
    assert time.monotonic() - start < 4 * HEADER_TIMEOUT_S
    assert healthz(server) == 200


@pytest.mark.parametrize("path", [MINT, TOKEN])
def test_a_slow_body_gets_a_json_408(server: Server, path: str) -> None:
    with connect(server, timeout=BODY_TIMEOUT + 20) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            'Content-Length: 100\r\n\r\n{"id": '.encode()
        )
        response = sock.recv(65536).decode("latin-1")
    assert response.startswith("HTTP/1.1 408"), response[:200]
    assert '"error":"request_timeout"' in response


def test_many_half_open_connections_keep_descriptors_bounded(server: Server) -> None:
    # On uvicorn 20,000 of these exhausted file descriptors and /healthz was refused.
    baseline = descriptors(server)
    count = 2 * CONNECTIONS
    sockets = []
    start = time.monotonic()
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            try:
                sock.connect(("127.0.0.1", port_of(server)))
            except BlockingIOError:
                pass
            sockets.append(sock)
        time.sleep(1)
        during = descriptors(server)
        assert during <= baseline + CONNECTIONS + 8, (baseline, during)
        # Connections past the limit wait in the backlog; the server cuts the silent
        # ones after the header timeout, a slot's worth at a time, and /healthz is
        # answered, late but answered: within one header timeout per CONNECTIONS
        # idle connections ahead of it, and one more (the bound the operations
        # guide gives for a flood from one address).
        deadline = time.monotonic() + 12 * HEADER_TIMEOUT_S
        status = 0
        while status != 200 and time.monotonic() < deadline:
            status = healthz(server, timeout=4 * HEADER_TIMEOUT_S)
        assert status == 200
        waited = time.monotonic() - start
        assert waited <= (count // CONNECTIONS + 1) * HEADER_TIMEOUT_S, waited
        closed = 0
        for sock in sockets[:CONNECTIONS]:
            sock.setblocking(True)
            sock.settimeout(2 * HEADER_TIMEOUT_S)
            try:
                closed += sock.recv(1) == b""
            except OSError:
                closed += 1
        assert closed == CONNECTIONS  # the server let go of every silent connection
    finally:
        for sock in sockets:
            sock.close()
    # The server sees each close when it next reads that connection; on a busy machine
    # that may take a moment, so wait for it, within the header timeout twice over.
    deadline = time.monotonic() + 2 * HEADER_TIMEOUT_S
    while descriptors(server) > baseline + 8 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert descriptors(server) <= baseline + 8
    assert healthz(server) == 200


@pytest.mark.parametrize(
    ("path", "route"), [(MINT, "/v1/shops/{shop}/customer-token"), (TOKEN, TOKEN)]
)
def test_a_client_leaving_mid_body_is_a_499(server: Server, path: str, route: str) -> None:
    with connect(server) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            'Content-Length: 100\r\n\r\n{"id": '.encode()
        )
    wanted = f'route="{route}",status="499"}} 1'
    metrics = ""
    for _ in range(50):
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        if wanted in metrics:
            break
        time.sleep(0.1)
    assert wanted in metrics
    assert 'status="500"' not in metrics
    assert "Traceback" not in server.output()


def test_a_websocket_upgrade_gets_json(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(
            (
                f"GET /v1/me?signature={sign('42')} HTTP/1.1\r\nHost: x\r\n"
                "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            ).encode()
        )
        response = sock.recv(65536).decode("latin-1")
    assert response.startswith("HTTP/1.1 401"), response[:200]
    assert '"error":"invalid_token"' in response


def post_mint(server: Server, forwarded_for: str) -> int:
    request = urllib.request.Request(
        f"{server.url}{MINT}",
        data=json.dumps({"id": "42", "signature": sign("42")}).encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded_for},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_trusted_proxy_gives_each_client_its_own_bucket(server: Server) -> None:
    # 127.0.0.1 is the default FORWARDED_ALLOW_IPS: the address its X-Forwarded-For
    # names is the client's, with its own per-IP bucket (3/minute in this config).
    assert [post_mint(server, "203.0.113.7") for _ in range(4)] == [200, 200, 200, 429]
    assert post_mint(server, "203.0.113.8") == 200
    # A client cannot pick a bucket by prepending an address: the proxy's is the last hop.
    assert post_mint(server, "198.51.100.1, 203.0.113.7") == 429
