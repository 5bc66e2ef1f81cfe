"""``python -m bench``: every app under the same load, in alternating rounds, in one run.

The servers are started by the tests' own helpers (:mod:`tests.servers`,
:mod:`tests.redis_server`): the uvicorn apps with identical flags, the service
under the Procfile's command as a platform runs it, Redis on a free port.
"""

from __future__ import annotations

import math
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import wrk
from bench.report import Round
from bench.workload import (
    ENDPOINT,
    FIRST_CUSTOMER,
    SECRET,
    SECRET_ENV,
    config_text,
    write_bodies,
)
from service.signing.keyfiles import write_new_key
from tests.redis_server import RedisServer
from tests.servers import Server, cpu_seconds, free_port, start_procfile, start_server

#: Every app, in the order of each round. Ratios pair rounds of the same index.
APPS = ("service", "baseline", "naive", "redis", "granian")
#: Requests per second to prepare bodies for before the warm-up has measured a rate.
FIRST_GUESS_RPS = 25_000
#: Bodies beyond the warm-up's rate, so that no thread runs out mid-round.
BODY_MARGIN = 2.5


@dataclass(frozen=True)
class Options:
    workers: tuple[int, ...] = (1,)
    apps: tuple[str, ...] = APPS
    rounds: int = 3
    seconds: float = 8.0
    warmup_seconds: float = 2.0
    threads: int = 2
    connections: int = 32


def start(app: str, directory: Path, *, workers: int, redis_url: str) -> Server:
    """Start ``app`` (one of :data:`APPS`) in its own ``directory`` and wait until it answers."""
    directory.mkdir(parents=True)
    env = {SECRET_ENV: SECRET}
    if app == "baseline":
        return start_server(
            directory, "", env=env, generate_key=False, workers=workers, app="bench.baseline:app"
        )
    if app == "naive":
        key = write_new_key(directory / "keys", "ES256")
        env |= {"NAIVE_KEY_FILE": str(directory / "keys" / key.name), "NAIVE_KID": key.kid}
        return start_server(
            directory, "", env=env, generate_key=False, workers=workers, app="bench.naive:app"
        )
    if app == "granian":
        env |= {"WEB_CONCURRENCY": str(workers)}
        return start_procfile(directory, config_text(), port=free_port(), env=env)
    state = redis_url if app == "redis" else "memory"
    return start_server(directory, config_text(state=state), env=env, workers=workers)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Runner:
    def __init__(self, options: Options, root: Path) -> None:
        self.options = options
        self.root = root
        self.next_customer = FIRST_CUSTOMER
        self.rounds: list[Round] = []

    def load(
        self, server: Server, redis: RedisServer | None, rate: float, seconds: float
    ) -> tuple[wrk.LoadResult, float, float | None]:
        """One wrk run with customers no earlier request used, and the CPU µs/request
        the server (and Redis, when there is one) spent on it."""
        count = max(5_000, math.ceil(rate * seconds * BODY_MARGIN))
        bodies = write_bodies(self.root / "bodies.txt", self.next_customer, count)
        self.next_customer += count
        pids = [server.process.pid] + ([redis.process.pid] if redis and redis.process else [])
        before = [cpu_seconds(pid) for pid in pids]
        result = wrk.run(
            server.url + ENDPOINT,
            bodies,
            seconds=seconds,
            threads=self.options.threads,
            connections=self.options.connections,
        )
        used = [
            (cpu_seconds(pid) - start) / max(result.requests, 1) * 1e6
            for pid, start in zip(pids, before, strict=True)
        ]
        return result, used[0], used[1] if len(used) > 1 else None

    def run_workers(self, workers: int) -> None:
        options = self.options
        root = self.root / f"workers-{workers}"
        with ExitStack() as stack:
            redis = None
            if "redis" in options.apps:
                redis = RedisServer(root / "redis-server").start()
                stack.callback(redis.stop)
            servers = {}
            for app in options.apps:
                url = redis.url if redis else ""
                servers[app] = start(app, root / app, workers=workers, redis_url=url)
                stack.enter_context(_stopping(servers[app], app))
            rates = {}
            for app, server in servers.items():
                warm, _, _ = self.load(server, redis, FIRST_GUESS_RPS, options.warmup_seconds)
                rates[app] = warm.rps
                _progress(f"  warm-up {app} x{workers}: {warm.rps:,.0f} req/s")
            for index in range(options.rounds):
                for app, server in servers.items():  # A B C A B C: drift hits every app alike
                    result, cpu, redis_cpu = self.load(server, redis, rates[app], options.seconds)
                    done = Round(
                        app, workers, index, result, cpu, redis_cpu if app == "redis" else None
                    )
                    self.rounds.append(done)
                    _progress(
                        f"  round {index + 1} {app} x{workers}: {result.rps:,.0f} req/s, "
                        f"p99 {result.p99_ms:.1f} ms, non-2xx {result.non_2xx}, "
                        f"CPU {cpu:.0f} µs/req"
                    )


@contextmanager
def _stopping(server: Server, app: str) -> Iterator[Server]:
    """Stop ``server`` on the way out, and say so if it logged an exception."""
    try:
        yield server
    finally:
        log = server.stop()
        if "Traceback" in log:
            tail = "\n".join(log[log.index("Traceback") :].splitlines()[:30])
            _progress(f"  {app} logged an exception:\n{tail}")


def run(options: Options) -> list[Round]:
    """Every round of every app at every worker count."""
    wrk.ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="shapestoken-bench-") as tmp:
        runner = Runner(options, Path(tmp))
        for workers in options.workers:
            runner.run_workers(workers)
    return runner.rounds
