"""``python -m bench [throughput|memory|profile]``; throughput is the default."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the mint endpoint against a bare Starlette baseline.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    throughput = commands.add_parser(
        "throughput", help="alternating rounds against real uvicorn processes (default)"
    )
    _throughput_options(throughput)

    memory = commands.add_parser("memory", help="RSS before and after minting for N customers")
    memory.add_argument(
        "--customers", type=int, default=1_000_000, help="distinct customers (default 1000000)"
    )
    memory.add_argument(
        "--max-entries",
        type=int,
        default=100_000,
        help="rate_limits.max_entries of the config (default 100000, the service default)",
    )
    memory.add_argument(
        "--no-freeze",
        action="store_true",
        help="skip gc.freeze() after start-up (server processes do it) to compare GC pauses",
    )

    profile = commands.add_parser(
        "profile", help="where a mint request's microseconds go (needs py-spy)"
    )
    profile.add_argument("--requests", type=int, default=30_000, help="requests to drive")
    profile.add_argument("--flamegraph", metavar="SVG", help="also write a py-spy flame graph")

    procfile = commands.add_parser(
        "procfile", help="the Procfile's server against the previous one (uvicorn), one worker"
    )
    procfile.add_argument("--rounds", type=int, default=3, help="rounds per server (default 3)")
    procfile.add_argument("--seconds", type=float, default=8.0, help="seconds per round (8)")
    return parser


def _throughput_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="one short round per app")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=None,
        help="uvicorn --workers values to run (default: 1 2)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds per app (default 3)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per round (8)")
    parser.add_argument("--connections", type=int, default=None, help="connections (32)")
    parser.add_argument("--threads", type=int, default=None, help="wrk threads (2)")
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default=None,
        help="wrk (installed via apt-get when missing and root), or the Python fallback",
    )


def _throughput(args: argparse.Namespace) -> int:
    from bench.throughput import Options, run

    base = Options.quick() if args.quick else Options()
    overrides = {
        "workers": tuple(args.workers) if args.workers else None,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "connections": args.connections,
        "threads": args.threads,
        "loadgen": args.loadgen,
    }
    options = dataclasses.replace(
        base, **{key: value for key, value in overrides.items() if value is not None}
    )
    print(run(options))
    return 0


COMMANDS = ("throughput", "memory", "profile", "procfile")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv.insert(0, "throughput")
    args = _parser().parse_args(argv)
    if args.command == "memory":
        from bench.memory import run as run_memory

        print(run_memory(args.customers, max_entries=args.max_entries, freeze=not args.no_freeze))
        return 0
    if args.command == "procfile":
        from bench.procfile import run as run_procfile
        from bench.throughput import Options

        print(run_procfile(Options(rounds=args.rounds, seconds=args.seconds)))
        return 0
    if args.command == "profile":
        from bench.profiling import run as run_profile

        print(run_profile(args.requests, flamegraph=args.flamegraph))
        return 0
    return _throughput(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
