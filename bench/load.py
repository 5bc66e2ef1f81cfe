"""Load generation with wrk (and its result), or the Python fallback when wrk is missing."""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import shutil
import subprocess
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("post.lua")
RESULT_PREFIX = "BENCH_RESULT "


@dataclasses.dataclass(frozen=True)
class LoadResult:
    """What one load run measured, whichever generator made it."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    #: Connect/read/write errors and timeouts: requests that got no response at all.
    socket_errors: int
    #: Times a connection ran out of fresh customer bodies and started over.
    wraps: int = 0
    #: CPU the load generator itself used (it shares the machine with the server).
    loadgen_cpu_seconds: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def parse_wrk_output(text: str) -> LoadResult:
    """The result line ``post.lua``'s ``done()`` prints, as a :class:`LoadResult`."""
    for line in text.splitlines():
        if line.startswith(RESULT_PREFIX):
            data = json.loads(line[len(RESULT_PREFIX) :])
            break
    else:
        raise ValueError(f"no {RESULT_PREFIX.strip()} line in wrk output:\n{text}")
    socket_errors = sum(
        int(data[key]) for key in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return LoadResult(
        requests=int(data["requests"]),
        seconds=int(data["duration_us"]) / 1e6,
        p50_ms=int(data["p50_us"]) / 1000,
        p99_ms=int(data["p99_us"]) / 1000,
        non_2xx=int(data["non_2xx"]),
        socket_errors=socket_errors,
        wraps=int(data["wraps"]),
    )


def find_wrk(*, install: bool = True) -> str | None:
    """Path to ``wrk``; installs Debian's package first when missing and we are root."""
    found = shutil.which("wrk")
    if found or not install:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            subprocess.run(command, check=True, env=env, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return shutil.which("wrk")


def run_wrk(
    wrk: str,
    url: str,
    bodies: Path,
    *,
    threads: int,
    connections: int,
    seconds: float,
) -> LoadResult:
    """One wrk run against ``url`` with the bodies in ``bodies`` (one per line)."""
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(bodies),
        str(threads),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}):\n{completed.stderr}")
    result = parse_wrk_output(completed.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return dataclasses.replace(result, loadgen_cpu_seconds=cpu)
