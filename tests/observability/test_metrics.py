"""``/metrics``: the text the service writes, and one scrape adding up several workers."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.testclient import TestClient

from service.observability.metrics import Metrics, exposition, forget_dead_workers
from service.observability.multiprocess import PREFIX
from service.support.secret import Secret
from tests.conftest import SECRET, SHOP, ClientFactory, Clock, make_shop, sign
from tests.helpers import PROXY_SECRET, proxied_query
from tests.oauth_clients import CLIENTS as OAUTH_CLIENTS
from tests.oauth_clients import crm_token, web_token
from tests.servers import Server, config_toml, free_port, start_procfile, start_server

MINTS = (
    'shapestoken_requests_total{method="POST",route="/v1/shops/{shop}/customer-token",status="200"}'
)


def test_labels_keep_their_order_with_le_last_and_counts_are_integers() -> None:
    registry = CollectorRegistry()
    Counter("c", "A counter.", ["b", "a"], registry=registry).labels("1", "2").inc(3)
    histogram = Histogram("h", "A histogram.", ["route"], buckets=(0.5,), registry=registry)
    histogram.labels("/x").observe(0.25)
    text = exposition(registry)
    assert 'c_total{b="1",a="2"} 3\n' in text
    assert 'h_bucket{route="/x",le="0.5"} 1\n' in text
    assert 'h_bucket{route="/x",le="+Inf"} 1\n' in text
    assert 'h_sum{route="/x"} 0.25\n' in text
    assert "# HELP c_total A counter.\n# TYPE c_total counter\n" in text
    assert "# HELP h A histogram.\n# TYPE h histogram\n" in text


def unescape(value: str) -> str:
    """A label value as Prometheus reads it (text format 0.0.4: \\\\, \\n and \\")."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


@given(st.text(max_size=30))
def test_a_label_value_cannot_break_its_line(value: str) -> None:
    registry = CollectorRegistry()
    Gauge("g", "A gauge.", ["v"], registry=registry).labels(value).set(1)
    (line,) = [line for line in exposition(registry).split("\n") if line.startswith("g{")]
    # One line, and the value reads back as Prometheus unescapes it.
    inner = line.removeprefix('g{v="').removesuffix('"} 1')
    assert '"' not in inner.replace("\\\\", "").replace('\\"', "")
    assert unescape(inner) == value


def test_gauges_are_read_at_each_scrape() -> None:
    metrics = Metrics()
    tracked = [3.0]
    metrics.gauge("t_keys", "Keys.", {"limiter": "per_ip"}, lambda: tracked[0])
    assert 't_keys{limiter="per_ip"} 3\n' in metrics.render()
    tracked[0] = 5
    assert 't_keys{limiter="per_ip"} 5\n' in metrics.render()


def test_a_dead_workers_gauges_go_and_its_counts_stay(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    for name in (f"gauge_livesum_{child.pid}.db", f"counter_{child.pid}.db"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / f"gauge_livesum_{os.getpid()}.db").write_bytes(b"")
    forget_dead_workers(str(tmp_path))
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"counter_{child.pid}.db",
        f"gauge_livesum_{os.getpid()}.db",
    ]


# -- real servers with two workers -------------------------------------------------------


def series(text: str, name: str) -> dict[str, int]:
    """The samples of one counter in a scrape: labels -> value."""
    found = re.findall(rf"^{name}(\{{[^}}]*\}}) (\d+)$", text, flags=re.MULTILINE)
    return {labels: int(value) for labels, value in found}


@pytest.fixture
def minting(client_factory: ClientFactory) -> TestClient:
    """A shop that takes signed ids, timestamps and the App Proxy, and both OAuth clients."""
    shop = make_shop(app_proxy_secret=Secret(PROXY_SECRET), signature_max_age=3600)
    return client_factory(shops={SHOP: shop}, clients=OAUTH_CLIENTS)


def test_issued_tokens_are_counted_by_kind_shop_and_proof(
    minting: TestClient, clock: Clock
) -> None:
    path = f"/v1/shops/{SHOP}/customer-token"
    assert minting.post(path, json={"id": "42", "signature": sign("42")}).status_code == 200
    ts = int(clock())
    timestamped = {"id": "42", "ts": ts, "signature": sign("42", ts=ts)}
    assert minting.post(path, json=timestamped).status_code == 200
    query = urlencode(proxied_query(clock))
    assert minting.get(f"/v1/app-proxy/customer-token?{query}").status_code == 200
    crm_token(minting)
    web_token(minting)
    web_token(minting)
    issued = series(minting.get("/metrics").text, "shapestoken_tokens_issued_total")
    assert issued == {
        f'{{kind="customer",shop="{SHOP}",proof="signature"}}': 1,
        f'{{kind="customer",shop="{SHOP}",proof="timestamp"}}': 1,
        f'{{kind="customer",shop="{SHOP}",proof="app_proxy"}}': 1,
        '{kind="client_credentials",shop="",proof=""}': 1,
        '{kind="implicit",shop="",proof=""}': 2,
    }


def test_refusals_are_counted_by_error_code(minting: TestClient) -> None:
    path = f"/v1/shops/{SHOP}/customer-token"
    body = {"id": "42", "signature": sign("42")}
    assert (
        minting.post(path, json=body, headers={"Origin": "https://evil.example"}).status_code == 403
    )
    assert minting.post(path, json={**body, "signature": "0" * 64}).status_code == 401
    assert minting.post(path, json={**body, "signature": "0" * 64}).status_code == 401
    refusals = series(minting.get("/metrics").text, "shapestoken_refusals_total")
    assert refusals == {'{error="origin_not_allowed"}': 1, '{error="invalid_signature"}': 2}


def test_a_request_cannot_add_a_series(minting: TestClient) -> None:
    # Shops in the path, headers and bodies are the caller's: none becomes a label value.
    minting.post(f"/v1/shops/{SHOP}/customer-token", json={"id": "1", "signature": "0" * 64})
    before = minting.get("/metrics").text
    for i in range(20):
        made_up = f"made-up-{i}.myshopify.com"
        minting.post(f"/v1/shops/{made_up}/customer-token", json={"id": "1", "signature": "x"})
        minting.post(f"/v1/shops/{SHOP}/customer-token", json={"id": "1", "signature": "0" * 64})
        minting.get(f"/nowhere-{i}", headers={"X-Request-ID": f"request-{i:04d}"})
    after = minting.get("/metrics").text
    names = ("shapestoken_tokens_issued_total", "shapestoken_refusals_total")
    grown = {name: set(series(after, name)) - set(series(before, name)) for name in names}
    assert grown == {
        "shapestoken_tokens_issued_total": set(),
        # Each code once, the first time it is seen: the codes are the service's own.
        "shapestoken_refusals_total": {'{error="unknown_shop"}', '{error="not_found"}'},
    }
    assert "made-up" not in after and "nowhere" not in after


def test_label_values_outside_the_config_and_the_code_are_folded() -> None:
    metrics = Metrics(shops=[SHOP])
    metrics.issued("customer", "made-up.myshopify.com", "signature")
    metrics.issued("made_up_kind", SHOP, "made_up_proof")
    for i in range(10):
        metrics.refused(f"made_up_error_{i}")
    metrics.refused("rate_limited")
    text = metrics.render()
    assert series(text, "shapestoken_tokens_issued_total") == {
        '{kind="customer",shop="unknown",proof="signature"}': 1,
        f'{{kind="other",shop="{SHOP}",proof="other"}}': 1,
    }
    assert series(text, "shapestoken_refusals_total") == {
        '{error="other"}': 10,
        '{error="rate_limited"}': 1,
    }


def call(server: Server, method: str, path: str, body: bytes | None = None) -> tuple[int, str]:
    """One request on a new connection, so the kernel may hand it to either worker."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def worker_files(server: Server, kind: str) -> dict[int, Path]:
    """The workers' metric files of ``kind`` (counter, gauge_livesum, ...) by pid."""
    pattern = f"{PREFIX}{os.getuid()}-{server.process.pid}-*/{kind}_*.db"
    return {
        int(path.stem.rpartition("_")[2]): path
        for path in Path(tempfile.gettempdir()).glob(pattern)
    }


def mint_until_both_workers_counted(server: Server) -> int:
    """Mint on new connections until two workers have counted; how many were minted.

    The server is ready when one worker answers; on a busy machine the other may
    still be starting, so this waits for it by the clock, not by a count.
    """
    deadline = time.monotonic() + 30
    minted = 0
    while minted < 20 or len(worker_files(server, "counter")) < 2:
        assert time.monotonic() < deadline, f"one worker answered all {minted} requests in 30 s"
        customer = str(1000 + minted)  # one each: the per-customer limit stays out of it
        body = json.dumps({"id": customer, "signature": sign(customer)}).encode()
        status, _ = call(server, "POST", f"/v1/shops/{SHOP}/customer-token", body)
        assert status == 200
        minted += 1
    return minted


def scraped(server: Server, series: str) -> list[int]:
    """The value of ``series`` in each of six scrapes, whichever worker answers them."""
    values = []
    for _ in range(6):
        status, text = call(server, "GET", "/metrics")
        assert status == 200
        found = re.search(rf"^{re.escape(series)} (\d+)$", text, re.MULTILINE)
        values.append(int(found.group(1)) if found else 0)
    return values


def settle(server: Server, series: str, value: int) -> None:
    """Wait until a scrape shows ``value``: a worker counts a request after answering it."""
    deadline = time.monotonic() + 10
    while scraped(server, series)[0] != value:
        assert time.monotonic() < deadline, f"{series} never reached {value}"
        time.sleep(0.05)


def two_workers_add_up(server: Server, kill: Callable[[int], None] | None = None) -> None:
    minted = mint_until_both_workers_counted(server)
    settle(server, MINTS, minted)
    assert scraped(server, MINTS) == [minted] * 6
    assert len(worker_files(server, "gauge_livesum")) == 2  # tracked keys, per worker
    if kill is None:
        return
    victim = min(worker_files(server, "counter"))
    kill(victim)
    # Its requests still count (a counter never goes back); its gauges are gone.
    deadline = time.monotonic() + 20
    while victim in worker_files(server, "gauge_livesum"):
        assert time.monotonic() < deadline, "the dead worker's gauges stayed"
        assert scraped(server, MINTS)[0] == minted
        time.sleep(0.2)
    assert scraped(server, MINTS) == [minted] * 6


def sigkill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def stop(server: Server) -> None:
    """Stop the server and remove the directory its workers shared, as its next start would."""
    server.stop()
    pattern = f"{PREFIX}{os.getuid()}-{server.process.pid}-*"
    for directory in Path(tempfile.gettempdir()).glob(pattern):
        shutil.rmtree(directory)


@pytest.mark.e2e
def test_uvicorn_workers_add_up_in_one_scrape_even_after_one_dies(tmp_path: Path) -> None:
    port = free_port()
    server = start_server(
        tmp_path,
        config_toml(f"http://127.0.0.1:{port}"),
        port=port,
        workers=2,
        env={"WEB_CONCURRENCY": "2", "SHOP_ID_SECRET": SECRET},
    )
    try:
        # uvicorn's supervisor starts a new worker in the dead one's place.
        two_workers_add_up(server, kill=sigkill)
    finally:
        stop(server)


@pytest.mark.e2e
def test_granian_workers_of_the_procfile_add_up_in_one_scrape(tmp_path: Path) -> None:
    port = free_port()
    server = start_procfile(
        tmp_path,
        config_toml(f"http://127.0.0.1:{port}"),
        port=port,
        env={"WEB_CONCURRENCY": "2"},
    )
    try:
        two_workers_add_up(server)
    finally:
        stop(server)
