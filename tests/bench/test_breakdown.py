"""``python -m bench.breakdown``: every part of a mint, adding up to the measured total."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.servers import ROOT

PARTS = [
    "ES256 signature (OpenSSL, and DER to R||S)",
    "JWT claims, jti, JSON, base64url",
    "HMAC-SHA256 check of the id",
    "limits and blocks (one state call)",
    "token response body (JSON)",
    "body read, strict JSON, field checks, CORS, endpoint glue",
    "request line (access log)",
    "metrics (prometheus-client)",
    "middleware: proxy headers, request id, routing, 499s",
]


def test_the_breakdown_names_every_part_and_adds_up() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.breakdown", "--requests", "300", "--rounds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = dict(re.findall(r"^\| (.+?) \| \**(-?[\d.]+)\** \|$", result.stdout, re.MULTILINE))
    assert list(rows) == [*PARTS, "**total**"]
    parts = sum(float(rows[name]) for name in PARTS)
    # Each figure is rounded to 0.1 µs on its own.
    assert abs(parts - float(rows["**total**"])) <= 0.05 * (len(PARTS) + 1)
    assert re.search(r"bare Starlette POST, timed the same way: [\d.]+ µs", result.stdout)
