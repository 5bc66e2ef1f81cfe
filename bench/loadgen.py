"""The fallback load generator, for machines without wrk.

Processes (one per wrk thread) run asyncio keep-alive connections over raw
sockets: each connection sends HTTP/1.1 POSTs back to back, one in flight at
a time, like wrk. Connection ``k`` of ``n`` sends body lines ``k, k+n, ...``,
so customers never repeat across connections. It costs far more CPU per
request than wrk, and that CPU comes out of the server's share of the machine:
its numbers are a floor, not the ceiling wrk shows.
"""

from __future__ import annotations

import asyncio
import importlib.util
import resource
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.load import LoadResult

#: Seconds a request may take before it counts as a timeout and the connection is replaced.
TIMEOUT = 10.0


@dataclass
class _Stats:
    latencies: list[float] = field(default_factory=list)
    non_2xx: int = 0
    socket_errors: int = 0
    wraps: int = 0


@dataclass(frozen=True)
class _WorkerResult:
    latencies: list[float]
    non_2xx: int
    socket_errors: int
    wraps: int
    seconds: float
    cpu_seconds: float


def request_bytes(host: str, path: str, body: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode("ascii")


def parse_head(head: bytes) -> tuple[int, int]:
    """Status code and Content-Length of a response head (through the blank line)."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return status, length


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


async def _connection(
    host: str, port: int, path: str, bodies: list[str], deadline: float, stats: _Stats
) -> None:
    requests = [request_bytes(f"{host}:{port}", path, body) for body in bodies]
    index = 0
    while time.perf_counter() < deadline:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            stats.socket_errors += 1
            await asyncio.sleep(0.01)
            continue
        try:
            while time.perf_counter() < deadline:
                if index == len(requests):
                    index = 0
                    stats.wraps += 1
                start = time.perf_counter()
                writer.write(requests[index])
                index += 1
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
                status, length = parse_head(head)
                await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
                stats.latencies.append(time.perf_counter() - start)
                if not 200 <= status < 300:
                    stats.non_2xx += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            stats.socket_errors += 1
        finally:
            writer.close()


async def _drive(
    host: str, port: int, path: str, slices: list[list[str]], seconds: float
) -> _Stats:
    stats = _Stats()
    deadline = time.perf_counter() + seconds
    await asyncio.gather(
        *(_connection(host, port, path, bodies, deadline, stats) for bodies in slices)
    )
    return stats


def _runner() -> Callable[[Coroutine[Any, Any, _Stats]], _Stats]:
    if importlib.util.find_spec("uvloop"):
        import uvloop

        def run(coroutine: Coroutine[Any, Any, _Stats]) -> _Stats:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(coroutine)

        return run
    return asyncio.run


def _worker(
    url: str, bodies: str, first: int, count: int, total: int, seconds: float
) -> _WorkerResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    slices: list[list[str]] = [[] for _ in range(count)]
    with open(bodies, encoding="ascii") as handle:
        for number, line in enumerate(handle):
            connection = number % total - first
            if 0 <= connection < count:
                slices[connection].append(line.rstrip("\n"))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    stats = _runner()(_drive(host, port, parts.path, slices, seconds))
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return _WorkerResult(
        stats.latencies, stats.non_2xx, stats.socket_errors, stats.wraps, elapsed, cpu
    )


def run_python(
    url: str, bodies: Path, *, processes: int, connections: int, seconds: float
) -> LoadResult:
    """Like ``run_wrk``: ``connections`` spread over ``processes`` for ``seconds``."""
    shares = [connections // processes + (i < connections % processes) for i in range(processes)]
    firsts = [sum(shares[:i]) for i in range(processes)]
    with ProcessPoolExecutor(processes) as pool:
        futures = [
            pool.submit(_worker, url, str(bodies), first, share, connections, seconds)
            for first, share in zip(firsts, shares, strict=True)
            if share
        ]
        results = [future.result() for future in futures]
    latencies = sorted(value for result in results for value in result.latencies)
    return LoadResult(
        requests=len(latencies),
        seconds=max(result.seconds for result in results),
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        non_2xx=sum(result.non_2xx for result in results),
        socket_errors=sum(result.socket_errors for result in results),
        wraps=sum(result.wraps for result in results),
        loadgen_cpu_seconds=sum(result.cpu_seconds for result in results),
    )
