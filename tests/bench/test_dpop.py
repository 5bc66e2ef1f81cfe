"""``python -m bench.dpop``: a bearer mint and a DPoP-bound mint, measured in one run."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.servers import ROOT


def test_the_dpop_benchmark_measures_both_mints_and_their_difference() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.dpop", "--requests", "200", "--rounds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = dict(re.findall(r"^\| (.+?) \| \**([\d.]+)\** .*\|$", result.stdout, re.MULTILINE))
    bearer = float(rows["bearer (no DPoP header)"])
    bound = float(rows["DPoP-bound (a fresh ES256 proof each)"])
    assert abs(float(rows["**DPoP's cost**"]) - (bound - bearer)) <= 0.15
