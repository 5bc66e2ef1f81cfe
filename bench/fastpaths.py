"""What each of the service's own fast paths saves over the library it stands in for.

``python -m bench.fastpaths``: in one process and one run, each fast path and
the library call it replaces do the same work, alternately, and each figure is
the best of several rounds (CPU time per call, in µs):

- the JWS signer (``service.signing.jws.CompactSigner``) against ``jwt.encode``
  with the same key, header and claims;
- a request line (``service.observability.accesslog``) against the same line
  through a ``logging.Logger`` with the service's own formatter;
- the body deadline (``service.support.deadline.Deadline``) against
  ``asyncio.timeout`` around the same ``await``.

A fast path stays only while it saves a part of a mint worth keeping; the docs'
performance page has the figures and the rule. Tests hold each one equal to its
library (tests/signing/test_jws.py, tests/observability/test_accesslog.py,
tests/support/test_deadline.py).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import time
from collections.abc import Callable

import jwt

from service.observability import logs
from service.observability.accesslog import ACCESS, access_log
from service.signing import keys
from service.signing.jws import CompactSigner
from service.signing.tokens import ACCESS_TOKEN_TYP
from service.support.deadline import Deadline


def best(call: Callable[[], object], count: int, rounds: int) -> float:
    """The best round's CPU time per call, in µs."""
    runs = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(count):
            call()
        runs.append((time.process_time() - start) / count * 1e6)
    return min(runs)


def signing(count: int, rounds: int) -> tuple[float, float]:
    key = keys.generate("ES256")
    headers = {"typ": ACCESS_TOKEN_TYP, "kid": key.kid}
    signer = CompactSigner(key, headers)
    claims = {
        "iss": "https://tokens.example.com",
        "sub": "7000000000001",
        "aud": "https://api.example.com",
        "client_id": "bench.myshopify.com",
        "token_use": "customer",
        "shop": "bench.myshopify.com",
        "scope": "customer",
        "iat": 1_800_000_000,
        "nbf": 1_800_000_000,
        "exp": 1_800_000_900,
        "jti": "0123456789abcdef0123456789abcdef",
    }
    ours = best(lambda: signer.sign(claims), count, rounds)
    theirs = best(
        lambda: jwt.encode(claims, key.private_key, algorithm="ES256", headers=headers),
        count,
        rounds,
    )
    return ours, theirs


def request_lines(count: int, rounds: int) -> tuple[float, float]:
    # The service's own set-up, writing to memory: the fast path and logging then
    # write the same line to the same handler's stream.
    logs.configure("text")
    stream = io.StringIO()
    handler = logs.log.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    path = "/v1/shops/bench.myshopify.com/customer-token"
    fields = {
        "method": "POST",
        "path": path,
        "status": 200,
        "duration_ms": 0.42,
        "shop": "bench.myshopify.com",
        "request_id": "0123456789abcdef",
    }

    def through_logging() -> None:
        ACCESS.info("request", extra={"fields": fields})
        stream.seek(0)
        stream.truncate()

    def through_fast_path() -> None:
        access_log.request("POST", path, 200, 0.42, "bench.myshopify.com", "0123456789abcdef")
        stream.seek(0)
        stream.truncate()

    through_fast_path()
    through_logging()
    return best(through_fast_path, count, rounds), best(through_logging, count, rounds)


def deadlines(count: int, rounds: int) -> tuple[float, float]:
    async def ready() -> bytes:
        return b"{}"

    async def with_deadline() -> None:
        for _ in range(count):
            with Deadline(10):
                await ready()

    async def with_timeout() -> None:
        for _ in range(count):
            async with asyncio.timeout(10):
                await ready()

    def timed(body: Callable[[], object]) -> float:
        runs = []
        for _ in range(rounds):
            start = time.process_time()
            asyncio.run(body())  # type: ignore[arg-type]
            runs.append((time.process_time() - start) / count * 1e6)
        return min(runs)

    return timed(with_deadline), timed(with_timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fastpaths", description=__doc__)
    parser.add_argument("--count", type=int, default=20_000, help="calls per round (20000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, best kept (5)")
    args = parser.parse_args(argv)
    rows = [
        ("JWS signer vs `jwt.encode` (ES256)", *signing(args.count, args.rounds)),
        ("request line vs `logging` (text)", *request_lines(args.count, args.rounds)),
        ("body deadline vs `asyncio.timeout`", *deadlines(args.count, args.rounds)),
    ]
    print(f"CPU per call, best of {args.rounds} x {args.count:,} calls:\n")
    print("| fast path | ours, µs | library, µs | saved, µs |")
    print("|---|--:|--:|--:|")
    for name, ours, theirs in rows:
        print(f"| {name} | {ours:.2f} | {theirs:.2f} | {theirs - ours:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
