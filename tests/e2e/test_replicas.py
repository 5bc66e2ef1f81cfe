"""Several replicas: two real server processes sharing one real Redis.

Replicas share an issuer, signing keys and a Redis, as they would behind a
load balancer. The tests prove that a limit is exact across both under
concurrency, that blocks, revocations (``/oauth/revoke`` on one, introspection
and ``/v1/me`` on the other) and one-time proofs hold everywhere,
that every key expires, and that a dead or slow Redis fails closed (503, never
a 500 or an unchecked token) and recovers without a restart. The fault tests
stop and pause this module's Redis, so they come last.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from service.signing.dpop import REPLAY_SECONDS
from service.state.monitor import SETTLE
from service.support.clock import LEEWAY
from tests.conftest import SECRET, Clock, sign
from tests.dpop import ProofKey
from tests.helpers import PROXY_SECRET, proxied_query
from tests.oauth_clients import basic
from tests.redis_server import RedisServer
from tests.replicas import (
    API_CLIENT,
    API_SECRET,
    LIMITED_CLIENT,
    LIMITED_SECRET,
    PER_CLIENT,
    PER_CUSTOMER,
    SHOP,
    introspect,
    replica_config,
    start_replicas,
)
from tests.servers import (
    MINT,
    ROOT,
    Response,
    Server,
    call,
    free_port,
    get,
    mint,
    server_env,
    shapestoken,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def redis_for_replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("replicas-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, redis_for_replicas: RedisServer
) -> Iterator[tuple[Server, Server]]:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"  # one public URL for both, as behind a balancer
    config = replica_config(issuer, redis_for_replicas.url)
    one, other = start_replicas(tmp_path_factory, config, port)
    yield one, other
    for server in (one, other):
        log = server.stop()
        assert "Traceback" not in log and SECRET not in log and "eyJ" not in log


def me(server: Server, token: str) -> int:
    status, _, _ = get(server, "/v1/me", {"Authorization": f"Bearer {token}"})
    return status


def oauth(server: Server, path: str, client: tuple[str, str], **params: str) -> Response:
    body = urllib.parse.urlencode(params).encode()
    headers = {**basic(*client), "Content-Type": "application/x-www-form-urlencoded"}
    return call(server, "POST", path, body, headers)


def customers(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return shapestoken("customers", *args, env=server.env)


def wait_past(instant: float) -> None:
    """Sleep until the wall clock's whole second is past ``instant``'s (at most a second).

    ``iat`` counts whole seconds, so a token minted in the second of a block counts
    as minted before it (the safe side); a test that wants a token after the
    block mints it in a later second.
    """
    while int(time.time()) <= int(instant):
        time.sleep(0.05)


def redis_keys(server: RedisServer) -> dict[str, int]:
    with server.client() as client:
        return {key.decode(): int(client.pttl(key)) for key in client.scan_iter()}


# -- shared limits, blocks, revocations, proofs ---------------------------------------------


def test_the_limit_is_exact_across_both_under_concurrency(
    replicas: tuple[Server, Server],
) -> None:
    def attempt(index: int) -> tuple[int, int, str | None]:
        server = replicas[index % 2]
        status, headers, _ = mint(server, "1001")
        return index % 2, status, headers.get("retry-after")

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(attempt, range(100)))
    statuses = [status for _, status, _ in results]
    assert statuses.count(200) == PER_CUSTOMER
    assert statuses.count(429) == 100 - PER_CUSTOMER
    # Both replicas minted; together they never passed the one limit.
    assert {replica for replica, status, _ in results if status == 200} == {0, 1}
    # 30/hour: the next token in 120 s at most.
    assert all(0 < int(after or 0) <= 120 for _, status, after in results if status == 429)


def test_a_block_holds_on_every_replica(replicas: tuple[Server, Server]) -> None:
    one, other = replicas
    status, _, body = mint(one, "2002")
    assert status == 200
    earlier = body["access_token"]
    assert me(other, earlier) == 200

    blocked = customers(one, "block", SHOP, "2002", "--reason", "card testing")
    assert blocked.returncode == 0, blocked.stderr
    for server in replicas:
        status, headers, body = mint(server, "2002")
        assert (status, body["error"]) == (403, "customer_blocked")
        assert me(server, earlier) == 401
    listed = customers(other, "list")
    assert listed.stdout.split("\t")[:2] == [SHOP, "2002"]
    assert listed.stdout.rstrip("\n").endswith("\tcard testing")
    assert mint(one, "2003")[0] == 200  # only that customer

    since = time.time()
    assert customers(other, "unblock", SHOP, "2002").returncode == 0
    wait_past(since)
    status, _, body = mint(other, "2002")
    assert status == 200
    for server in replicas:
        assert me(server, body["access_token"]) == 200
        # Issued before the block: inactive until it expires anyway.
        assert me(server, earlier) == 401


def test_a_revocation_on_one_replica_holds_on_the_other(replicas: tuple[Server, Server]) -> None:
    one, other = replicas
    customer_token = mint(one, "3003")[2]["access_token"]
    kept = mint(other, "3003")[2]["access_token"]
    status, _, body = oauth(
        other, "/oauth/token", (API_CLIENT, API_SECRET), grant_type="client_credentials"
    )
    assert status == 200, body
    client_token = body["access_token"]
    assert introspect(other, customer_token) and introspect(one, client_token)

    # RFC 7009: the API ends a customer's session on one replica, its own token on the other.
    revoked = oauth(one, "/oauth/revoke", (API_CLIENT, API_SECRET), token=customer_token)
    assert revoked[:1] == (200,) and revoked[2] == ""
    assert oauth(other, "/oauth/revoke", (API_CLIENT, API_SECRET), token=client_token)[0] == 200
    for server in replicas:
        assert not introspect(server, customer_token)
        assert not introspect(server, client_token)
        assert me(server, customer_token) == 401
        # Another token of the same customer is untouched.
        assert introspect(server, kept) and me(server, kept) == 200


def test_a_block_makes_earlier_tokens_inactive_at_introspection_everywhere(
    replicas: tuple[Server, Server],
) -> None:
    one, other = replicas
    token = mint(one, "3004")[2]["access_token"]
    assert introspect(other, token)
    assert customers(other, "block", SHOP, "3004").returncode == 0
    for server in replicas:
        assert not introspect(server, token)
    assert customers(one, "unblock", SHOP, "3004").returncode == 0
    assert not introspect(other, token)  # issued before the block


def test_the_per_client_limit_is_exact_across_both(replicas: tuple[Server, Server]) -> None:
    def attempt(index: int) -> int:
        return oauth(
            replicas[index % 2],
            "/oauth/token",
            (LIMITED_CLIENT, LIMITED_SECRET),
            grant_type="client_credentials",
        )[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(attempt, range(20)))
    assert (statuses.count(200), statuses.count(429)) == (PER_CLIENT, 20 - PER_CLIENT)


def test_an_app_proxy_request_is_accepted_once_across_replicas(
    replicas: tuple[Server, Server],
) -> None:
    query = urllib.parse.urlencode(proxied_query(Clock(time.time()), customer="4004"))
    one, other = replicas
    status, _, _ = get(one, f"/v1/app-proxy/customer-token?{query}")
    assert status == 200
    status, _, body = get(other, f"/v1/app-proxy/customer-token?{query}")
    assert (status, body["error"]) == (401, "invalid_signature")
    assert "already used" in body["error_description"]


def test_a_dpop_proof_used_on_one_replica_is_refused_on_the_other(
    replicas: tuple[Server, Server],
) -> None:
    one, other = replicas
    key = ProofKey()
    body = json.dumps({"id": "6006", "signature": sign("6006")}).encode()
    proof = key.proof(url=one.url + MINT, now=time.time())
    headers = {"Content-Type": "application/json", "DPoP": proof}
    status, _, minted = call(one, "POST", MINT, body, headers)
    assert status == 200, minted
    assert minted["token_type"] == "DPoP"
    status, _, refused = call(other, "POST", MINT, body, headers)
    assert (status, refused["error"]) == (400, "invalid_dpop_proof")
    # At /v1/me too: the same jti, remembered in the one Redis.
    token = minted["access_token"]
    proof = key.proof("GET", f"{one.url}/v1/me", now=time.time(), token=token)
    auth = {"Authorization": f"DPoP {token}", "DPoP": proof}
    assert get(other, "/v1/me", auth)[0] == 200
    status, headers, answer = get(one, "/v1/me", auth)
    assert (status, answer["error"]) == (401, "invalid_dpop_proof")
    assert headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    # One replica's nonce is good on the other (keyed by the shared signing keys).
    stale = key.proof("GET", f"{one.url}/v1/me", now=time.time() - 120, token=token)
    status, headers, _ = get(one, "/v1/me", {**auth, "DPoP": stale})
    assert status == 401
    nonce = headers["dpop-nonce"]
    late = key.proof("GET", f"{one.url}/v1/me", now=time.time() - 120, token=token, nonce=nonce)
    assert get(other, "/v1/me", {**auth, "DPoP": late})[0] == 200


def test_every_key_expires_but_the_blocks(
    replicas: tuple[Server, Server], redis_for_replicas: RedisServer
) -> None:
    one, _ = replicas
    assert customers(one, "block", SHOP, "5005", "--reason", "kept").returncode == 0
    ttls = redis_keys(redis_for_replicas)
    assert ttls.pop("shapestoken:blocks") == -1
    kinds = {key.split(":")[1] for key in ttls}
    assert kinds == {"rate", "revoked", "proof", "unblocked"}, ttls
    assert all(key.startswith("shapestoken:") for key in ttls)
    # Each lives at most its lifetime plus a second: a limit's TAT runs at most
    # one period ahead (30/hour after a burst of 30: an hour); a revocation, until
    # its token's exp plus the verifiers' leeway; an unblock record, the longest
    # token TTL (a client's 3600 s here) plus the leeway; a proof, 180 s for an App
    # Proxy signature and REPLAY_SECONDS for a DPoP proof's jti.
    kept = 3600 + LEEWAY
    longest = {"rate": 3600, "revoked": kept, "unblocked": kept, "proof": REPLAY_SECONDS}
    for key, ttl in ttls.items():
        assert 0 < ttl <= longest[key.split(":")[1]] * 1000 + 1000, key
    assert customers(one, "unblock", SHOP, "5005").returncode == 0


# -- faults ---------------------------------------------------------------------------------


def test_a_dead_redis_fails_fast_with_503_and_recovery_needs_no_restart(
    replicas: tuple[Server, Server], redis_for_replicas: RedisServer
) -> None:
    token = mint(replicas[0], "6006")[2]["access_token"]
    redis_for_replicas.stop()
    try:
        for server in replicas:
            for _ in range(10):
                started = time.monotonic()
                status, headers, body = mint(server, "6006")
                assert time.monotonic() - started < 1.0  # refused at once, no retries
                assert status == 503 and headers["retry-after"] == "1"
                assert body["error"] == "temporarily_unavailable"
                assert "access_token" not in body
            assert me(server, token) == 503
            # A wrong signature is counted per address, which cannot be done now.
            wrong = json.dumps({"id": "6006", "signature": sign("6007")}).encode()
            status, _, body = call(
                server, "POST", MINT, wrong, {"Content-Type": "application/json"}
            )
            assert (status, body["error"]) == (503, "temporarily_unavailable")
            # The OAuth endpoints fail closed too: no token, no word on a token's state.
            for path, params in (
                ("/oauth/token", {"grant_type": "client_credentials"}),
                ("/oauth/introspect", {"token": token}),
                ("/oauth/revoke", {"token": token}),
            ):
                status, headers, body = oauth(server, path, (API_CLIENT, API_SECRET), **params)
                assert status == 503 and headers["retry-after"] == "1", path
                assert body["error"] == "temporarily_unavailable", path
            assert get(server, "/readyz")[0] == 503
            assert get(server, "/healthz")[0] == 200
            metrics = get(server, "/metrics")[2]
            # Ten mints, the wrong signature, the token request; /v1/me and the
            # introspection; the revocation.
            assert 'shapestoken_state_errors_total{operation="check"} 12' in metrics
            assert 'shapestoken_state_errors_total{operation="token_active"} 2' in metrics
            assert 'shapestoken_state_errors_total{operation="revoke"} 1' in metrics
            assert 'status="500"' not in metrics
    finally:
        redis_for_replicas.start()  # the same port, empty
    for server in replicas:
        assert mint(server, "6006")[0] == 200
        assert get(server, "/readyz")[0] == 200
    # The outage is over once the backend has answered for SETTLE seconds.
    deadline = time.monotonic() + SETTLE + 10
    while not all("state backend is back" in server.output() for server in replicas):
        assert time.monotonic() < deadline
        time.sleep(0.5)
        for server in replicas:
            assert get(server, "/readyz")[0] == 200
    for server in replicas:
        log = server.output()
        assert log.count("state backend unavailable") == 1
        assert log.count("state backend is back") == 1


def test_a_slow_redis_is_bounded_by_the_timeout(
    replicas: tuple[Server, Server], redis_for_replicas: RedisServer
) -> None:
    one, _ = replicas
    assert mint(one, "7007")[0] == 200
    redis_for_replicas.pause(2000)
    started = time.monotonic()
    status, headers, body = mint(one, "7007")
    elapsed = time.monotonic() - started
    assert (status, body["error"], headers["retry-after"]) == (503, "temporarily_unavailable", "1")
    assert elapsed < 1.0  # 250 ms, not the 2 s pause
    deadline = time.monotonic() + 10
    while mint(one, "7007")[0] != 200:
        assert time.monotonic() < deadline, "did not recover after the pause"
        time.sleep(0.1)
    metrics = get(one, "/metrics")[2]
    assert 'shapestoken_state_duration_seconds_bucket{operation="check",le="0.25"}' in metrics


# -- memory state with several workers ----------------------------------------------------


def run_until_logged(
    command: list[str], env: Mapping[str, str], log: Path, needle: str, port: int
) -> str:
    """Run a server until both workers have logged ``needle`` and it serves; its whole log.

    The log is read after the server has exited, so it holds everything the server
    said from its start to its end: a count of ``needle`` in it is exact.
    """
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=dict(env), cwd=ROOT, stdout=out, stderr=out, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 30
        while log.read_text().count(needle) < 2 or not healthy(port):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        # The whole group (a server's workers are its children), at once: the test
        # reads only what the server said, and a graceful stop of Granian's workers
        # takes over 10 s on a loaded machine.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    return log.read_text()


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def worker_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    config = tmp_path / "shapestoken.toml"
    config.write_text(replica_config(f"http://127.0.0.1:{port}", "memory"))
    # A platform has the installed scripts on PATH; so does the venv's bin directory.
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    env = server_env(config, {"PATH": path, "PROXY_SECRET": PROXY_SECRET, **extra})
    assert shapestoken("keys", "generate", env=env).returncode == 0
    return env


WARNING = 'state = "memory" with 2 workers: limits and revocations are per process'


def test_the_procfile_warns_when_its_workers_keep_memory_state(tmp_path: Path) -> None:
    (web,) = [
        line.split(":", 1)[1].strip()
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    ]
    port = free_port()
    env = worker_env(tmp_path, port, PORT=str(port), WEB_CONCURRENCY="2")
    log = run_until_logged(["bash", "-c", f"exec {web}"], env, tmp_path / "log", WARNING, port)
    assert log.count(WARNING) == 2  # once per worker


def test_serve_with_workers_warns_when_they_keep_memory_state(tmp_path: Path) -> None:
    port = free_port()
    env = worker_env(tmp_path, port)
    env.pop("WEB_CONCURRENCY", None)
    command = [sys.executable, "-m", "service", "serve", "--workers", "2", "--port", str(port)]
    log = run_until_logged(command, env, tmp_path / "log", WARNING, port)
    assert log.count(WARNING) == 2
