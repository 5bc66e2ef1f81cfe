"""``python -m bench [options]`` (throughput) and ``python -m bench memory [options]``."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.runner import APPS, Options
from service.errors import ConfigError


def _count(text: str) -> int:
    """A whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    """At least one second: wrk counts whole seconds."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 1 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds >= 1, got {text!r}")
    return value


def _throughput_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Mint throughput of the service against a bare Starlette app and a naive "
        "peer, in memory and on Redis, in alternating wrk rounds. "
        "`python -m bench memory --help` for the memory run.",
    )
    defaults = Options()
    parser.add_argument("--quick", action="store_true", help="one 3 s round per app (~40 s)")
    parser.add_argument("--workers", type=_count, nargs="+", default=list(defaults.workers))
    parser.add_argument("--apps", nargs="+", choices=APPS, default=list(defaults.apps))
    parser.add_argument("--rounds", type=_count, default=defaults.rounds)
    parser.add_argument("--seconds", type=_seconds, default=defaults.seconds, help="per round")
    parser.add_argument("--connections", type=_count, default=defaults.connections)
    return parser


def _memory_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench memory", description="RSS while minting for N new customers."
    )
    parser.add_argument("--customers", type=_count, default=1_000_000)
    parser.add_argument(
        "--max-entries", type=_count, default=100_000, help="rate_limits.max_entries"
    )
    parser.add_argument(
        "--no-freeze", action="store_true", help="skip gc.freeze() after start-up, to compare"
    )
    return parser


def machine() -> str:
    model = platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{len(os.sched_getaffinity(0))} CPUs ({model}), Python {platform.python_version()}"


def preamble(options: Options) -> str:
    return (
        f"Machine: {machine()}. Load: wrk -t{options.threads} -c{options.connections} on the "
        f"same machine, a new signed customer per request; {options.rounds} alternating "
        f"rounds of {options.seconds:g} s per app, medians. The uvicorn apps run with "
        "identical flags (`--workers N --no-access-log --ws none --no-proxy-headers`, uvloop, "
        "httptools); ratios are medians over pairs from the same round."
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["memory"]:
        from bench import memory

        parser = _memory_parser()
        opts = parser.parse_args(args[1:])
        try:
            text = memory.run(
                opts.customers, max_entries=opts.max_entries, freeze=not opts.no_freeze
            )
        except ConfigError as exc:
            parser.error(str(exc))
        print(text)
        return 0

    from bench import report, runner

    parser = _throughput_parser()
    opts = parser.parse_args(args)
    if opts.connections < Options.threads:
        parser.error(f"--connections: at least {Options.threads}, one per wrk thread")
    options = Options(
        workers=tuple(opts.workers),
        apps=tuple(app for app in APPS if app in opts.apps),
        rounds=1 if opts.quick else opts.rounds,
        seconds=3.0 if opts.quick else opts.seconds,
        warmup_seconds=1.0 if opts.quick else Options.warmup_seconds,
        connections=opts.connections,
    )
    print(report.markdown(runner.run(options), preamble(options)))
    return 0
