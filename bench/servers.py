"""Real uvicorn processes for the service and the baseline, with identical flags."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
APPS = {"service": "service.asgi:app", "baseline": "bench.baseline:app"}


def uvicorn_impl() -> tuple[str, str]:
    """The fastest event loop and HTTP parser installed; both servers use the same."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, http


def uvicorn_args(app: str, port: int, workers: int) -> list[str]:
    loop, http = uvicorn_impl()
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--app-dir",
        str(REPO),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        loop,
        "--http",
        http,
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    workers: int
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the server and its worker processes so far."""
        return tree_cpu_seconds(self.process.pid)

    def rss_bytes(self) -> int | None:
        """Resident memory of the server and its workers."""
        pids = process_tree(self.process.pid)
        sizes = [rss_of(pid) for pid in pids]
        known = [size for size in sizes if size is not None]
        return sum(known) if known else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(name: str, workspace: Workspace, *, workers: int, timeout: float = 30.0) -> Server:
    """Start ``uvicorn`` on ``APPS[name]`` and wait until it answers ``/healthz``."""
    port = free_port()
    log = workspace.root / f"{name}-{workers}w-{port}.log"
    with log.open("wb") as out:
        # The service writes one log line per request to stderr, as in production.
        process = subprocess.Popen(
            uvicorn_args(APPS[name], port, workers),
            env=workspace.env(),
            cwd=workspace.root,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, workers, f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return server
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name} did not answer within {timeout}s:\n{log.read_text()}")
        time.sleep(0.1)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return text.rpartition(")")[2].split()


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants (Linux ``/proc``; just ``root`` elsewhere)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            parents[int(entry.name)] = int(fields[1])
    tree = [root]
    for pid in tree:
        tree.extend(child for child, parent in parents.items() if parent == pid)
    return tree


def tree_cpu_seconds(root: int) -> float | None:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields is None:
            if pid == root:
                return None
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def rss_of(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
