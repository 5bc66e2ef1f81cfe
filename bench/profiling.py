"""Where a mint request's microseconds go.

A child process builds the real app (``create_app`` on a real config, request
logging configured as ``shapestoken serve`` does, to a file), drives it with raw
ASGI calls and times it with no profiler attached; a second run is sampled by
py-spy from outside. Each sample inside a request is put in one bucket
by the frames on its stack, and a bucket's share of the samples times the
measured microseconds per request is its cost. The same driver times the bare
baseline app: that is what Starlette itself costs per request.

Not included: uvicorn's HTTP parsing and the socket work, which both servers
share (the throughput table's server CPU per request includes them).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import workspace
from bench.asgi import Driver, body_batches, service_app
from bench.workspace import FIRST_CUSTOMER, Workspace

#: (bucket, frame markers). Walking a sample's stack from the innermost frame
#: out, the first frame containing a marker decides its bucket; the generic
#: buckets below are only used for samples no specific marker claims.
SPECIFIC: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("JWS signature DER -> R||S (PyJWT)", ("der_to_raw_signature",)),
    (
        "ECDSA P-256 sign (OpenSSL)",
        ("_ECDSASigner", "ECAlgorithm.sign", "OKPAlgorithm.sign", "RSAAlgorithm.sign"),
    ),
    (
        "JWT header/payload JSON + base64url",
        ("CompactSigner.sign", "PyJWS.encode", "PyJWT.encode", "TokenIssuer._sign"),
    ),
    ("claims + jti", ("TokenIssuer.mint_customer", "new_jti")),
    ("request log line (logging)", ("logging/", "service/logs.py")),
    ("rate limits (2 x TTLCache)", ("service/ratelimit.py",)),
    ("HMAC-SHA256 verify", ("CustomerSigner.verify",)),
    (
        "body read + JSON parse + checks",
        (
            "read_fields",
            "read_body",
            "check_fields",
            "parse_customer_id",
            "media_type",
            "Endpoints._timestamp",
        ),
    ),
    ("CORS origin check", ("CORSPolicy",)),
    (
        "token body + JSON response",
        ("token_body", "IssuedToken.expiry", "JSON.render", "JSONResponse", "Response.__init__"),
    ),
    ("response send (through middleware)", ("Response.__call__",)),
)
GENERIC: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("RequestLog middleware (request id, header)", ("service/middleware.py",)),
    ("endpoint glue (routes.py)", ("service/routes.py",)),
    ("Starlette (routing, Request, exceptions)", ("starlette/",)),
)
OTHER = "event loop, ASGI driver"
#: Frames that mark a sample as inside a request (the sampled run drives only the service).
REQUEST_FRAME = "Driver.post"


def classify(frames: Sequence[str]) -> str:
    """The bucket of one sample; ``frames`` run from the outermost to the innermost."""
    for tier in (SPECIFIC, GENERIC):
        for frame in reversed(frames):
            for bucket, markers in tier:
                if any(marker in frame for marker in markers):
                    return bucket
    return OTHER


def parse_collapsed(lines: Iterable[str]) -> Counter[str]:
    """Bucket sample counts from py-spy's ``--format raw`` (collapsed stacks)."""
    counts: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if not any(REQUEST_FRAME in frame for frame in frames):
            continue
        counts[classify(frames)] += int(count)
    return counts


@dataclass(frozen=True)
class Timing:
    service_us: float
    baseline_us: float
    requests: int


def breakdown_table(counts: Counter[str], per_request_us: float) -> str:
    total = sum(counts.values())
    lines = ["| where | µs/request | share |", "|---|---:|---:|"]
    if not total:
        return "\n".join(lines)
    for bucket, count in counts.most_common():
        share = count / total
        lines.append(f"| {bucket} | {share * per_request_us:.1f} | {share * 100:.1f}% |")
    lines.append(f"| **total (in-process)** | **{per_request_us:.1f}** | 100% |")
    return "\n".join(lines)


async def _time_app(driver: Driver, space: Workspace, first: int, count: int) -> float:
    batches = list(body_batches(space, first, count))
    # CPU time, not wall time: other work on the machine does not count against us.
    start = time.process_time()
    for batch in batches:
        for body in batch:
            status = await driver.post(body)
            if status != 200:
                raise RuntimeError(f"the app answered {status}")
    return (time.process_time() - start) / count * 1e6


def child(config: Path, requests: int, result: Path, mode: str) -> None:
    """The child process: ``time`` the service and then the baseline, or ``sample``
    (under py-spy) the service alone."""
    from bench.baseline import app as baseline_app
    from service import logs

    space = Workspace(config.parent, config, os.environ[workspace.SECRET_ENV])
    app = service_app(space)
    # As `shapestoken serve` and service.asgi do: one line per request, here to a file.
    logs.configure("text")
    handler = logs.log.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(config.parent / "requests.log", "w", encoding="utf-8"))
    service = Driver(app)
    asyncio.run(_time_app(service, space, FIRST_CUSTOMER, 1_000))  # warm-up
    service_us = asyncio.run(_time_app(service, space, FIRST_CUSTOMER + 1_000, requests))
    if mode == "sample":
        return
    baseline = Driver(baseline_app)
    asyncio.run(_time_app(baseline, space, FIRST_CUSTOMER, 1_000))
    baseline_us = asyncio.run(_time_app(baseline, space, FIRST_CUSTOMER, requests))
    result.write_text(
        json.dumps({"service_us": service_us, "baseline_us": baseline_us, "requests": requests})
    )


def find_py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def run(requests: int, *, flamegraph: str | None = None) -> str:
    py_spy = find_py_spy()
    with tempfile.TemporaryDirectory(prefix="shapestoken-bench-") as tmp:
        space = workspace.create(Path(tmp))
        result = space.root / "timing.json"
        samples = space.root / "samples.txt"
        command = [
            sys.executable,
            "-m",
            "bench.profiling",
            str(space.config),
            str(requests),
            str(result),
        ]
        env = space.env()
        # Timed without a profiler attached; then sampled for the shares.
        subprocess.run([*command, "time"], env=env, check=True)
        timing = Timing(**json.loads(result.read_text()))
        command.append("sample")
        if py_spy is not None:
            spy = [py_spy, "record", "--rate", "1000"]
            subprocess.run(
                [*spy, "--format", "raw", "--output", str(samples), "--", *command],
                env=env,
                check=True,
                capture_output=True,
            )
            if flamegraph:
                subprocess.run(
                    [*spy, "--format", "flamegraph", "--output", flamegraph, "--", *command],
                    env=env,
                    check=True,
                    capture_output=True,
                )
        counts = parse_collapsed(samples.read_text().splitlines()) if py_spy else Counter()
    lines = [
        f"In-process, {timing.requests:,} requests, each a new customer: service "
        f"{timing.service_us:.0f} CPU µs/request, bare Starlette baseline "
        f"{timing.baseline_us:.0f} CPU µs/request (no server, no sockets).",
        "",
    ]
    if py_spy is None:
        lines.append("py-spy is not installed (pip install -e '.[bench]'): no breakdown.")
    else:
        lines.append(breakdown_table(counts, timing.service_us))
    return "\n".join(lines)


if __name__ == "__main__":
    child(Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
