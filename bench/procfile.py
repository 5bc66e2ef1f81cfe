"""``python -m bench procfile``: the service under the Procfile's server and under the
previous one (uvicorn with httptools), alternating rounds in one run.

Both run exactly as a platform runs them: the command line through ``bash -c``
with ``PORT`` set (``--host 0.0.0.0`` becomes 127.0.0.1, so nothing listens
outside this machine), one worker each, the same config, key and load.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import servers, workspace
from bench.throughput import FIRST_GUESS_RPS, LoadGenerator, Options, Runner, machine
from bench.workspace import ENDPOINT

REPO = Path(__file__).resolve().parent.parent
#: The Procfile's command before the HTTP edge was hardened.
PREVIOUS = (
    "uvicorn service.asgi:app --host 0.0.0.0 --port ${PORT:-8000} --proxy-headers "
    "--no-access-log --no-server-header"
)


def current() -> str:
    (web,) = [
        line.split(":", 1)[1].strip()
        for line in (REPO / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    ]
    return web


def _start(name: str, command: str, space: workspace.Workspace) -> servers.Server:
    port = servers.free_port()
    env = {
        **space.env(),
        "PORT": str(port),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    log = space.root / f"{name}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", "exec " + command.replace("--host 0.0.0.0", "--host 127.0.0.1")],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = servers.Server(name, 1, f"http://127.0.0.1:{port}", process, log)
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2):
                return server
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log.read_text()}") from None
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{name} did not start:\n{log.read_text()}")


def run(options: Options) -> str:
    """Alternate rounds on both commands and return a markdown table."""
    commands = {"Procfile (granian)": current(), "previous (uvicorn)": PREVIOUS}
    with tempfile.TemporaryDirectory(prefix="shapestoken-bench-") as tmp:
        space = workspace.create(Path(tmp))
        runner = Runner(options, space)
        started = {name: _start(name, command, space) for name, command in commands.items()}
        try:
            rates = {
                name: runner._load(server, FIRST_GUESS_RPS, options.warmup_seconds).load.rps
                for name, server in started.items()
            }
            results: dict[str, list[tuple[float, float, float, int, float | None]]] = {}
            for _ in range(options.rounds):
                for name, server in started.items():
                    done = runner._load(server, rates[name], options.seconds)
                    load = done.load
                    errors = load.non_2xx + load.socket_errors
                    results.setdefault(name, []).append(
                        (load.rps, load.p50_ms, load.p99_ms, errors, done.cpu_us_per_request)
                    )
                    print(f"  {name}: {load.rps:,.0f} req/s", file=sys.stderr, flush=True)
        finally:
            for server in started.values():
                server.stop()
    lines = [
        f"Machine: {machine()}. {LoadGenerator(options).name}, {options.threads} threads, "
        f"{options.connections} connections, POST {ENDPOINT} with a new signed customer each; "
        f"{options.rounds} alternating rounds of {options.seconds:g} s, medians.",
        "",
        "| server | req/s | p50 ms | p99 ms | errors | server CPU µs/req |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for name, rows in results.items():
        cpus = [row[4] for row in rows if row[4] is not None]
        cpu = f"{statistics.median(cpus):.0f}" if cpus else "-"
        lines.append(
            f"| {name} | {statistics.median(r[0] for r in rows):,.0f} "
            f"| {statistics.median(r[1] for r in rows):.1f} "
            f"| {statistics.median(r[2] for r in rows):.1f} | {sum(r[3] for r in rows)} | {cpu} |"
        )
    return "\n".join(lines)
