"""Alternating service/baseline rounds against real uvicorn processes."""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import sys
import tempfile
from pathlib import Path

from bench import servers, workspace
from bench.load import LoadResult, find_wrk, run_wrk
from bench.loadgen import run_python
from bench.report import (
    BASELINE,
    SERVICE,
    Round,
    rounds_table,
    scaling_line,
    summarize,
    targets_line,
)
from bench.report import summary_table as format_summary
from bench.workspace import ENDPOINT, CustomerIds, Workspace

#: Bodies per second of round to prepare before a rate is known (the warm-up).
FIRST_GUESS_RPS = 25_000
#: Extra bodies beyond the warm-up's rate, so no connection runs out mid-round.
BODY_MARGIN = 2.5


@dataclasses.dataclass(frozen=True)
class Options:
    workers: tuple[int, ...] = (1, 2)
    rounds: int = 3
    seconds: float = 8.0
    warmup_seconds: float = 2.0
    connections: int = 32
    threads: int = 2
    loadgen: str = "auto"  # "auto" | "wrk" | "python"

    @classmethod
    def quick(cls) -> Options:
        return cls(rounds=1, seconds=3.0, warmup_seconds=1.0)


class LoadGenerator:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.wrk = None if options.loadgen == "python" else find_wrk()
        if self.wrk is None and options.loadgen == "wrk":
            raise SystemExit("bench: wrk is not installed and could not be installed")
        self.name = "wrk" if self.wrk else "python (bench/loadgen.py)"

    def run(self, url: str, bodies: Path, seconds: float) -> LoadResult:
        options = self.options
        if self.wrk is not None:
            return run_wrk(
                self.wrk,
                url,
                bodies,
                threads=options.threads,
                connections=options.connections,
                seconds=seconds,
            )
        return run_python(
            url,
            bodies,
            processes=options.threads,
            connections=options.connections,
            seconds=seconds,
        )


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpus} CPUs, {model}, Python {platform.python_version()}"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Runner:
    def __init__(self, options: Options, space: Workspace) -> None:
        self.options = options
        self.space = space
        self.loadgen = LoadGenerator(options)
        self.ids = CustomerIds()
        self.rounds: list[Round] = []

    def _bodies(self, name: str, rate: float, seconds: float) -> Path:
        count = max(5_000, math.ceil(rate * seconds * BODY_MARGIN))
        path = self.space.root / f"bodies-{name}.txt"
        return workspace.write_bodies(path, self.space.secret, self.ids.take(count), count)

    def _load(self, server: servers.Server, rate: float, seconds: float) -> Round:
        """One load run with fresh customers; ``index`` is filled in by the caller."""
        bodies = self._bodies(server.name, rate, seconds)
        cpu_before = server.cpu_seconds()
        result = self.loadgen.run(server.url + ENDPOINT, bodies, seconds)
        cpu_after = server.cpu_seconds()
        bodies.unlink()
        cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
        return Round(server.name, server.workers, -1, result, cpu)

    def run_workers(self, workers: int) -> None:
        options = self.options
        started: dict[str, servers.Server] = {}
        try:
            for name in (SERVICE, BASELINE):
                started[name] = servers.start(name, self.space, workers=workers)
            rates = {}
            for name, server in started.items():
                warm = self._load(server, FIRST_GUESS_RPS, options.warmup_seconds)
                rates[name] = warm.load.rps
                _progress(f"  warm-up {name} x{workers}: {warm.load.rps:,.0f} req/s")
            for index in range(options.rounds):
                for name in (SERVICE, BASELINE):  # A B A B: drift hits both alike
                    done = dataclasses.replace(
                        self._load(started[name], rates[name], options.seconds), index=index
                    )
                    self.rounds.append(done)
                    _progress(
                        f"  round {index + 1} {name} x{workers}: {done.load.rps:,.0f} req/s, "
                        f"p99 {done.load.p99_ms:.1f} ms, non-2xx {done.load.non_2xx}"
                    )
        finally:
            for server in started.values():
                server.stop()
            for server in started.values():
                log = server.log.read_text(errors="replace")
                if "Traceback" in log:
                    tail = "\n".join(log[log.index("Traceback") :].splitlines()[:30])
                    _progress(f"  {server.name} logged an exception:\n{tail}")


def run(options: Options) -> str:
    """Run every round and return the markdown report."""
    with tempfile.TemporaryDirectory(prefix="shapestoken-bench-") as tmp:
        space = workspace.create(Path(tmp))
        runner = Runner(options, space)
        loop, http = servers.uvicorn_impl()
        _progress(f"load generator: {runner.loadgen.name}; uvicorn --loop {loop} --http {http}")
        for workers in options.workers:
            runner.run_workers(workers)
        rounds = runner.rounds
        summaries = summarize(rounds)
    lines = [
        f"Machine: {machine()}. Load generator: {runner.loadgen.name}, "
        f"{options.threads} threads, {options.connections} connections, on the same machine.",
        f"Both apps under uvicorn with the same flags (`--workers N --loop {loop} --http {http} "
        "--no-access-log`); "
        f"{options.rounds} alternating rounds of {options.seconds:g} s per app, "
        "medians shown; ratio = median of service/baseline over back-to-back pairs.",
        "",
        format_summary(summaries),
    ]
    for extra in (targets_line(summaries), scaling_line(summaries)):
        if extra:
            lines += ["", extra]
    wraps = sum(s.wraps for s in summaries)
    if wraps:
        lines += ["", f"Warning: connections ran out of fresh customers {wraps} times."]
    lines += ["", "<details><summary>Every round</summary>", "", rounds_table(rounds)]
    lines += ["", "</details>"]
    return "\n".join(lines)
