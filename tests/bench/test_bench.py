"""The benchmark harness's pieces, and one very short real run of it.

No timing is asserted: throughput is what ``python -m bench`` is for. What is
asserted is what would make its numbers wrong: bodies the service would refuse,
a naive peer that answers something else, ratios not taken pair by pair,
a round that measured errors instead of mints.
"""

from __future__ import annotations

import json
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from bench import memory, report, runner, workload, wrk
from bench.report import Round
from bench.wrk import LoadResult
from service.config import Rate, parse_settings
from service.customers.signatures import CustomerSigner, parse_customer_id
from service.support.secret import Secret
from tests.servers import Server


def test_bodies_are_validly_signed_for_distinct_customers(tmp_path: Path) -> None:
    path = workload.write_bodies(tmp_path / "bodies.txt", 10**12, 50)
    bodies = [json.loads(line) for line in path.read_text().splitlines()]
    signer = CustomerSigner([Secret(workload.SECRET)])
    for body in bodies:
        assert set(body) == {"id", "signature"}
        signer.verify(parse_customer_id(body["id"]), body["signature"])
    assert len({body["id"] for body in bodies}) == 50


@pytest.mark.parametrize("state", ["memory", "redis://127.0.0.1:6390/0"])
def test_the_config_raises_only_the_per_ip_limit(state: str) -> None:
    raw = tomllib.loads(workload.config_text(state=state))
    settings = parse_settings(raw, environ={workload.SECRET_ENV: workload.SECRET})
    assert set(settings.shops) == {workload.SHOP}
    assert str(settings.state) == state
    # One load address: never limited. Every customer is new: the default is enough.
    assert settings.rate_limits.per_ip == Rate(1_000_000, 1)
    assert settings.rate_limits.per_customer == Rate(30, 60)
    defaults = tomllib.loads(workload.config_text(raised=False, max_entries=1234))
    limits = parse_settings(defaults, environ={workload.SECRET_ENV: workload.SECRET}).rate_limits
    assert limits.per_ip == Rate(120, 60) and limits.max_entries == 1234


def test_wrk_result_line_is_read() -> None:
    line = (
        'BENCH_RESULT {"requests":1000,"duration_us":2000000,"p50_us":1500,"p99_us":12345,'
        '"connect":1,"read":2,"write":0,"timeout":3,"non_2xx":4,"wraps":0}'
    )
    result = wrk.parse(f"Running 2s test @ http://127.0.0.1:1/x\n{line}\n")
    assert result == LoadResult(1000, 2.0, 1.5, 12.345, non_2xx=4, socket_errors=6, wraps=0)
    assert result.rps == 500
    with pytest.raises(ValueError, match="BENCH_RESULT"):
        wrk.parse("Running 2s test\n")


def measured(app: str, index: int, rps: float, *, workers: int = 1, **load: Any) -> Round:
    values: dict[str, Any] = {"p50_ms": 1.0, "p99_ms": 5.0, "non_2xx": 0, "socket_errors": 0}
    values.update(load)
    return Round(app, workers, index, LoadResult(int(rps * 10), 10.0, **values), cpu_us=100.0)


def test_ratios_are_medians_of_same_round_pairs_and_targets_are_judged() -> None:
    rounds = [
        measured("service", 0, 600, p99_ms=9.0),
        measured("baseline", 0, 1000),
        measured("naive", 0, 300),
        measured("redis", 0, 480),
        measured("service", 1, 500, p99_ms=12.0),
        measured("baseline", 1, 1000),
        measured("naive", 1, 400, non_2xx=1),
        measured("redis", 1, 450),
        measured("service", 0, 900, workers=2),
        measured("baseline", 0, 1500, workers=2),
    ]
    # Pairs 2.0 and 1.25: the median of the pairs, not 550 / 350 of the medians.
    assert report.ratio(rounds, 1, "service", "naive") == pytest.approx(1.625)
    assert report.ratio(rounds, 1, "service", "baseline") == pytest.approx(0.55)
    assert report.ratio(rounds, 1, "redis", "service") == pytest.approx(0.85)
    assert report.ratio(rounds, 2, "service", "naive") is None
    targets = report.targets_table(rounds).splitlines()
    assert targets[0] == "| same run | 1 worker | 2 workers | target | at 1 worker |"
    assert targets[2:] == [
        "| service / bare Starlette, req/s | 0.55 | 0.60 | >= 0.45 | met |",
        "| service / naive peer, req/s | 1.62 | - | >= 1.6 | met |",
        "| service on Redis / in memory, req/s | 0.85 | - | >= 0.8 | met |",
        "| service p99, ms | 10.5 | 5.0 | <= 10 | **NOT met** |",
        "| non-2xx + socket errors, every app | 1 | 0 | 0 | **NOT met** |",
    ]
    apps = report.apps_table(rounds).splitlines()
    assert apps[2] == "| service, `state = memory` | 1 | 550 | 1.0 | 10.5 | 0 | 0 | 100 |"
    assert "| naive peer (`bench/naive.py`) | 1 | 350 | 1.0 | 5.0 | 1 | 0 | 100 |" in apps
    assert len(apps) == 2 + 4 + 2


