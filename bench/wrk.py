"""wrk, the load generator: found or installed (Debian's package), run, and its result read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("post.lua")
RESULT_PREFIX = "BENCH_RESULT "


@dataclass(frozen=True)
class LoadResult:
    """What one wrk run measured."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    #: Responses outside 200-299 (wrk alone counts only >= 400).
    non_2xx: int
    #: Connect/read/write errors and timeouts: requests that got no response at all.
    socket_errors: int
    #: Times a thread ran out of fresh customers and started its list over.
    wraps: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def parse(text: str) -> LoadResult:
    """The result line that ``post.lua``'s ``done()`` prints."""
    for line in text.splitlines():
        if line.startswith(RESULT_PREFIX):
            data = json.loads(line.removeprefix(RESULT_PREFIX))
            break
    else:
        raise ValueError(f"no {RESULT_PREFIX.strip()} line in wrk's output:\n{text}")
    return LoadResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        non_2xx=data["non_2xx"],
        socket_errors=sum(data[key] for key in ("connect", "read", "write", "timeout")),
        wraps=data["wraps"],
    )


def ensure_wrk() -> str:
    """The path of ``wrk``, installed with apt (as root, or through sudo) when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if shutil.which("apt-get") and (not sudo or shutil.which("sudo")):
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            subprocess.run([*sudo, *command], env=env, check=False, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit(
            "bench: wrk is required and could not be installed; "
            "run `sudo apt-get install wrk` (Debian, Ubuntu) or install it from "
            "https://github.com/wg/wrk"
        )
    return found


def run(
    url: str, bodies: Path, *, seconds: float, threads: int = 2, connections: int = 32
) -> LoadResult:
    """One wrk run against ``url``, posting the bodies in ``bodies`` (one per line)."""
    command = [
        ensure_wrk(),
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
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stderr}")
    return parse(done.stdout)
