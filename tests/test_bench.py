"""The benchmark harness's pure parts, and the fast paths it measures.

No timing here: throughput is what ``python -m bench`` is for.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import jwt
import pytest

from bench import workspace
from bench.asgi import Driver, service_app
from bench.load import LoadResult, parse_wrk_output
from bench.loadgen import parse_head, percentile, request_bytes
from bench.memory import checkpoints_for, client_address
from bench.profiling import OTHER, breakdown_table, classify, parse_collapsed
from bench.report import (
    BASELINE,
    SERVICE,
    Round,
    rounds_table,
    summarize,
    summary_table,
    targets_line,
)
from service import keys
from service.config import parse_settings
from service.secret import Secret
from service.signatures import CustomerSigner, parse_customer_id
from service.tokens import ACCESS_TOKEN_TYP, CompactSigner
from service.web.http import JSON

SECRET = "k" * 64


def test_bodies_are_validly_signed_for_distinct_customers() -> None:
    bodies = [json.loads(body) for body in workspace.customer_bodies(SECRET, 10**12, 50)]
    signer = CustomerSigner([Secret(SECRET)])
    for body in bodies:
        assert set(body) == {"id", "signature"}
        signer.verify(parse_customer_id(body["id"]), body["signature"])
    assert len({body["id"] for body in bodies}) == 50


def test_bodies_file_has_one_body_per_line(tmp_path: Path) -> None:
    path = workspace.write_bodies(tmp_path / "bodies.txt", SECRET, 10**12, 7)
    lines = path.read_text().splitlines()
    assert len(lines) == 7
    assert json.loads(lines[0])["id"] == str(10**12)


def test_customer_ids_never_repeat() -> None:
    ids = workspace.CustomerIds(first=100)
    assert ids.take(10) == 100
    assert ids.take(5) == 110
    assert ids.take(1) == 115


@pytest.mark.parametrize("rates", [workspace.UNLIMITED, workspace.DEFAULT_RATES])
def test_config_is_accepted_by_the_service(rates: tuple[str, str]) -> None:
    import tomllib

    raw = tomllib.loads(workspace.config_text(rates=rates, max_entries=1234))
    settings = parse_settings(raw, environ={workspace.SECRET_ENV: SECRET})
    assert set(settings.shops) == {workspace.SHOP}
    assert settings.rate_limits.max_entries == 1234
    assert str(settings.rate_limits.per_customer) == rates[0]
    assert str(settings.rate_limits.per_ip) == rates[1]


def test_throughput_limits_are_far_above_any_load() -> None:
    import tomllib

    raw = tomllib.loads(workspace.config_text())
    limits = parse_settings(raw, environ={workspace.SECRET_ENV: SECRET}).rate_limits
    assert limits.per_ip.limit / limits.per_ip.period >= 1_000_000
    assert limits.per_customer.limit / limits.per_customer.period >= 1_000


WRK_OUTPUT = """Running 8s test @ http://127.0.0.1:1/x
BENCH_RESULT {"requests":1000,"duration_us":2000000,"bytes":1,"connect_errors":1,\
"read_errors":2,"write_errors":0,"timeouts":3,"status_errors":0,"p50_us":1500,"p90_us":2000,\
"p99_us":12345,"p999_us":20000,"mean_us":1600.5,"max_us":30000,"wraps":0,"non_2xx":4}
"""


def test_wrk_result_line_is_parsed() -> None:
    result = parse_wrk_output(WRK_OUTPUT)
    assert result.requests == 1000
    assert result.rps == 500
    assert result.p50_ms == 1.5 and result.p99_ms == 12.345
    assert result.non_2xx == 4 and result.socket_errors == 6 and result.wraps == 0


def test_wrk_output_without_a_result_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="BENCH_RESULT"):
        parse_wrk_output("Running 8s test\n")


def test_the_lua_script_reports_what_the_parser_reads() -> None:
    lua = (Path(workspace.__file__).parent / "post.lua").read_text()
    for key in json.loads(WRK_OUTPUT.splitlines()[1].split(" ", 1)[1]):
        assert f'"{key}":' in lua


def load(rps: float, p99: float = 5.0, non_2xx: int = 0) -> LoadResult:
    return LoadResult(
        requests=int(rps * 10), seconds=10, p50_ms=1.0, p99_ms=p99, non_2xx=non_2xx, socket_errors=0
    )


def test_summary_takes_medians_and_pairs_rounds() -> None:
    rounds = [
        Round(SERVICE, 1, 0, load(600), server_cpu_seconds=1.2),
        Round(BASELINE, 1, 0, load(1000), server_cpu_seconds=1.0),
        Round(SERVICE, 1, 1, load(500, non_2xx=2)),
        Round(BASELINE, 1, 1, load(1000)),
        Round(SERVICE, 1, 2, load(700, p99=9.0)),
        Round(BASELINE, 1, 2, load(1000)),
    ]
    (summary,) = summarize(rounds)
    assert summary.service_rps == 600 and summary.baseline_rps == 1000
    assert summary.ratio == pytest.approx(0.6)
    assert summary.service_p99_ms == 5.0
    assert summary.service_non_2xx == 2 and summary.baseline_non_2xx == 0
    assert summary.service_cpu_us == pytest.approx(200)
    table = summary_table([summary]).splitlines()
    assert len(table) == 3 and table[1].startswith("|--")
    assert " 0.60 |" in table[2]
    assert len(rounds_table(rounds).splitlines()) == 2 + len(rounds)
    assert targets_line([summary]) == (
        "Targets at 1 worker: ratio >= 0.6: 0.60, met; service p99 <= 20 ms: 5.0 ms, met; "
        "zero non-2xx: 2, NOT met."
    )


def test_python_load_generator_helpers() -> None:
    request = request_bytes("h:1", "/p", '{"a":1}')
    assert request.endswith(b'\r\n\r\n{"a":1}') and b"Content-Length: 7\r\n" in request
    assert parse_head(b"HTTP/1.1 429 Too Many\r\ncontent-length: 12\r\nx: y\r\n\r\n") == (429, 12)
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.99) == 4.0
    assert percentile([], 0.5) == 0.0


def test_profile_buckets_take_the_innermost_specific_frame() -> None:
    outer = [
        "run (asyncio)",
        "Driver.post (bench/asgi.py:1)",
        "RequestLog.__call__ (service/middleware.py:3)",
    ]
    log = [*outer, "Logger.info (logging/__init__.py:1)"]
    sign = [*outer, "TokenIssuer.mint_customer (service/tokens.py:1)", "_ECDSASigner.__call__ (x)"]
    der = [*sign, "der_to_raw_signature (jwt/utils.py:2)"]
    routing = [*outer, "Route.matches (starlette/routing.py:1)"]
    assert classify(log) == "request log line (logging)"
    assert classify(sign) == "ECDSA P-256 sign (OpenSSL)"
    assert classify(der) == "JWS signature DER -> R||S (PyJWT)"
    assert classify(routing) == "Starlette (routing, Request, exceptions)"
    assert classify(outer[:2]) == OTHER
    counts = parse_collapsed([f"{';'.join(sign)} 3", f"{';'.join(log)} 1", "setup (x) 99"])
    assert counts == Counter({"ECDSA P-256 sign (OpenSSL)": 3, "request log line (logging)": 1})
    assert "| ECDSA P-256 sign (OpenSSL) | 75.0 | 75.0% |" in breakdown_table(counts, 100.0)


def test_memory_helpers() -> None:
    assert len({client_address(n) for n in range(70_000)}) == 70_000
    assert checkpoints_for(1_000_000)[0] == 100_000 and checkpoints_for(1_000_000)[-1] == 1_000_000
    assert checkpoints_for(3) == [1, 2, 3]


def test_driver_mints_for_a_bench_body_through_the_real_app(tmp_path: Path) -> None:
    space = workspace.create(tmp_path)
    driver = Driver(service_app(space))
    (good,) = workspace.customer_bodies(space.secret, 10**12, 1)
    bad = good[:-3] + '00"}'
    assert asyncio.run(driver.post(good.encode())) == 200
    assert asyncio.run(driver.post(bad.encode())) == 401


# The fast paths this benchmark led to must not change a byte.

HEADERS = {"typ": ACCESS_TOKEN_TYP, "kid": "kid-1"}
CLAIMS: dict[str, Any] = {
    "iss": "https://tokens.example.com",
    "sub": "42",
    "aud": "https://api.example.com",
    "shop": "acme.myshopify.com",
    "scope": "customer é",
    "iat": 1_800_000_000,
    "nbf": 1_800_000_000,
    "exp": 1_800_000_900,
    "jti": "abc",
}


@pytest.mark.parametrize("alg", ["EdDSA", "RS256"])
def test_compact_signer_matches_jwt_encode_byte_for_byte(alg: str) -> None:
    # Ed25519 and RSASSA-PKCS1-v1_5 signatures are deterministic.
    key = keys.generate(alg)
    expected = jwt.encode(CLAIMS, key.private_key, algorithm=alg, headers=HEADERS)
    assert CompactSigner(key, HEADERS).sign(CLAIMS) == expected


def test_compact_signer_es256_matches_jwt_encode_and_verifies(es256_key: keys.SigningKey) -> None:
    token = CompactSigner(es256_key, HEADERS).sign(CLAIMS)
    expected = jwt.encode(CLAIMS, es256_key.private_key, algorithm="ES256", headers=HEADERS)
    assert token.split(".")[:2] == expected.split(".")[:2]
    assert len(jwt.utils.base64url_decode(token.split(".")[2])) == 64  # RFC 7518 §3.4: R || S
    decoded = jwt.decode(
        token,
        es256_key.public_key,
        algorithms=["ES256"],
        audience=CLAIMS["aud"],
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert decoded == CLAIMS


@pytest.mark.parametrize(
    "content",
    [
        {"access_token": "a.b.c", "expires_in": 900, "identifier": "customer"},
        {"error": "x", "error_description": 'quote " backslash \\ newline \n tab \t é ☃ \u2028'},
        {"keys": [{"kty": "EC", "crv": "P-256"}], "nested": [None, True, False, -1, 2**63 - 1]},
        {"big": 2**64, "float": 1.5},
        {1: "non-str key"},
    ],
)
def test_json_response_bytes_are_the_standard_librarys(content: Any) -> None:
    expected = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert JSON(content).body == expected