def test_an_app_left_out_is_not_measured_rather_than_met() -> None:
    rounds = [measured("service", 0, 600), measured("baseline", 0, 1000)]
    lines = report.targets_table(rounds).splitlines()
    assert "| service / naive peer, req/s | - | >= 1.6 | not measured |" in lines


def test_a_figure_never_rounds_across_its_target() -> None:
    rounds = [measured("service", 0, 1000, p99_ms=10.04), measured("redis", 0, 797)]
    lines = report.targets_table(rounds).splitlines()
    assert "| service on Redis / in memory, req/s | 0.79 | >= 0.8 | **NOT met** |" in lines
    assert "| service p99, ms | 10.1 | <= 10 | **NOT met** |" in lines


def post(url: str, body: bytes) -> tuple[int, dict[str, Any], str]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), response.headers["Cache-Control"]
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers["Cache-Control"]


@pytest.mark.e2e
def test_the_naive_peer_answers_like_the_service(tmp_path: Path) -> None:
    servers: dict[str, Server] = {}
    try:
        for app in ("service", "naive"):
            servers[app] = runner.start(app, tmp_path / app, workers=1, redis_url="")
        (good,) = workload.customer_bodies(10**12, 1)
        answers = {
            app: post(s.url + workload.ENDPOINT, good.encode()) for app, s in servers.items()
        }
        for bad, status in ((good[:-3] + '00"}', 401), ('{"id": "1", "signature": "x"', 400)):
            for app, server in servers.items():
                assert post(server.url + workload.ENDPOINT, bad.encode())[0] == status, app
    finally:
        for server in servers.values():
            server.stop()
    (naive_key,) = (tmp_path / "naive" / "keys").glob("*.pem")
    private = load_pem_private_key(naive_key.read_bytes(), None)
    service_status, service_body, service_cache = answers["service"]
    naive_status, naive_body, naive_cache = answers["naive"]
    assert service_status == naive_status == 200
    assert service_cache == naive_cache == "no-store"
    assert set(naive_body) == set(service_body)
    claims = {}
    for app, body in (("service", service_body), ("naive", naive_body)):
        header = jwt.get_unverified_header(body["access_token"])
        assert header.keys() == {"alg", "typ", "kid"} and header["alg"] == "ES256", app
        assert header["typ"] == "at+jwt", app
        claims[app] = jwt.decode(
            body["access_token"], options={"verify_signature": False}, audience=workload.ISSUER
        )
    jwt.decode(
        naive_body["access_token"],
        private.public_key(),  # type: ignore[arg-type]
        algorithms=["ES256"],
        audience=workload.ISSUER,
        issuer=workload.ISSUER,
    )
    assert claims["naive"].keys() == claims["service"].keys()
    fixed = ("iss", "sub", "aud", "client_id", "token_use", "shop", "scope")
    assert {k: claims["naive"][k] for k in fixed} == {k: claims["service"][k] for k in fixed}
    for key in ("expires_in", "identifier", "scope", "token_type"):
        assert naive_body[key] == service_body[key], key


@pytest.mark.e2e
def test_a_short_real_run_mints_on_every_app_without_a_single_error() -> None:
    options = runner.Options(rounds=1, seconds=1.0, warmup_seconds=1.0)
    rounds = runner.run(options)
    assert [r.app for r in rounds] == list(runner.APPS)
    for done in rounds:
        assert done.load.requests > 0, done
        assert done.load.non_2xx == done.load.socket_errors == done.load.wraps == 0, done
        assert done.cpu_us > 0, done
    (redis,) = [r for r in rounds if r.app == "redis"]
    assert redis.redis_cpu_us is not None and redis.redis_cpu_us > 0
    text = report.markdown(rounds, "preamble")
    for label in report.LABELS.values():
        assert f"| {label} | 1 |" in text
    assert "| non-2xx + socket errors, every app | 0 | 0 | met |" in text


def test_memory_stays_bounded_by_max_entries() -> None:
    text = memory.run(600, max_entries=100)
    (last,) = [line for line in text.splitlines() if line.startswith("| 600 |")]
    cells = [cell.strip() for cell in last.strip("|").split("|")]
    assert cells[3:5] == ["100", "100"]  # per-customer and per-IP entries: the bound
    assert "did not get 200" not in text
