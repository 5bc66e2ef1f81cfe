"""What binding a token to a DPoP key costs a mint, in-process: ``python -m bench.dpop``.

The real app of ``bench.breakdown`` with its shop at ``dpop = "optional"`` mints for a
new signed customer on every request, called with raw ASGI messages (no server, no
socket), in one run: without a ``DPoP`` header (a bearer token), then with a fresh
proof each (a bound token). The difference is the proof's checks (its ES256
signature verification, claims, thumbprint), the ``jti`` mark in the state and the
``cnf`` claim. Proofs are signed before the clock starts: that is the browser's work.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.types import ASGIApp, Message

from bench.breakdown import ISSUER, PATH, Body, Mints, request_scope, service_app


class Proofs:
    """One client's DPoP key, signing a proof (RFC 9449 §4.2) for each mint."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        jwk: dict[str, str] = ECAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        self._header = {"typ": "dpop+jwt", "jwk": {k: jwk[k] for k in ("kty", "crv", "x", "y")}}

    def make(self, count: int) -> list[bytes]:
        now = int(time.time())
        claims: dict[str, Any] = {"htm": "POST", "htu": ISSUER + PATH, "iat": now}
        return [
            jwt.encode(
                {**claims, "jti": secrets.token_urlsafe(16)},
                self._key,
                algorithm="ES256",
                headers=self._header,
            ).encode()
            for _ in range(count)
        ]


async def cpu_per_mint(app: ASGIApp, mints: Mints, proofs: list[bytes] | None, count: int) -> float:
    """CPU µs per mint for ``count`` new customers, each with its proof if ``proofs``."""
    bodies = mints.bodies(count)
    answers: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answers.append(message["status"])

    scopes = []
    for i, body in enumerate(bodies):
        scope = request_scope(body)
        if proofs is not None:
            scope["headers"] = [*scope["headers"], (b"dpop", proofs[i])]
        scopes.append(scope)
    start = time.process_time()
    for scope, body in zip(scopes, bodies, strict=True):
        await app(scope, Body(body), send)
    spent = time.process_time() - start
    if set(answers) != {200}:
        raise RuntimeError(f"the app answered {sorted(set(answers))}, not only 200")
    return spent / count * 1e6


async def measure(requests: int, rounds: int) -> str:
    secret = secrets.token_hex(32)
    mints = Mints(secret)
    client = Proofs()
    with tempfile.TemporaryDirectory(prefix="shapestoken-dpop-") as tmp:
        app = service_app(Path(tmp), secret, dpop="optional")
        # Warm-up: caches, the signer, the limiters, the proof checks.
        await cpu_per_mint(app, mints, None, 2_000)
        await cpu_per_mint(app, mints, client.make(2_000), 2_000)
        bearer, bound = [], []
        # Interleaved, so a slower moment of the machine costs both alike.
        for _ in range(rounds):
            bearer.append(await cpu_per_mint(app, mints, None, requests))
            # Signed just before their round: well within the proofs' 60 s window.
            bound.append(await cpu_per_mint(app, mints, client.make(requests), requests))
    plain, dpop = min(bearer), min(bound)
    return "\n".join(
        [
            f"In-process CPU per mint, best of {rounds} x {requests:,} requests "
            "(each a new customer), in one run:",
            "",
            "| token | µs per mint |",
            "|---|--:|",
            f"| bearer (no DPoP header) | {plain:.1f} |",
            f"| DPoP-bound (a fresh ES256 proof each) | {dpop:.1f} |",
            f"| **DPoP's cost** | **{dpop - plain:.1f}** ({dpop / plain:.2f}x) |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dpop", description=__doc__)
    parser.add_argument("--requests", type=int, default=5_000, help="mints per round (5000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure, best kept (3)")
    args = parser.parse_args(argv)
    gc.collect()
    print(asyncio.run(measure(args.requests, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
